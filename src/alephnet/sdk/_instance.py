"""INSTANCE messages: a whole VM booted from a root filesystem image kept by a STORE message.

Built like the official SDK's `make_instance_content` (rootfs copied with `host` persistence,
`use_latest`, QEMU, hold payment), with every default written out as for programs, so the
content reads back the same in any client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alephnet.protocol.content import InstanceContent
from alephnet.protocol.enums import HypervisorType, VolumePersistence
from alephnet.sdk._executable import executable_fields
from alephnet.sdk._validation import content_errors

DEFAULT_ROOTFS_SIZE_MIB = 20_480
"""The official SDK's `DEFAULT_ROOTFS_SIZE`."""
DEFAULT_INSTANCE_MEMORY_MIB = 2048
DEFAULT_INSTANCE_VCPUS = 1
DEFAULT_INSTANCE_TIMEOUT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class InstanceSettings:
    """Everything about an instance but its owner; the defaults are the official SDK's."""

    rootfs: str
    """The item hash of the STORE message of the root filesystem image (the parent disk)."""
    rootfs_size: int = DEFAULT_ROOTFS_SIZE_MIB
    memory: int = DEFAULT_INSTANCE_MEMORY_MIB
    vcpus: int = DEFAULT_INSTANCE_VCPUS
    timeout_seconds: int = DEFAULT_INSTANCE_TIMEOUT_SECONDS
    ssh_keys: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    volumes: Sequence[Mapping[str, Any]] = ()
    internet: bool = True
    aleph_api: bool = True
    hypervisor: HypervisorType = HypervisorType.QEMU
    allow_amend: bool = False
    metadata: Mapping[str, Any] | None = None
    requirements: Mapping[str, Any] | None = None


def instance_content(
    settings: InstanceSettings, address: str, chain: str, now: float
) -> InstanceContent:
    with content_errors("INSTANCE"):
        return InstanceContent.model_validate(
            {
                **executable_fields(settings, address, chain, now),
                "authorized_keys": list(settings.ssh_keys),
                "environment": {
                    "internet": settings.internet,
                    "aleph_api": settings.aleph_api,
                    "hypervisor": settings.hypervisor,
                    "reproducible": False,
                    "shared_cache": False,
                },
                "requirements": dict(settings.requirements) if settings.requirements else None,
                "rootfs": {
                    "parent": {"ref": settings.rootfs, "use_latest": True},
                    "persistence": VolumePersistence.HOST,
                    "size_mib": settings.rootfs_size,
                },
            }
        )
