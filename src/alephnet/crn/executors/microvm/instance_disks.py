"""An instance's disks: its own rootfs (from the parent image, grown) and the config disk.

- `rootfs`: on the first start a sparse copy of the STORE'd parent image, grown to the
  message's `size_mib` and given a fresh file-system UUID; later starts boot it as the guest
  left it (and grow it if `size_mib` grew).
- `config`: rewritten on every start from the spec: a POSIX tar archive (as a raw disk) that
  our init unpacks over the rootfs before the image's init runs: the owner's
  `/root/.ssh/authorized_keys`, `/etc/hostname`, `/etc/resolv.conf` (QEMU's DNS relay),
  `/etc/alephnet/volumes.fstab` (`instance_volumes`).
- volumes: as for programs, found in the guest by their serials (`volume0`, ...), mounted by
  our init as `volumes.fstab` says.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

from alephnet.crn.executors.base import ExecutorError, InstanceSpec
from alephnet.crn.executors.microvm.disks import Disk, volume_disks
from alephnet.crn.executors.microvm.instance_image import filesystem_bytes
from alephnet.crn.executors.microvm.instance_volumes import (
    VOLUMES_FSTAB,
    check_mount_points,
    volumes_fstab,
)

MIB = 1024 * 1024
CONFIG_ARCHIVE = "config.tar"
RESOLV_CONF = "nameserver 10.0.2.3\n"
# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(\.{LABEL})*$")


def instance_disks(spec: InstanceSpec) -> list[Disk]:
    """Prepare the rootfs and write the config disk; the disks in the order QEMU gets them."""
    check_mount_points(spec.volumes)
    prepare_rootfs(spec.parent_image, spec.disk_path, spec.size_mib)
    volumes = volume_disks(spec.volumes, spec.work_dir)
    fstab = volumes_fstab(zip(spec.volumes, volumes, strict=True))
    config = spec.work_dir / CONFIG_ARCHIVE
    config.write_bytes(config_archive(spec.authorized_keys, spec.hostname, fstab))
    return [
        Disk("rootfs", spec.disk_path, read_only=False),
        Disk("config", config, read_only=True),
        *volumes,
    ]


def prepare_rootfs(parent: Path, disk: Path, size_mib: int) -> None:
    if not disk.exists():
        _copy_parent(parent, disk, size_mib)
    elif disk.stat().st_size < size_mib * MIB:
        _grow(disk, size_mib)


def _copy_parent(parent: Path, disk: Path, size_mib: int) -> None:
    """Made under a temporary name: a failed copy leaves nothing a later start would boot."""
    if not parent.is_file():
        raise ExecutorError(f"the instance's parent image {parent} does not exist")
    if parent.stat().st_size > size_mib * MIB:
        raise ExecutorError(
            f"the rootfs size ({size_mib} MiB) is smaller than its parent image "
            f"({-(-parent.stat().st_size // MIB)} MiB)"
        )
    disk.parent.mkdir(parents=True, exist_ok=True)
    partial = disk.with_name(disk.name + ".partial")
    try:
        _checked(["cp", "--sparse=always", str(parent), str(partial)], "copying the parent image")
        filesystem_bytes(partial)  # refuses a parent that is not an ext4 image
        _grow(partial, size_mib)
        _checked(["tune2fs", "-U", "random", str(partial)], "giving the rootfs a new UUID")
        partial.rename(disk)
    finally:
        partial.unlink(missing_ok=True)


def _grow(disk: Path, size_mib: int) -> None:
    with disk.open("r+b") as file:
        file.truncate(size_mib * MIB)
    _check_filesystem(disk)
    _checked(["resize2fs", str(disk)], f"growing the rootfs to {size_mib} MiB")


def _check_filesystem(disk: Path) -> None:
    """`e2fsck -f` (resize2fs wants it): replays the journal of a VM that was killed."""
    result = subprocess.run(
        ["e2fsck", "-f", "-y", str(disk)], capture_output=True, text=True, check=False
    )
    # 1 and 2: errors found and corrected.
    if result.returncode > 2:
        raise ExecutorError(f"e2fsck of {disk} failed: {(result.stdout + result.stderr)[-2000:]}")


def _checked(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ExecutorError(f"{what} failed: {(result.stderr or result.stdout).strip()}")


def config_archive(authorized_keys: tuple[str, ...], hostname: str, fstab: str) -> bytes:
    """The config disk's content: a POSIX (ustar) tar archive, whole 512-byte blocks."""
    if not HOSTNAME.match(hostname):
        raise ExecutorError(f"invalid instance hostname {hostname!r}")
    if any("\n" in key or "\r" in key for key in authorized_keys):
        raise ExecutorError("an authorized key spans several lines")
    keys = "".join(f"{key.strip()}\n" for key in authorized_keys)
    output = io.BytesIO()
    with tarfile.open(fileobj=output, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        _add_directory(archive, "root/.ssh", 0o700)
        _add_file(archive, "root/.ssh/authorized_keys", keys, 0o600)
        _add_file(archive, "etc/hostname", f"{hostname}\n", 0o644)
        _add_file(archive, "etc/resolv.conf", RESOLV_CONF, 0o644)
        _add_directory(archive, "etc/alephnet", 0o755)
        _add_file(archive, VOLUMES_FSTAB, fstab, 0o644)
    return output.getvalue()


def _add_directory(archive: tarfile.TarFile, name: str, mode: int) -> None:
    member = tarfile.TarInfo(name)
    member.type = tarfile.DIRTYPE
    member.mode = mode
    archive.addfile(member)


def _add_file(archive: tarfile.TarFile, name: str, text: str, mode: int) -> None:
    content = text.encode()
    member = tarfile.TarInfo(name)
    member.size = len(content)
    member.mode = mode
    archive.addfile(member, io.BytesIO(content))
