"""Where an instance's volumes appear in its guest: an fstab our init mounts on every boot.

The host writes `/etc/alephnet/volumes.fstab` (fstab(5) format) into the config disk, so it
is rewritten on every start from the message's volumes. Our init mounts it with the image's
own `mount --all --fstab` (chrooted, so that a mount point is resolved inside the guest,
through its symlinks), before it hands over to the image's init; systemd then finds the
volumes mounted and unmounts them when the guest powers off. Not `/etc/fstab`: the image
has no udev, so systemd would wait 90 s for the `/dev/disk/by-id` device units of the
entries there; and `/etc/fstab` stays the owner's.

Each entry names its disk by the serial our init links in `/dev/disk/by-id` (`volume0`,
...): immutable volumes are squashfs, read-only; ephemeral and persistent ones ext4.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from alephnet.crn.executors.base import ExecutorError, VolumeKind, VolumeSpec
from alephnet.crn.executors.microvm.disks import Disk

VOLUMES_FSTAB = "etc/alephnet/volumes.fstab"
FSTAB_HEADER = """\
# The volumes of this instance, written by the CRN from its INSTANCE message on every start
# (edits here are lost) and mounted before /sbin/init by the CRN's init, as by
#   mount --all --fstab /etc/alephnet/volumes.fstab
"""
# Replaced at boot by the kernel's file systems and systemd's /run: a volume there is hidden.
RESERVED_MOUNTS = tuple(PurePosixPath(path) for path in ("/proc", "/sys", "/dev", "/run"))


def check_mount_points(volumes: Iterable[VolumeSpec]) -> None:
    """Refuses mount points that would hide the system or be read differently by `mount`."""
    seen: set[PurePosixPath] = set()
    for volume in volumes:
        mount = _mount_point(volume.mount)
        if mount in seen:
            raise ExecutorError(f"two volumes are mounted at {volume.mount}")
        seen.add(mount)


def volumes_fstab(volumes: Iterable[tuple[VolumeSpec, Disk]]) -> str:
    """The fstab of the volumes, a mount point after the ones it is inside of."""
    entries = sorted(volumes, key=lambda entry: len(_mount_point(entry[0].mount).parts))
    return FSTAB_HEADER + "".join(_entry(volume, disk) for volume, disk in entries)


def _entry(volume: VolumeSpec, disk: Disk) -> str:
    filesystem = "squashfs" if volume.kind is VolumeKind.IMMUTABLE else "ext4"
    access = "ro" if disk.read_only else "rw"
    # `X-mount.mkdir`: the mount point is made in the guest's rootfs when it is missing.
    mount = str(_mount_point(volume.mount)).replace("\\", "\\134").replace(" ", "\\040")
    return f"{disk.guest_device} {mount} {filesystem} {access},X-mount.mkdir 0 0\n"


def _mount_point(mount: str) -> PurePosixPath:
    path = PurePosixPath(mount)
    if not path.is_absolute() or ".." in path.parts or str(path) == "/":
        raise ExecutorError(f"invalid volume mount point {mount!r}: an absolute path below /")
    if any(ord(character) < 32 or ord(character) == 127 for character in mount):
        raise ExecutorError(f"invalid volume mount point {mount!r}: control characters")
    if any(path == reserved or reserved in path.parents for reserved in RESERVED_MOUNTS):
        raise ExecutorError(
            f"invalid volume mount point {mount!r}: /proc, /sys, /dev and /run are the system's"
        )
    return path
