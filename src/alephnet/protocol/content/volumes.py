"""Volumes attached to a VM: read-only files from a STORE, scratch space, or persistent disks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from alephnet.protocol.content.base import StrictModel
from alephnet.protocol.enums import VolumePersistence
from alephnet.protocol.item_hash import ItemHash

MAX_PERSISTENT_VOLUME_MIB = 1_953_125  # 2 TB in MiB, the reference's bound.
MAX_EPHEMERAL_VOLUME_MIB = 1000

PersistentSizeMib = Annotated[int, Field(strict=True, ge=1, le=MAX_PERSISTENT_VOLUME_MIB)]


class AbstractVolume(StrictModel):
    comment: str | None = Field(default=None, max_length=256)
    mount: str | None = Field(default=None, max_length=256)


class ImmutableVolume(AbstractVolume):
    ref: ItemHash
    use_latest: bool = True


class EphemeralVolume(AbstractVolume):
    ephemeral: Literal[True]
    size_mib: int = Field(strict=True, ge=1, le=MAX_EPHEMERAL_VOLUME_MIB)


class ParentVolume(StrictModel):
    ref: ItemHash
    use_latest: bool = True


class PersistentVolume(AbstractVolume):
    parent: ParentVolume | None = None
    persistence: VolumePersistence | None = None
    name: str | None = Field(default=None, max_length=256)
    size_mib: PersistentSizeMib


MachineVolume = Annotated[
    ImmutableVolume | EphemeralVolume | PersistentVolume, Field(union_mode="left_to_right")
]


class RootfsVolume(StrictModel):
    """An instance's system disk: a copy of the `parent` image grown to `size_mib`."""

    parent: ParentVolume
    persistence: VolumePersistence
    size_mib: PersistentSizeMib
    forgotten_by: list[str] | None = None
