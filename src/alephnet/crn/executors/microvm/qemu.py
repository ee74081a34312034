"""The QEMU command line of one micro-VM.

`-M microvm` with ACPI (the Debian kernel finds its virtio-mmio devices through ACPI: it is
built without `virtio_mmio.device=` command-line support), the kernel and our initramfs
loaded directly (no firmware boot), the serial console to a file, QMP on a unix socket, the
guest channel as the virtio-serial port `alephnet` whose host side is a unix socket QEMU
listens on. No network device at all unless the program asked for the internet; then QEMU's
user-mode network (no tap or bridge to set up on the host). Instances have no channel, and
always a network device, for the ports forwarded to them (`instance_command`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alephnet.crn.executors.base import PortForward
from alephnet.crn.executors.microvm.disks import Disk
from alephnet.crn.executors.microvm.images import BootFiles, BootImages

QEMU = "qemu-system-x86_64"
CHANNEL_NAME = "alephnet"
# The smallest memory the Debian kernel and the guest's Python start in.
MIN_MEMORY_MIB = 128
# `quiet`: console output is slow under TCG. `panic=-1` + `-no-reboot`: a guest panic ends QEMU.
# The rest skips probes that find nothing on a microvm (measured in docs/crn-microvm.md).
KERNEL_COMMAND_LINE = (
    "console=ttyS0 quiet panic=-1 rdinit=/init pci=off 8250.nr_uarts=1 i8042.noaux "
    "i8042.nomux i8042.nopnp i8042.dumbkbd edd=off cryptomgr.notests"
)
KERNEL_HZ = 250  # CONFIG_HZ of the Debian kernel
# QEMU's TCG translation cache per VM (`-accel tcg,tb-size=`), in MiB; 0: QEMU's default
# (1 GiB, filled as the guest runs new code). 64 MiB: an idle instance's QEMU 160 MiB smaller
# for ~7 % more CPU to boot (A/B in docs/crn-microvm.md).
TRANSLATION_CACHE_MIB = 64
# Tells our init (init.sh) to boot the `rootfs` disk's own init rather than the guest runtime.
INSTANCE_ARGUMENT = "alephnet.instance"


def tcg_clock_arguments(tsc_khz: int | None) -> str:
    """Kernel arguments that spare a TCG guest its clock calibration.

    Under TCG the guest's TSC is the host's, but calibrating it against the emulated PIT fails
    when the host is busy, and the 6.1 kernel then hangs with no usable clocksource. Telling it
    the frequency (and the delay loop's loops per jiffy) skips both calibrations."""
    if tsc_khz is None:
        return ""
    return f"tsc_early_khz={tsc_khz} lpj={tsc_khz * 1000 // KERNEL_HZ} tsc=reliable"


def host_tsc_khz(cpuinfo: Path = Path("/proc/cpuinfo")) -> int | None:
    """The host's TSC frequency, as `cpu MHz` (constant-TSC hosts report the TSC rate)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "cpu MHz":
            return round(float(value) * 1000)
    return None


@dataclass(frozen=True)
class VmFiles:
    """Where QEMU's host-side files of one VM live."""

    channel: Path
    qmp: Path
    console: Path
    # A folder made for the sockets alone (the work dir's path was too long), removed after.
    private_dir: Path | None = None


@dataclass(frozen=True)
class VmShape:
    accelerator: str  # "kvm" or "tcg"
    vcpus: int
    memory_mib: int
    internet: bool
    # Not part of a saved VM's key: QEMU keeps no translations in a saved state.
    translation_cache_mib: int = TRANSLATION_CACHE_MIB

    @property
    def kernel_command_line(self) -> str:
        if self.accelerator != "tcg":
            return KERNEL_COMMAND_LINE
        return f"{KERNEL_COMMAND_LINE} {tcg_clock_arguments(host_tsc_khz())}".strip()


def qemu_command(
    images: BootImages, shape: VmShape, disks: list[Disk], files: VmFiles, console_fd: int
) -> list[str]:
    """A program VM: the runtime rootfs, the SDK image when there is one (init mounts it at
    `/opt/sdk`), then the program's `disks`. Its console goes to the pipe `console_fd`, as an
    instance's does (`instance_command`)."""
    images_disks = [Disk("runtime", images.rootfs, read_only=True)]
    if images.sdk is not None:
        images_disks.append(Disk("sdk", images.sdk, read_only=True))
    return [
        *_booted(
            images.kernel,
            images.initramfs,
            shape,
            shape.kernel_command_line,
            files,
            f"/dev/fd/{console_fd}",
        ),
        *_channel(files.channel),
        *(argument for disk in (*images_disks, *disks) for argument in _disk(disk)),
        *(_network() if shape.internet else []),
    ]


def instance_command(
    boot: BootFiles,
    shape: VmShape,
    disks: list[Disk],
    files: VmFiles,
    forwarded: dict[int, PortForward],
    console_fd: int,
) -> list[str]:
    """An instance VM: our init mounts its `rootfs` disk and hands over to the image's init.

    It always has a NIC, since SSH reaches it through a forwarded port; without the internet
    the user network is `restrict=on`: the forwarded ports still reach the guest, but nothing
    the guest sends leaves the host. `files.channel` is not used (no guest runtime). Its
    console goes to the pipe `console_fd` that QEMU inherits (`console.ConsolePipe` keeps
    its tail in `files.console`), not to a file of QEMU's that could grow without end."""
    command_line = f"{shape.kernel_command_line} {INSTANCE_ARGUMENT}"
    return [
        *_booted(boot.kernel, boot.initramfs, shape, command_line, files, f"/dev/fd/{console_fd}"),
        *(argument for disk in disks for argument in _disk(disk)),
        *_network(forwarded, restrict=not shape.internet),
    ]


def probe_command(images: BootFiles, accelerator: str, console: Path) -> list[str]:
    """A VM that only boots our initramfs to its first line and ends (`alephnet.probe`)."""
    shape = VmShape(accelerator, 1, MIN_MEMORY_MIB, internet=False)
    return [
        QEMU,
        *_machine(shape),
        *("-kernel", str(images.kernel), "-initrd", str(images.initramfs)),
        *("-append", f"{shape.kernel_command_line} alephnet.probe"),
        *("-display", "none", "-monitor", "none", "-no-reboot"),
        *("-serial", f"file:{_escaped(console)}"),
    ]


def _booted(
    kernel: Path,
    initramfs: Path,
    shape: VmShape,
    command_line: str,
    files: VmFiles,
    console: str | None = None,
) -> list[str]:
    """What every VM has: machine, kernel and initramfs, console (`files.console` unless
    another file is named), QMP socket."""
    return [
        QEMU,
        *_machine(shape),
        *("-kernel", str(kernel), "-initrd", str(initramfs)),
        *("-append", command_line),
        *("-display", "none", "-monitor", "none", "-no-reboot"),
        *("-serial", f"file:{console or _escaped(files.console)}"),
        *("-qmp", f"unix:{_escaped(files.qmp)},server=on,wait=off"),
    ]


def _machine(shape: VmShape) -> list[str]:
    # Under KVM `-cpu host` also needs `-arch-capabilities` on these nested hosts (DESIGN.md).
    cpu = "host,-arch-capabilities" if shape.accelerator == "kvm" else "max"
    accelerator = shape.accelerator
    if accelerator == "tcg" and shape.translation_cache_mib:
        accelerator += f",tb-size={shape.translation_cache_mib}"
    return [
        *("-M", "microvm", "-accel", accelerator, "-cpu", cpu),
        *("-smp", str(max(1, shape.vcpus)), "-m", str(max(MIN_MEMORY_MIB, shape.memory_mib))),
    ]


def _channel(socket: Path) -> list[str]:
    return [
        *("-device", "virtio-serial-device"),
        *("-chardev", f"socket,id=channel,path={_escaped(socket)},server=on,wait=off"),
        *("-device", f"virtserialport,chardev=channel,name={CHANNEL_NAME}"),
    ]


def _disk(disk: Disk) -> list[str]:
    read_only = "on" if disk.read_only else "off"
    return [
        *(
            "-drive",
            f"id={disk.serial},file={_escaped(disk.path)},format=raw,if=none,readonly={read_only}",
        ),
        *("-device", f"virtio-blk-device,drive={disk.serial},serial={disk.serial}"),
    ]


def _network(forwarded: dict[int, PortForward] | None = None, restrict: bool = False) -> list[str]:
    options = ["user", "id=net0", *(["restrict=on"] if restrict else [])]
    for guest, forward in (forwarded or {}).items():
        for protocol, wanted in (("tcp", forward.tcp), ("udp", forward.udp)):
            if wanted:
                options.append(f"hostfwd={protocol}:127.0.0.1:{forward.host}-:{guest}")
    return ["-netdev", ",".join(options), "-device", "virtio-net-device,netdev=net0"]


def _escaped(path: Path) -> str:
    """A path inside a QEMU option list, where a comma is written twice."""
    return str(path).replace(",", ",,")
