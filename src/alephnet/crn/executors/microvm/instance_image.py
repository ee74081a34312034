"""The base image of instances: a raw ext4 disk of Debian bookworm that boots to sshd.

Built at install time next to the runtime rootfs (`scripts/build-crn-runtime`), cached as
`instance-rootfs-<hash>.ext4` and published by the CRN as a STORE file that INSTANCE messages
name as `rootfs.parent`. It is debootstrap minbase plus:
- openssh-server, configured for key-only root login; no host key (each instance makes its
  own on its first boot: see `init.sh`) and no password anywhere;
- systemd as init: under TCG here it reaches sshd in ~15 s where sysvinit's shell scripts
  took ~60 s (docs/crn-microvm.md "Instances"), with the units a micro-VM has no use for
  masked (`MASKED_UNITS`);
- acpid, which powers the guest off on the ACPI power button (QMP `system_powerdown`):
  systemd-logind would need udev to find the button;
- iproute2, for the owner. The network itself is set by our init before the image's.
The file system is shrunk to its content (`resize2fs -M`); each instance's copy is grown to
its `size_mib` when it is first started (`instance_disks`).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from alephnet.crn.executors.base import ExecutorError
from alephnet.crn.executors.disk_images import make_ext4
from alephnet.crn.executors.microvm.images import (
    DEBIAN_MIRROR,
    DEBIAN_SUITE,
    DOCUMENTATION_PATHS,
    built_once,
    cache_dir,
    debootstrap,
    remove_replaced,
    run_step,
    staged_copy,
)

INSTANCE_PACKAGES = ("openssh-server", "systemd-sysv", "acpid", "iproute2")
SSHD_CONFIG = """\
# alephnet instances: the owner's keys, as root, and nothing else.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
"""
POWER_BUTTON_EVENT = """\
# QMP system_powerdown reaches the guest as the ACPI power button.
event=button/power.*
action=/sbin/poweroff
"""
# What the image does without: docs, translations, package lists and caches (apt-get update
# brings the lists back), the build host's resolver, the host keys of the build.
TRIMMED_PATHS = (
    *DOCUMENTATION_PATHS,
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "etc/resolv.conf",
)
# What a VM with no console login, no kernel modules on its disk (our initramfs loads them)
# and no debugfs users does without; each unit costs ~0.2-5 s of a TCG boot (systemd-analyze
# blame). Timers: an idle instance stays idle.
MASKED_UNITS = (
    "getty@tty1.service",
    "serial-getty@ttyS0.service",
    "getty-static.service",
    "modprobe@.service",
    "e2scrub_reap.service",
    "dev-hugepages.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
)
MKFS_OPTIONS = ("-b", "4096")
# mkfs needs a size before it copies the tree in; the file system is shrunk afterwards.
SLACK_FACTOR = 1.3
SLACK_MIB = 64


class InstanceImageMissing(ExecutorError):
    """The instance base image was never built on this machine (it needs the Debian mirror)."""


def instance_rootfs(build: bool = False) -> Path:
    """The instance base image, the file a CRN publishes for INSTANCE messages' `rootfs`."""
    target = cache_dir() / f"instance-rootfs-{_image_key()}.ext4"
    base = cache_dir() / f"instance-base-{_base_key()}"

    def make() -> None:
        debootstrap(
            base,
            INSTANCE_PACKAGES,
            "debootstrap of the instance image (it needs the Debian mirror)",
        )
        _pack(base, target)
        _remove_old_images(base, target)

    built_once(target, base, build, make, InstanceImageMissing, "the instance base image")
    return target


def _remove_old_images(base: Path, target: Path) -> None:
    """Drop the image and base an input change replaced."""
    remove_replaced(target, "instance-rootfs-*.ext4")
    for old_base in cache_dir().glob("instance-base-*"):
        if old_base != base:
            shutil.rmtree(old_base, ignore_errors=True)


def _base_key() -> str:
    inputs = f"{DEBIAN_SUITE} {DEBIAN_MIRROR} {INSTANCE_PACKAGES}"
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


def _image_key() -> str:
    inputs = (
        f"{_base_key()} {SSHD_CONFIG} {POWER_BUTTON_EVENT} {TRIMMED_PATHS} {MASKED_UNITS} "
        f"{MKFS_OPTIONS}"
    )
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


def _pack(base: Path, target: Path) -> None:
    with staged_copy(base, "the base") as root:
        _configure(root)
        image = root.parent / "image.ext4"
        # 4 KiB blocks: mkfs would pick 1 KiB ones for a disk this small, and the instances
        # grow it to gigabytes.
        make_ext4(image, _size_mib(root), journal=True, content=root, options=MKFS_OPTIONS)
        shrink_to_content(image)
        partial = target.with_suffix(".partial")
        shutil.move(image, partial)
        partial.rename(target)


def _configure(root: Path) -> None:
    for trimmed in TRIMMED_PATHS:
        path = root / trimmed
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for host_key in (root / "etc" / "ssh").glob("ssh_host_*"):
        host_key.unlink()
    (root / "etc" / "ssh" / "sshd_config.d" / "alephnet.conf").write_text(SSHD_CONFIG)
    (root / "etc" / "acpi" / "events" / "powerbutton").write_text(POWER_BUTTON_EVENT)
    for unit in MASKED_UNITS:
        (root / "etc" / "systemd" / "system" / unit).symlink_to("/dev/null")
    # Empty: systemd makes each instance its own machine id on its first boot.
    (root / "etc" / "machine-id").write_text("")


def _size_mib(root: Path) -> int:
    used = subprocess.run(
        ["du", "-s", "--block-size=1M", str(root)], capture_output=True, text=True, check=True
    )
    return int(int(used.stdout.split()[0]) * SLACK_FACTOR) + SLACK_MIB


def shrink_to_content(image: Path) -> None:
    """The file system at its minimum size (`resize2fs -M`), and the file cut to match."""
    run_step(["e2fsck", "-f", "-y", str(image)], f"checking {image.name}")
    run_step(["resize2fs", "-M", str(image)], f"shrinking {image.name}")
    with image.open("r+b") as file:
        file.truncate(filesystem_bytes(image))


def filesystem_bytes(image: Path) -> int:
    """The size of the ext4 file system in `image`, from its superblock."""
    result = subprocess.run(
        ["dumpe2fs", "-h", str(image)], capture_output=True, text=True, check=False
    )
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    try:
        return int(fields["Block count"]) * int(fields["Block size"])
    except (KeyError, ValueError):
        raise ExecutorError(f"{image} holds no ext4 file system: {result.stderr.strip()}") from None
