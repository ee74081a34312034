"""PROGRAM and INSTANCE: virtual machines, and the versions that replace them.

A VM is accepted only once every file it mounts is on the node, because a compute node asked
to run it fetches those files from here. A VM with `allow_amend` may be replaced by a newer
version (`replaces` = the original's hash); the version with the newest content.time is the one
in force, recorded on the original as `current_version`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.files import get_file, get_message_pin, get_tag
from alephnet.ccn.db.accessors.vms import (
    delete_vm_and_replacements,
    get_vm,
    newest_replacement,
)
from alephnet.ccn.db.models import MessageRow, StoredFileRow, VmRow
from alephnet.ccn.handlers.base import ContentHandler
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.pipeline.permissions import same_address
from alephnet.protocol.content import InstanceContent, ProgramContent
from alephnet.protocol.content.volumes import ImmutableVolume, MachineVolume, PersistentVolume
from alephnet.protocol.errors import (
    PermissionDenied,
    VmAmendNotAllowed,
    VmRefNotFound,
    VmUpdateUpdate,
    VmVolumeNotFound,
    VmVolumeTooSmall,
)

ExecutableContent = ProgramContent | InstanceContent
MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class VolumeRef:
    """A file the VM mounts. `size_mib` is set when the file is the parent of a writable disk
    of that size (an instance's rootfs, a persistent volume): the copy must fit in it."""

    name: str
    ref: str
    use_latest: bool
    size_mib: int | None = None


class VmHandler(ContentHandler):
    checks_files = True

    async def check_dependencies(
        self, session: AsyncSession, incoming: IncomingMessage[ExecutableContent]
    ) -> None:
        content = incoming.content
        files = await _resolve_volumes(session, volume_refs(content))
        _check_disks_hold_their_parents(files)
        if content.replaces is not None:
            await _replaceable_original(session, content.replaces)

    async def check_permissions(
        self, session: AsyncSession, incoming: IncomingMessage[ExecutableContent]
    ) -> None:
        """A replacement is also a write to the original: it must come from the same owner."""
        await super().check_permissions(session, incoming)
        replaces = incoming.content.replaces
        if replaces is None:
            return
        original = await _replaceable_original(session, replaces)
        if not same_address(incoming.owner, original.owner):
            raise PermissionDenied(
                f"a replacement's address {incoming.owner} must be the owner {original.owner} "
                f"of the VM {original.item_hash} it replaces"
            )

    async def process(
        self, session: AsyncSession, incoming: IncomingMessage[ExecutableContent]
    ) -> None:
        content = incoming.content
        session.add(
            VmRow(
                item_hash=incoming.item_hash,
                owner=content.address,
                type=incoming.message.type,
                allow_amend=content.allow_amend,
                replaces=content.replaces,
                current_version=incoming.item_hash,
                content=incoming.content_document(),
                time=content.time,
            )
        )
        if content.replaces is not None:
            await session.flush()
            await _refresh_current_version(session, content.replaces)

    async def forget(self, session: AsyncSession, message: MessageRow) -> None:
        vm = await get_vm(session, message.item_hash)
        if vm is None:
            return
        await delete_vm_and_replacements(session, vm.item_hash)
        if vm.replaces is not None:
            await _refresh_current_version(session, vm.replaces)


def volume_refs(content: ExecutableContent) -> list[VolumeRef]:
    """Every stored file the VM needs: its code, runtime and data, or its root disk's image,
    then its immutable volumes and the images its persistent volumes start from."""
    if isinstance(content, ProgramContent):
        refs = [
            VolumeRef("code", content.code.ref, content.code.use_latest),
            VolumeRef("runtime", content.runtime.ref, content.runtime.use_latest),
        ]
        if content.data is not None:
            refs.append(VolumeRef("data", content.data.ref, bool(content.data.use_latest)))
    else:
        rootfs = content.rootfs
        refs = [VolumeRef("rootfs", rootfs.parent.ref, rootfs.parent.use_latest, rootfs.size_mib)]
    for index, volume in enumerate(content.volumes):
        ref = _machine_volume_ref(volume, f"volumes[{index}]")
        if ref is not None:
            refs.append(ref)
    return refs


def _machine_volume_ref(volume: MachineVolume, position: str) -> VolumeRef | None:
    if isinstance(volume, ImmutableVolume):
        return VolumeRef(volume.mount or position, volume.ref, volume.use_latest)
    if isinstance(volume, PersistentVolume) and volume.parent is not None:
        name = volume.name or volume.mount or position
        return VolumeRef(name, volume.parent.ref, volume.parent.use_latest, volume.size_mib)
    return None


async def _resolve_volumes(
    session: AsyncSession, refs: list[VolumeRef]
) -> list[tuple[VolumeRef, StoredFileRow]]:
    """`use_latest` follows the file tag (the newest update of a STORE); otherwise the ref is a
    STORE message and its own file is the one mounted."""
    resolved: list[tuple[VolumeRef, StoredFileRow]] = []
    missing: list[str] = []
    for volume in refs:
        stored = await _volume_file(session, volume)
        if stored is None:
            missing.append(volume.ref)
        else:
            resolved.append((volume, stored))
    if missing:
        raise VmVolumeNotFound(
            f"volume files not on this node yet: {', '.join(missing)}",
            details={"errors": missing},
        )
    return resolved


async def _volume_file(session: AsyncSession, volume: VolumeRef) -> StoredFileRow | None:
    holder = await (
        get_tag(session, volume.ref) if volume.use_latest else get_message_pin(session, volume.ref)
    )
    return None if holder is None else await get_file(session, holder.file_hash)


def _check_disks_hold_their_parents(files: list[tuple[VolumeRef, StoredFileRow]]) -> None:
    errors = [
        {
            "volume_name": volume.name,
            "parent_ref": volume.ref,
            "parent_file": stored.hash,
            "parent_size": stored.size,
            "volume_size": volume.size_mib * MIB,
        }
        for volume, stored in files
        if volume.size_mib is not None and volume.size_mib * MIB < stored.size
    ]
    if errors:
        names = ", ".join(str(error["volume_name"]) for error in errors)
        raise VmVolumeTooSmall(
            f"volumes smaller than the image they start from: {names}",
            details={"errors": errors},
        )


async def _replaceable_original(session: AsyncSession, target_hash: str) -> VmRow:
    original = await get_vm(session, target_hash)
    if original is None:
        raise VmRefNotFound(f"the replaced VM {target_hash} is not known yet")
    if original.replaces is not None:
        raise VmUpdateUpdate(
            f"{target_hash} itself replaces {original.replaces}: replace the original instead"
        )
    current = await get_vm(session, original.current_version) or original
    if not current.allow_amend:
        raise VmAmendNotAllowed(
            f"the version in force of {target_hash} ({current.item_hash}) does not allow amends"
        )
    return original


async def _refresh_current_version(session: AsyncSession, original_hash: str) -> None:
    """The replacement with the newest content.time is in force, whatever order they came in;
    with none left, the original itself is."""
    original = await get_vm(session, original_hash)
    if original is None:
        return
    latest = await newest_replacement(session, original_hash)
    original.current_version = latest.item_hash if latest else original.item_hash
