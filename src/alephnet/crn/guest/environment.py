"""The program's surroundings: environment variables and volumes.

In the micro-VM the guest mounts its volumes itself from the block devices the supervisor
attached; in the sandbox they are bind-mounted before the guest starts (`device` is None) and
there is nothing to do.
"""

from __future__ import annotations

import os

from alephnet.crn.guest.configuration import GuestConfiguration, GuestVolume
from alephnet.crn.guest.frames import PROTOCOL_VERSION


class MountError(Exception):
    """A volume could not be mounted."""


def set_variables(configuration: GuestConfiguration, api_url: str | None) -> None:
    """`api_url` is the guest API's (`alephnet.crn.guest.api`), never the CCN's own URL: the
    program reaches its CCN through the supervisor, whatever its network."""
    os.environ["ALEPH_INIT_VERSION"] = PROTOCOL_VERSION
    os.environ["ALEPH_VM_HASH"] = configuration.vm_hash
    if api_url:
        os.environ["ALEPH_API_HOST"] = api_url
    os.environ.update(configuration.variables)


def mount_volumes(volumes: list[GuestVolume]) -> None:
    for volume in volumes:
        if volume.device is not None:
            mount(volume)


def mount(volume: GuestVolume) -> None:
    import subprocess  # only the micro-VM mounts: the sandbox's start does without it

    assert volume.device is not None
    os.makedirs(volume.mount, exist_ok=True)
    command = ["mount", "-o", "ro" if volume.read_only else "rw"]
    if volume.filesystem:
        command += ["-t", volume.filesystem]
    result = subprocess.run(
        [*command, volume.device, volume.mount], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise MountError(f"cannot mount {volume.device} at {volume.mount}: {result.stderr.strip()}")
