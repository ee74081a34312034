"""What PROGRAM and INSTANCE content share (the protocol's executable content): owner, time,
resources, payment, volumes and the caller's metadata and environment variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from alephnet.protocol.enums import PaymentType


class ExecutableSettings(Protocol):
    """The settings `ProgramSettings` and `InstanceSettings` both have."""

    @property
    def memory(self) -> int: ...
    @property
    def vcpus(self) -> int: ...
    @property
    def timeout_seconds(self) -> int: ...
    @property
    def env(self) -> Mapping[str, str] | None: ...
    @property
    def volumes(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def allow_amend(self) -> bool: ...
    @property
    def metadata(self) -> Mapping[str, Any] | None: ...


def executable_fields(
    settings: ExecutableSettings, address: str, chain: str, now: float
) -> dict[str, Any]:
    """The shared fields, paid by holding tokens as the official SDK's VMs are by default."""
    return {
        "address": address,
        "time": now,
        "allow_amend": settings.allow_amend,
        "metadata": dict(settings.metadata) if settings.metadata is not None else None,
        "variables": dict(settings.env) if settings.env else None,
        "resources": {
            "vcpus": settings.vcpus,
            "memory": settings.memory,
            "seconds": settings.timeout_seconds,
        },
        "payment": {"chain": chain, "type": PaymentType.HOLD.value},
        "volumes": [dict(volume) for volume in settings.volumes],
    }
