"""The instance pieces that need no VM: command line, config disk, volumes' fstab, rootfs
preparation, the bounded console."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
import uvloop

from alephnet.crn.executors.base import (
    ExecutorError,
    InstanceSpec,
    PortForward,
    VolumeKind,
    VolumeSpec,
)
from alephnet.crn.executors.disk_images import make_ext4
from alephnet.crn.executors.microvm.console import BoundedFile, ConsolePipe
from alephnet.crn.executors.microvm.disks import Disk
from alephnet.crn.executors.microvm.images import BootFiles
from alephnet.crn.executors.microvm.instance_disks import (
    config_archive,
    instance_disks,
    prepare_rootfs,
)
from alephnet.crn.executors.microvm.instance_image import filesystem_bytes, shrink_to_content
from alephnet.crn.executors.microvm.instance_volumes import check_mount_points, volumes_fstab
from alephnet.crn.executors.microvm.qemu import VmFiles, VmShape, instance_command
from alephnet.crn.supervisor.logs import LogEntry

MIB = 1024 * 1024
BOOT = BootFiles(Path("/k/vmlinux"), Path("/k/initramfs.cpio"))
FILES = VmFiles(Path("/w/channel.sock"), Path("/w/qmp.sock"), Path("/w/console.log"))
DISKS = [
    Disk("rootfs", Path("/d/disk.ext4"), read_only=False),
    Disk("config", Path("/w/config.tar"), read_only=True),
]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyExampleKeyExampleKeyExampleKeyEx owner@host"


def command(internet: bool) -> list[str]:
    shape = VmShape("tcg", vcpus=1, memory_mib=512, internet=internet)
    forwarded = {
        22: PortForward(20022),
        80: PortForward(20080),
        53: PortForward(20053, False, True),
    }
    return instance_command(BOOT, shape, DISKS, FILES, forwarded, console_fd=7)


def option(arguments: list[str], name: str) -> list[str]:
    return [arguments[index + 1] for index, value in enumerate(arguments) if value == name]


def test_instance_command_boots_the_rootfs_and_forwards_its_ports_on_loopback() -> None:
    arguments = command(internet=True)
    assert option(arguments, "-append")[0].endswith(" alephnet.instance")
    assert option(arguments, "-drive") == [
        "id=rootfs,file=/d/disk.ext4,format=raw,if=none,readonly=off",
        "id=config,file=/w/config.tar,format=raw,if=none,readonly=on",
    ]
    assert option(arguments, "-netdev") == [
        "user,id=net0,hostfwd=tcp:127.0.0.1:20022-:22,hostfwd=tcp:127.0.0.1:20080-:80,"
        "hostfwd=udp:127.0.0.1:20053-:53"
    ]
    assert option(arguments, "-qmp") == ["unix:/w/qmp.sock,server=on,wait=off"]
    assert option(arguments, "-serial") == ["file:/dev/fd/7"]  # the host's pipe, not a file
    assert "-chardev" not in arguments  # no guest runtime, no channel


def test_without_internet_the_network_is_restricted_but_still_forwards() -> None:
    (netdev,) = option(command(internet=False), "-netdev")
    assert netdev.startswith("user,id=net0,restrict=on,")
    assert "hostfwd=tcp:127.0.0.1:20022-:22" in netdev


def test_the_config_disk_is_a_tar_archive_busybox_unpacks(tmp_path: Path) -> None:
    archive = config_archive((KEY, f"  {KEY}2  "), "vm-1.example", "# fstab\n")
    assert len(archive) % 512 == 0
    disk = tmp_path / "config.tar"
    disk.write_bytes(archive + bytes(4096))  # a disk is padded past the archive's end
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["busybox", "tar", "-x", "-f", str(disk), "-C", str(root)], check=True)
    keys = root / "root" / ".ssh" / "authorized_keys"
    assert keys.read_text() == f"{KEY}\n{KEY}2\n"
    assert keys.stat().st_mode & 0o777 == 0o600
    assert keys.parent.stat().st_mode & 0o777 == 0o700
    assert (root / "etc" / "hostname").read_text() == "vm-1.example\n"
    assert (root / "etc" / "resolv.conf").read_text() == "nameserver 10.0.2.3\n"
    assert (root / "etc" / "alephnet" / "volumes.fstab").read_text() == "# fstab\n"


@pytest.mark.parametrize("hostname", ["", "-x", "a_b", "x" * 64, "a..b", "a b"])
def test_a_bad_hostname_is_refused(hostname: str) -> None:
    with pytest.raises(ExecutorError, match="invalid instance hostname"):
        config_archive((KEY,), hostname, "")


def test_a_key_spanning_lines_is_refused() -> None:
    with pytest.raises(ExecutorError, match="several lines"):
        config_archive((f"{KEY}\nssh-ed25519 AAAA injected",), "vm", "")


def small_parent(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    (content / "etc").mkdir(parents=True)
    (content / "etc" / "os-release").write_text("ID=test\n")
    parent = tmp_path / "parent.ext4"
    make_ext4(parent, 16, journal=True, content=content, options=("-b", "4096"))
    shrink_to_content(parent)
    return parent


def uuid_of(image: Path) -> str:
    result = subprocess.run(
        ["blkid", "-o", "value", "-s", "UUID", str(image)], capture_output=True, text=True
    )
    return result.stdout.strip()


def test_the_rootfs_is_copied_sparse_grown_and_given_its_own_uuid(tmp_path: Path) -> None:
    parent = small_parent(tmp_path)
    assert parent.stat().st_size < 16 * MIB  # shrunk to its content
    disk = tmp_path / "vm" / "rootfs.ext4"
    prepare_rootfs(parent, disk, 64)
    assert disk.stat().st_size == 64 * MIB == filesystem_bytes(disk)
    assert disk.stat().st_blocks * 512 < 16 * MIB  # sparse
    assert uuid_of(disk) not in ("", uuid_of(parent))
    # Kept as the guest left it on the next start, grown if the size grew.
    uuid = uuid_of(disk)
    prepare_rootfs(parent, disk, 64)
    assert uuid_of(disk) == uuid
    prepare_rootfs(parent, disk, 96)
    assert filesystem_bytes(disk) == 96 * MIB
    assert uuid_of(disk) == uuid


def test_a_rootfs_smaller_than_its_parent_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    parent = tmp_path / "parent.ext4"
    parent.write_bytes(bytes(3 * MIB))
    disk = tmp_path / "vm" / "rootfs.ext4"
    with pytest.raises(ExecutorError, match=r"rootfs size \(2 MiB\) is smaller"):
        prepare_rootfs(parent, disk, 2)
    with pytest.raises(ExecutorError, match="holds no ext4 file system"):
        prepare_rootfs(parent, disk, 8)  # not an ext4 image
    with pytest.raises(ExecutorError, match="does not exist"):
        prepare_rootfs(tmp_path / "absent.ext4", disk, 8)
    assert list((tmp_path / "vm").iterdir()) == []


def test_instance_disks_rootfs_config_then_volumes_by_serial(tmp_path: Path) -> None:
    spec = InstanceSpec(
        vm_hash="ab" * 32,
        vcpus=1,
        memory_mib=256,
        parent_image=small_parent(tmp_path),
        disk_path=tmp_path / "vm" / "rootfs.ext4",
        size_mib=32,
        authorized_keys=(KEY,),
        hostname="vm",
        forwarded_ports={22: PortForward(20022)},
        volumes=(
            VolumeSpec("/data", VolumeKind.PERSISTENT, tmp_path / "vm" / "data", 8),
            VolumeSpec("/scratch", VolumeKind.EPHEMERAL, None, 4),
        ),
        work_dir=tmp_path / "work",
    )
    spec.work_dir.mkdir()
    disks = instance_disks(spec)
    assert [(disk.serial, disk.read_only) for disk in disks] == [
        ("rootfs", False),
        ("config", True),
        ("volume0", False),
        ("volume1", False),
    ]
    fstab = volumes_fstab(zip(spec.volumes, disks[2:], strict=True))
    assert disks[1].path.read_bytes() == config_archive((KEY,), "vm", fstab)
    # A persistent volume's image is made once, in its folder, at its size; an ephemeral
    # one in the work dir.
    assert disks[2].path == tmp_path / "vm" / "data" / "volume.ext4"
    assert filesystem_bytes(disks[2].path) == 8 * MIB
    assert disks[3].path.parent == spec.work_dir
    assert filesystem_bytes(disks[3].path) == 4 * MIB


def test_the_volumes_fstab_mounts_each_by_serial_parents_first() -> None:
    volumes = [
        (VolumeSpec("/data/cache", VolumeKind.EPHEMERAL, None, 4), Disk("volume0", Path(), False)),
        (
            VolumeSpec("/opt/venv", VolumeKind.IMMUTABLE, Path(), read_only=True),
            Disk("volume1", Path(), True),
        ),
        (VolumeSpec("/data", VolumeKind.PERSISTENT, Path(), 8), Disk("volume2", Path(), False)),
        (
            VolumeSpec("/srv/my files", VolumeKind.PERSISTENT, Path(), 8),
            Disk("volume3", Path(), True),
        ),
    ]
    fstab = volumes_fstab(volumes)
    assert [line for line in fstab.splitlines() if not line.startswith("#")] == [
        "/dev/disk/by-id/virtio-volume2 /data ext4 rw,X-mount.mkdir 0 0",
        "/dev/disk/by-id/virtio-volume0 /data/cache ext4 rw,X-mount.mkdir 0 0",
        "/dev/disk/by-id/virtio-volume1 /opt/venv squashfs ro,X-mount.mkdir 0 0",
        "/dev/disk/by-id/virtio-volume3 /srv/my\\040files ext4 ro,X-mount.mkdir 0 0",
    ]
    assert "mount --all --fstab /etc/alephnet/volumes.fstab" in fstab  # says what it is


@pytest.mark.parametrize(
    ("mounts", "error"),
    [
        (["data"], "an absolute path"),
        (["/"], "an absolute path"),
        (["/data/../etc"], "an absolute path"),
        (["/data\nx"], "control characters"),
        (["/run/data"], "are the system's"),
        (["/proc"], "are the system's"),
        (["/data", "/data/"], "two volumes are mounted at /data/"),
    ],
)
def test_bad_mount_points_are_refused(mounts: list[str], error: str) -> None:
    with pytest.raises(ExecutorError, match=error):
        check_mount_points(VolumeSpec(mount, VolumeKind.EPHEMERAL, None, 4) for mount in mounts)


def test_the_console_file_keeps_the_latest_lines_within_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    console = BoundedFile(path, keep_bytes=1000)
    sizes = []
    for number in range(2000):
        console.write(f"line {number}\n".encode())
        sizes.append(path.stat().st_size)
    console.close()
    assert max(sizes) <= 2000 + len(b"line 1999\n")
    lines = path.read_text().splitlines()
    assert lines[-1] == "line 1999"
    assert lines == [f"line {number}" for number in range(2000 - len(lines), 2000)]  # whole
    assert len(lines) * len("line 1999\n") >= 900


async def test_the_console_pipe_is_drained_into_the_file_once_the_writer_is_gone(
    tmp_path: Path,
) -> None:
    await drain_a_console(tmp_path)


def test_the_console_pipe_is_drained_under_uvloop_as_in_the_crn(tmp_path: Path) -> None:
    """The CRN's server runs uvloop, whose pipe transports are not asyncio's classes."""
    uvloop.run(drain_a_console(tmp_path))


async def drain_a_console(tmp_path: Path) -> None:
    console = ConsolePipe(tmp_path / "console.log", keep_bytes=64 * 1024)
    writer = os.dup(console.qemu_fd)  # QEMU's copy of the pipe
    await console.follow()
    chunk = b"\x1b[0;32m  OK  \x1b[0m] Started something.\r\n" * 100
    for _ in range(200):  # 890 KB, more than the pipe holds: the host must keep draining
        await asyncio.to_thread(os.write, writer, chunk)
    await asyncio.to_thread(os.write, writer, b"the last line\r\n")
    os.close(writer)
    await asyncio.wait_for(console.drained(), 5)
    content = (tmp_path / "console.log").read_bytes()
    assert len(content) <= 2 * 64 * 1024
    assert content.endswith(b"Started something.\r\nthe last line\r\n")


def test_console_lines_lose_their_terminal_escape_sequences() -> None:
    colored = LogEntry(1.0, "stdout", "[\x1b[0;32m  OK  \x1b[0m] Started \x1b]0;t\x07ssh.\x1b(B")
    assert colored.without_terminal_codes() == LogEntry(1.0, "stdout", "[  OK  ] Started ssh.")
