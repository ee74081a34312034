"""A PROGRAM or INSTANCE message from the CCN, checked to be of the kind the caller runs, and the
volumes both kinds declare turned into `VolumeSpec`s.

Programs and instances share the envelope (owner, resources, volumes): what differs is only what
boots (code + runtime, or a disk), in `program_spec` and `instance_spec`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from alephnet.crn.executors.base import Resources, VolumeKind, VolumeSpec
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.errors import NotAProgram, SupervisorError
from alephnet.protocol.content import InstanceContent, ProgramContent
from alephnet.protocol.content.executable import BaseExecutableContent
from alephnet.protocol.content.volumes import (
    EphemeralVolume,
    ImmutableVolume,
    MachineVolume,
    PersistentVolume,
)

ContentT = TypeVar("ContentT", bound=BaseExecutableContent)
VM_MODELS: dict[str, type[BaseExecutableContent]] = {
    "PROGRAM": ProgramContent,
    "INSTANCE": InstanceContent,
}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


def vm_content(
    vm_hash: str,
    message: dict[str, Any],
    model: type[ContentT],
    wrong_kind: type[SupervisorError] = NotAProgram,
) -> ContentT:
    """The message's content as `model` (ProgramContent or InstanceContent); `wrong_kind`
    (a 400) when the message is of another type or its content is not valid."""
    kind = next(name for name, known in VM_MODELS.items() if known is model)
    if message.get("type") != kind:
        article = "an" if kind == "INSTANCE" else "a"
        raise wrong_kind(f"{vm_hash} is a {message.get('type')} message, not {article} {kind}")
    try:
        return model.model_validate(message.get("content"))
    except ValidationError as error:
        raise wrong_kind(f"{vm_hash} is not a valid {kind}: {error}") from error


def vm_owner(vm_hash: str, message: dict[str, Any]) -> tuple[str, str]:
    """(owner address, message type) of a PROGRAM or INSTANCE: who may control its VM, and
    for which type of delegation in the owner's `security` aggregate."""
    kind = str(message.get("type"))
    model = VM_MODELS.get(kind)
    if model is None:
        raise NotAProgram(f"{vm_hash} is a {kind} message, not a PROGRAM or an INSTANCE")
    return vm_content(vm_hash, message, model).address, kind


def resources_of(content: BaseExecutableContent) -> Resources:
    """What the VM asks for: admission reserves it, the executor enforces it."""
    return Resources(
        vcpus=content.resources.vcpus,
        memory_mib=content.resources.memory,
        seconds=float(content.resources.seconds),
    )


class VolumePreparer:
    """Turns a message's volumes into specs: immutable ones downloaded (in parallel),
    persistent ones in `volumes_dir/<vm_hash>/<name>`, so they outlive the execution and the
    CRN (erasing a VM removes that folder)."""

    def __init__(self, source: CcnSource, volumes_dir: Path) -> None:
        self._source = source
        self._volumes_dir = volumes_dir

    async def volumes(
        self, vm_hash: str, volumes: Sequence[MachineVolume], owner: str
    ) -> tuple[VolumeSpec, ...]:
        return tuple(
            await asyncio.gather(
                *(
                    self._volume(vm_hash, index, volume, owner)
                    for index, volume in enumerate(volumes)
                )
            )
        )

    async def _volume(
        self, vm_hash: str, index: int, volume: MachineVolume, owner: str
    ) -> VolumeSpec:
        if isinstance(volume, ImmutableVolume):
            path = await self._source.store_file(volume.ref, owner, volume.use_latest)
            mount = volume.mount or f"/mnt/volume_{index}"
            return VolumeSpec(mount, VolumeKind.IMMUTABLE, path, read_only=True)
        if isinstance(volume, EphemeralVolume):
            mount = volume.mount or f"/mnt/ephemeral_{index}"
            return VolumeSpec(mount, VolumeKind.EPHEMERAL, None, size_mib=volume.size_mib)
        name = persistent_volume_name(volume, index)
        return VolumeSpec(
            volume.mount or f"/mnt/{name}",
            VolumeKind.PERSISTENT,
            self._volumes_dir / vm_hash / name,
            size_mib=volume.size_mib,
        )


def persistent_volume_name(volume: PersistentVolume, index: int) -> str:
    """A file name from the message's volume name: nothing in it may climb out of the folder."""
    if not volume.name:
        return f"unnamed_volume_{index}"
    return _UNSAFE_NAME.sub("_", volume.name)
