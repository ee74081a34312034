"""The program's code and volumes as virtio block devices, and how the guest finds them.

Every disk gets a serial number; the guest's init links `/dev/disk/by-id/virtio-<serial>` to
it, so a device path does not depend on the order in which virtio-mmio devices are probed.
- immutable volume: its squashfs file, read-only.
- ephemeral volume: a sparse ext4 image of `size_mib` in the work dir, gone with it.
- persistent volume: `volume.ext4` in the volume's folder, made on first use, then reused.
- squashfs code: the STORE'd image, read-only, mounted at `CODE_MOUNT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alephnet.crn.executors.base import ExecutionSpec, ExecutorError, VolumeKind, VolumeSpec
from alephnet.crn.executors.disk_images import DEFAULT_VOLUME_MIB, make_ext4, persistent_image
from alephnet.crn.guest.configuration import GuestVolume

CODE_MOUNT = "/opt/program"


@dataclass(frozen=True)
class Disk:
    serial: str
    path: Path
    read_only: bool

    @property
    def guest_device(self) -> str:
        return f"/dev/disk/by-id/virtio-{self.serial}"


@dataclass(frozen=True)
class ProgramDisks:
    disks: list[Disk]
    volumes: list[GuestVolume]
    code_mount: str | None


def program_disks(spec: ExecutionSpec) -> ProgramDisks:
    """Prepare the image files (ext4 ones are formatted here, on the host)."""
    disks: list[Disk] = []
    volumes: list[GuestVolume] = []
    code_mount = None
    if spec.code.encoding == "squashfs":
        code = Disk("code", spec.code.path, read_only=True)
        disks.append(code)
        volumes.append(GuestVolume(CODE_MOUNT, code.guest_device, True, "squashfs"))
        code_mount = CODE_MOUNT
    for volume, disk in zip(spec.volumes, volume_disks(spec.volumes, spec.work_dir), strict=True):
        disks.append(disk)
        filesystem = "squashfs" if volume.kind is VolumeKind.IMMUTABLE else "ext4"
        volumes.append(GuestVolume(volume.mount, disk.guest_device, disk.read_only, filesystem))
    return ProgramDisks(disks, volumes, code_mount)


def volume_disks(volumes: tuple[VolumeSpec, ...], work_dir: Path) -> list[Disk]:
    """The volumes' image files (ext4 ones formatted here), with serials `volume0`, ..."""
    return [
        _volume_disk(f"volume{index}", volume, work_dir) for index, volume in enumerate(volumes)
    ]


def _volume_disk(serial: str, volume: VolumeSpec, work_dir: Path) -> Disk:
    if volume.kind is VolumeKind.IMMUTABLE:
        if volume.host_path is None or not volume.host_path.is_file():
            raise ExecutorError(f"immutable volume {volume.mount}: no image at {volume.host_path}")
        return Disk(serial, volume.host_path, read_only=True)
    if volume.kind is VolumeKind.EPHEMERAL:
        image = work_dir / f"{serial}.ext4"
        make_ext4(image, volume.size_mib or DEFAULT_VOLUME_MIB, journal=False)
        return Disk(serial, image, read_only=False)
    if volume.host_path is None:
        raise ExecutorError(f"persistent volume {volume.mount} has no folder on the host")
    image = persistent_image(volume.host_path, volume.size_mib)
    return Disk(serial, image, read_only=volume.read_only)
