"""A PROGRAM message turned into what an executor runs: an `ExecutionSpec`.

The files it names (code, runtime, immutable volumes) are downloaded in parallel first; a file
that cannot be had makes the whole program unavailable (`ResourceUnavailable`, a 400 as in the
reference). Persistent volumes live in `data_dir/volumes/<vm_hash>/<name>`, so that they
outlive the execution and the CRN.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alephnet.crn.executors.base import (
    CodeSpec,
    ExecutionSpec,
    Resources,
    VolumeKind,
    VolumeSpec,
)
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.errors import NotAProgram
from alephnet.protocol.content import ProgramContent
from alephnet.protocol.content.volumes import (
    EphemeralVolume,
    ImmutableVolume,
    MachineVolume,
    PersistentVolume,
)
from alephnet.protocol.enums import Interface

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class PreparedProgram:
    vm_hash: str
    owner: str
    content: ProgramContent
    spec: ExecutionSpec


class ProgramPreparer:
    """Fetches a program's message and files and builds its spec.

    `needs_runtime`: the micro-VM boots the runtime named by the message; the sandbox runs the
    host's Python runtime whatever the message names, so it does not download it.
    """

    def __init__(self, source: CcnSource, settings: CrnSettings, needs_runtime: bool) -> None:
        self._source = source
        self._settings = settings
        self._needs_runtime = needs_runtime

    async def prepare(self, vm_hash: str) -> PreparedProgram:
        message = await self._source.message(vm_hash)
        content = program_content(vm_hash, message)
        owner = content.address
        code_path, runtime_path, volumes = await asyncio.gather(
            self._source.store_file(content.code.ref, owner, content.code.use_latest),
            self._runtime(content, owner),
            asyncio.gather(
                *(
                    self._volume(vm_hash, index, volume, owner)
                    for index, volume in enumerate(content.volumes)
                )
            ),
        )
        spec = ExecutionSpec(
            vm_hash=vm_hash,
            resources=Resources(
                vcpus=content.resources.vcpus,
                memory_mib=content.resources.memory,
                seconds=float(content.resources.seconds),
            ),
            code=CodeSpec(
                path=code_path,
                encoding=str(content.code.encoding),
                entrypoint=content.code.entrypoint,
                interface=_interface(content),
                args=content.code.args,
            ),
            internet=content.environment.internet,
            variables=dict(content.variables or {}),
            volumes=tuple(volumes),
            runtime_path=runtime_path,
            work_dir=self._settings.executions_dir / vm_hash,
            api_host=self._settings.ccn_url if content.environment.aleph_api else None,
        )
        return PreparedProgram(vm_hash, owner, content, spec)

    async def _runtime(self, content: ProgramContent, owner: str) -> Path | None:
        if not self._needs_runtime:
            return None
        runtime = content.runtime
        return await self._source.store_file(runtime.ref, owner, runtime.use_latest)

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
            self._settings.volumes_dir / vm_hash / name,
            size_mib=volume.size_mib,
        )


def program_content(vm_hash: str, message: dict[str, Any]) -> ProgramContent:
    if message.get("type") != "PROGRAM":
        raise NotAProgram(
            f"{vm_hash} is a {message.get('type')} message: only PROGRAMs run on this node"
        )
    try:
        return ProgramContent.model_validate(message.get("content"))
    except ValidationError as error:
        raise NotAProgram(f"{vm_hash} is not a valid PROGRAM: {error}") from error


def persistent_volume_name(volume: PersistentVolume, index: int) -> str:
    """A file name from the message's volume name: nothing in it may climb out of the folder."""
    if not volume.name:
        return f"unnamed_volume_{index}"
    return _UNSAFE_NAME.sub("_", volume.name)


def _interface(content: ProgramContent) -> str:
    return "asgi" if content.code.effective_interface is Interface.ASGI else "executable"
