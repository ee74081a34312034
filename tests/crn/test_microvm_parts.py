"""The microvm executor's pieces that need no VM: command line, disks, module order, kernel."""

from __future__ import annotations

import gzip
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from alephnet.crn.executors.base import (
    CodeSpec,
    ExecutionSpec,
    ExecutorError,
    Resources,
    VolumeKind,
    VolumeSpec,
)
from alephnet.crn.executors.microvm import images
from alephnet.crn.executors.microvm.disks import Disk, program_disks
from alephnet.crn.executors.microvm.qemu import (
    VmFiles,
    VmShape,
    host_tsc_khz,
    qemu_command,
    tcg_clock_arguments,
)
from alephnet.crn.executors.microvm.sdk_image import sdk_closure
from alephnet.crn.executors.microvm.snapshot import snapshot_path
from alephnet.crn.guest.code import add_sdk

BOOT = images.BootImages(Path("/k/vmlinux"), Path("/k/initramfs.cpio"), Path("/k/root,fs.img"))
FILES = VmFiles(Path("/w/channel.sock"), Path("/w/qmp.sock"), Path("/w/console.log"))


def command(internet: bool, accelerator: str = "tcg", memory_mib: int = 256) -> list[str]:
    shape = VmShape(accelerator, vcpus=2, memory_mib=memory_mib, internet=internet)
    return qemu_command(
        BOOT, shape, [Disk("volume0", Path("/v/data.ext4"), False)], FILES, console_fd=7
    )


def option(arguments: list[str], name: str) -> list[str]:
    return [arguments[index + 1] for index, value in enumerate(arguments) if value == name]


def test_no_network_device_without_internet_and_user_networking_with_it() -> None:
    assert "-netdev" not in command(internet=False)
    with_internet = command(internet=True)
    assert option(with_internet, "-netdev") == ["user,id=net0"]
    assert "virtio-net-device,netdev=net0" in option(with_internet, "-device")


def test_disks_channel_and_resources_on_the_command_line() -> None:
    arguments = command(internet=False, memory_mib=64)
    assert option(arguments, "-smp") == ["2"]
    assert option(arguments, "-m") == ["128"]  # raised to what the guest needs to boot
    drives = option(arguments, "-drive")
    # The runtime first and read-only; a comma in a path is doubled for QEMU.
    assert drives[0] == "id=runtime,file=/k/root,,fs.img,format=raw,if=none,readonly=on"
    assert drives[1] == "id=volume0,file=/v/data.ext4,format=raw,if=none,readonly=off"
    assert "virtserialport,chardev=channel,name=alephnet" in option(arguments, "-device")
    assert option(arguments, "-chardev") == [
        "socket,id=channel,path=/w/channel.sock,server=on,wait=off"
    ]
    # The console goes to the host's pipe, which keeps its tail: a file of QEMU's would grow
    # for as long as the program writes to its console.
    assert option(arguments, "-serial") == ["file:/dev/fd/7"]


def test_the_sdk_image_is_a_read_only_disk_after_the_runtime() -> None:
    with_sdk = images.BootImages(BOOT.kernel, BOOT.initramfs, BOOT.rootfs, Path("/k/sdk.img"))
    shape = VmShape("tcg", vcpus=1, memory_mib=256, internet=False)
    arguments = qemu_command(with_sdk, shape, [], FILES, console_fd=7)
    assert option(arguments, "-drive")[1] == "id=sdk,file=/k/sdk.img,format=raw,if=none,readonly=on"
    assert "virtio-blk-device,drive=sdk,serial=sdk" in option(arguments, "-device")


def test_a_saved_vm_is_keyed_by_the_sdk_image_it_has_mounted(tmp_path: Path) -> None:
    for name in ("vmlinux", "initramfs", "rootfs", "sdk-1", "sdk-2"):
        (tmp_path / name).write_bytes(name.encode())
    boot = images.BootImages(tmp_path / "vmlinux", tmp_path / "initramfs", tmp_path / "rootfs")
    shape = VmShape("tcg", vcpus=1, memory_mib=256, internet=False)
    keys = {
        snapshot_path(images.BootImages(boot.kernel, boot.initramfs, boot.rootfs, sdk), shape)
        for sdk in (None, tmp_path / "sdk-1", tmp_path / "sdk-2")
    }
    assert len(keys) == 3


def test_the_sdk_closure_holds_its_dependencies_but_no_node() -> None:
    destinations = {destination for _, destination in sdk_closure()}
    assert "alephnet/sdk/__init__.py" in destinations
    assert "alephnet/protocol/__init__.py" in destinations
    assert "pydantic_core/__init__.py" in destinations
    assert "httpcore/__init__.py" in destinations  # loaded on first request, not on import
    assert "alephnet/__init__.py" not in destinations  # the guest runtime's package extends
    assert not any(path.startswith(("alephnet/crn/", "alephnet/ccn/")) for path in destinations)


