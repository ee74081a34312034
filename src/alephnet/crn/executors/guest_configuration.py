"""The CONFIGURE an executor sends its guest: the program as the supervisor specified it, with
the code and volumes where this executor mounted them (a sandbox bind-mounts folders, a micro-VM
attaches disks, so only the mount points differ)."""

from __future__ import annotations

from alephnet.crn.executors.base import ExecutionSpec
from alephnet.crn.guest.configuration import GuestConfiguration, GuestVolume


def guest_configuration(
    spec: ExecutionSpec, code_mount: str | None, volumes: list[GuestVolume]
) -> GuestConfiguration:
    return GuestConfiguration(
        vm_hash=spec.vm_hash,
        interface=spec.code.interface,
        encoding=spec.code.encoding,
        entrypoint=spec.code.entrypoint,
        code_mount=code_mount,
        args=spec.code.args,
        variables=dict(spec.variables),
        volumes=volumes,
        api_host=spec.api_host,
    )
