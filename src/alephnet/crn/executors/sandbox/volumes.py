"""Persistent volumes of a fixed size: ext4 images loop-mounted on the host, bound in.

A plain folder would let a program fill the host's disk. The volume is instead the
`volume.ext4` image of its folder (the micro-VM's format, `disk_images`), sized to the
volume's `size_mib`, which the CRN loop-mounts at `<host_path>/mounted` (nosuid, nodev) and
bubblewrap binds into the sandbox: writing past the size fails with ENOSPC inside.

One image is never mounted twice (two loop devices on one ext4 file would corrupt it): the
executions using a volume share its mount, counted here, and the last one to end unmounts
it. A mount found in place at first use (left by a killed CRN) is adopted as it is.
Mounting and unmounting take a few milliseconds and are done in line, without awaiting:
no other start or stop of the same event loop can come in between.

Volumes of the earlier layout, a plain `<host_path>/data` folder, are migrated once: the
image is made holding a copy of it (mkfs.ext4 -d), then the folder is deleted. If the data
does not fit the volume's size, the start fails and the folder stays as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from alephnet.crn.executors.base import ExecutorError
from alephnet.crn.executors.disk_images import persistent_image

logger = logging.getLogger(__name__)

MOUNT_FOLDER = "mounted"
LEGACY_FOLDER = "data"
MOUNT_OPTIONS = "loop,nosuid,nodev,noatime"


class HostMounts:
    """The persistent volumes mounted on the host, and how many executions use each."""

    def __init__(self) -> None:
        self._users: dict[Path, int] = {}

    def acquire(self, host_path: Path, size_mib: int | None) -> Path:
        """The mounted folder of the volume in `host_path`, mounted for this user if need be."""
        mountpoint = host_path / MOUNT_FOLDER
        if not self._users.get(host_path):
            image = migrated_or_new_image(host_path, size_mib)
            mountpoint.mkdir(exist_ok=True)
            if not os.path.ismount(mountpoint):
                run_command(["mount", "-o", MOUNT_OPTIONS, str(image), str(mountpoint)])
        self._users[host_path] = self._users.get(host_path, 0) + 1
        return mountpoint

    def release(self, host_path: Path) -> None:
        """One user fewer; the last one unmounts (the loop device goes with it)."""
        users = self._users.get(host_path, 0) - 1
        if users > 0:
            self._users[host_path] = users
            return
        self._users.pop(host_path, None)
        try:
            run_command(["umount", str(host_path / MOUNT_FOLDER)])
        except ExecutorError as error:
            # Left mounted, it is adopted by the next start of the volume.
            logger.warning("persistent volume left mounted: %s", error)

    def users(self, host_path: Path) -> int:
        return self._users.get(host_path, 0)


# Mounts are host-wide: one registry for every executor of this process.
HOST_MOUNTS = HostMounts()


def migrated_or_new_image(host_path: Path, size_mib: int | None) -> Path:
    legacy = host_path / LEGACY_FOLDER
    if not legacy.is_dir():
        return persistent_image(host_path, size_mib)
    image = persistent_image(host_path, size_mib, content=legacy)
    shutil.rmtree(legacy)
    logger.info("persistent volume %s: %s/ moved into %s", host_path, LEGACY_FOLDER, image.name)
    return image


def run_command(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise ExecutorError(f"`{' '.join(command)}` failed: {output}")