def test_the_guest_finds_alephnet_subpackages_in_the_sdk_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alephnet" / "sdk_image_probe").mkdir(parents=True)
    (tmp_path / "alephnet" / "sdk_image_probe" / "__init__.py").write_text("FOUND = True\n")
    package = sys.modules["alephnet"]
    monkeypatch.setattr(package, "__path__", list(package.__path__))
    monkeypatch.setattr(sys, "path", list(sys.path))
    add_sdk(str(tmp_path))
    add_sdk(str(tmp_path))  # a second program start adds nothing twice
    try:
        assert importlib.import_module("alephnet.sdk_image_probe").FOUND
    finally:
        sys.modules.pop("alephnet.sdk_image_probe", None)
    assert sys.path.count(str(tmp_path)) == 1
    assert sys.path[-1] == str(tmp_path)  # after everything the program brings
    add_sdk(str(tmp_path / "missing"))  # the sandbox: no SDK folder, nothing to do
    assert str(tmp_path / "missing") not in sys.path


def test_the_translation_cache_size_is_a_tcg_option() -> None:
    def accelerator(kind: str, translation_cache_mib: int) -> list[str]:
        shape = VmShape(kind, 1, 256, internet=False, translation_cache_mib=translation_cache_mib)
        return option(qemu_command(BOOT, shape, [], FILES, console_fd=7), "-accel")

    assert accelerator("tcg", 64) == ["tcg,tb-size=64"]
    assert accelerator("tcg", 0) == ["tcg"]  # QEMU's own default
    assert accelerator("kvm", 64) == ["kvm"]


def test_tcg_skips_clock_calibration_and_kvm_does_not_need_to() -> None:
    assert tcg_clock_arguments(2_596_144) == "tsc_early_khz=2596144 lpj=10384576 tsc=reliable"
    assert tcg_clock_arguments(None) == ""
    tcg_line = option(command(internet=False), "-append")[0]
    kvm = command(internet=False, accelerator="kvm")
    assert "tsc_early_khz" in tcg_line
    assert "tsc_early_khz" not in option(kvm, "-append")[0]
    assert option(kvm, "-cpu") == ["host,-arch-capabilities"]


def test_host_tsc_frequency_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\ncpu MHz\t\t: 2596.144\n")
    assert host_tsc_khz(cpuinfo) == 2_596_144
    assert host_tsc_khz(tmp_path / "missing") is None


def test_modules_load_after_their_dependencies(tmp_path: Path) -> None:
    (tmp_path / "modules.dep").write_text(
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\n"
        "kernel/lib/crc16.ko:\n"
        "kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko\n"
    )
    assert images._module_load_order(tmp_path, ("ext4", "jbd2")) == [
        "kernel/lib/crc16.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/fs/ext4/ext4.ko",
    ]
    with pytest.raises(ExecutorError, match="kernel module nope"):
        images._module_load_order(tmp_path, ("nope",))


def test_the_elf_kernel_is_found_inside_a_compressed_payload() -> None:
    elf = b"\x7fELF" + bytes(1000)
    assert images._elf_payload(b"setup code" + gzip.compress(elf) + b"trailer") == elf
    assert images._elf_payload(b"no known payload") is None


def spec(tmp_path: Path, *volumes: VolumeSpec) -> ExecutionSpec:
    return ExecutionSpec(
        vm_hash="ab" * 32,
        resources=Resources(1, 128, 10),
        code=CodeSpec(tmp_path / "code.sqsh", "squashfs", "main:app", "asgi"),
        internet=False,
        volumes=volumes,
        work_dir=tmp_path / "work",
    )


def test_volumes_become_disks_found_by_serial(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    immutable = tmp_path / "data.sqsh"
    immutable.write_bytes(b"squashfs")
    persistent = VolumeSpec("/data", VolumeKind.PERSISTENT, tmp_path / "persistent", 8)
    prepared = program_disks(
        spec(
            tmp_path,
            VolumeSpec("/assets", VolumeKind.IMMUTABLE, immutable),
            VolumeSpec("/scratch", VolumeKind.EPHEMERAL, None, 4),
            persistent,
        )
    )
    assert [disk.serial for disk in prepared.disks] == ["code", "volume0", "volume1", "volume2"]
    assert prepared.code_mount == "/opt/program"
    assert [(v.mount, v.device, v.read_only, v.filesystem) for v in prepared.volumes] == [
        ("/opt/program", "/dev/disk/by-id/virtio-code", True, "squashfs"),
        ("/assets", "/dev/disk/by-id/virtio-volume0", True, "squashfs"),
        ("/scratch", "/dev/disk/by-id/virtio-volume1", False, "ext4"),
        ("/data", "/dev/disk/by-id/virtio-volume2", False, "ext4"),
    ]
    image = tmp_path / "persistent" / "volume.ext4"
    assert image.stat().st_size == 8 * 1024 * 1024
    assert image.stat().st_blocks * 512 < image.stat().st_size  # sparse
    blkid = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", str(image)], capture_output=True)
    assert blkid.stdout.strip() == b"ext4"
    # Reused, not formatted again: what the program wrote survives.
    stamp = image.stat().st_mtime_ns
    program_disks(spec(tmp_path, persistent))
    assert image.stat().st_mtime_ns == stamp


def test_a_missing_immutable_image_is_a_clear_error(tmp_path: Path) -> None:
    missing = VolumeSpec("/assets", VolumeKind.IMMUTABLE, tmp_path / "absent.sqsh")
    with pytest.raises(ExecutorError, match="immutable volume /assets: no image"):
        program_disks(spec(tmp_path, missing))
