"""The micro-VM's boot images: the guest kernel, our initramfs and the runtime root filesystem.

- kernel: the host's Debian kernel (`/boot/vmlinuz-*`, package linux-image-amd64), unpacked
  once to its ELF `vmlinux`, which QEMU boots directly through the PVH entry point: under TCG,
  the bzImage's own xz decompression costs seconds of every boot.
- initramfs: busybox, `init.sh` as `/init`, and the few kernel modules the VM needs, copied
  from `/lib/modules/<version>` (the Debian kernel has virtio, squashfs, overlay and ext4 as
  modules, not built in).
- runtime rootfs: Debian bookworm (debootstrap minbase + python3), trimmed, with the guest
  runtime package (`alephnet.crn.guest`) under `/opt/alephnet` and everything byte-compiled
  for `python3 -OO`, packed as a zstd squashfs the VM mounts read-only.

Each image is cached under `${ALEPHNET_CACHE:-~/.cache/alephnet}/crn/`, named by a hash of its
inputs, so a second build reuses it and a changed input (a new kernel, an edited guest module)
builds a new one. debootstrap needs the Debian mirror, which is only reachable at install time:
`scripts/build-crn-runtime` runs the build from `./run`; at run time a missing image is an
`ExecutorError` that says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import lzma
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import alephnet.crn.guest
from alephnet.crn.executors.base import ExecutorError

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_PACKAGES = ("python3",)
# What the VM needs from the kernel's modules; `_module_load_order` adds their dependencies.
KERNEL_MODULES = (
    "virtio_mmio",
    "virtio_blk",
    "virtio_console",
    "virtio_net",
    "squashfs",
    "overlay",
    # ext4 asks the crypto API for crc32c when it mounts; without it mount fails with ENOENT.
    "crc32c_generic",
    "ext4",
)
# What only instances load: the ACPI power button (and its input events, which the image's
# acpid reads) so that a QMP `system_powerdown` shuts the guest down cleanly.
INSTANCE_MODULES = ("button", "evdev")
# What no guest reads: documentation and translations.
DOCUMENTATION_PATHS = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
)
# What the runtime rootfs does without: documentation, translations, package caches.
TRIMMED_PATHS = (
    *DOCUMENTATION_PATHS,
    "usr/share/common-licenses",
    "var/cache/apt",
    "var/cache/debconf",
    "var/lib/apt/lists",
    "var/log",
)
BUSYBOX = Path("/bin/busybox")
INIT_SCRIPT = Path(__file__).with_name("init.sh")
GUEST_PACKAGE = Path(alephnet.crn.guest.__file__).parent
# The guest package's parents, whose `__init__.py` the import of `alephnet.crn.guest` runs.
PACKAGE_ROOT = GUEST_PACKAGE.parent.parent.parent


class RuntimeImageMissing(ExecutorError):
    """The runtime rootfs was never built on this machine (it needs the Debian mirror)."""


@dataclass(frozen=True)
class BootFiles:
    """The kernel and our initramfs: all an instance VM boots besides its own disk."""

    kernel: Path
    initramfs: Path


@dataclass(frozen=True)
class BootImages(BootFiles):
    rootfs: Path
    # The SDK's squashfs (`sdk_image`), attached to program VMs as the disk `sdk`.
    sdk: Path | None = None


def cache_dir() -> Path:
    base = os.environ.get("ALEPHNET_CACHE") or Path.home() / ".cache" / "alephnet"
    return Path(base) / "crn"


def guest_kernel() -> Path:
    """The newest Debian kernel in /boot: the guest boots the host's kernel package."""
    kernels = sorted(Path("/boot").glob("vmlinuz-*"), key=lambda path: path.stat().st_mtime)
    if not kernels:
        raise ExecutorError("no /boot/vmlinuz-*: install the Debian package linux-image-amd64")
    return kernels[-1]


def kernel_version(kernel: Path) -> str:
    return kernel.name.removeprefix("vmlinuz-")


def boot_images(build: bool = False) -> BootImages:
    """The images to boot, built (and cached) first when `build` is true.

    Without `build`, only the initramfs (local inputs, a second to build) is made if missing;
    a missing rootfs raises `RuntimeImageMissing`, since building it needs the network.
    """
    boot = boot_files()
    return BootImages(boot.kernel, boot.initramfs, runtime_rootfs(build=build))


def boot_files() -> BootFiles:
    """The kernel and initramfs, made from local files only (no network): always available."""
    kernel = guest_kernel()
    return BootFiles(unpacked_kernel(kernel), build_initramfs(kernel))


def unpacked_kernel(bzimage: Path) -> Path:
    """The ELF kernel inside a bzImage (xz or gzip payload), cached; the bzImage itself when
    its payload is in another format."""
    status = bzimage.stat()
    target = (
        cache_dir() / f"vmlinux-{kernel_version(bzimage)}-{status.st_size}-{status.st_mtime_ns}"
    )
    if target.exists():
        return target
    elf = _elf_payload(bzimage.read_bytes())
    if elf is None:
        return bzimage
    with cache_lock():
        partial = target.with_suffix(".partial")
        partial.write_bytes(elf)
        partial.rename(target)
    remove_older(target, f"vmlinux-{kernel_version(bzimage)}-*")
    return target


def _elf_payload(bzimage: bytes) -> bytes | None:
    for magic, unpack in ((b"\xfd7zXZ\x00", _unxz), (b"\x1f\x8b\x08", _gunzip)):
        start = bzimage.find(magic)
        if start < 0:
            continue
        try:
            elf = unpack(bzimage[start:])
        except (lzma.LZMAError, zlib.error):
            continue
        if elf.startswith(b"\x7fELF"):
            return elf
    return None


def _unxz(data: bytes) -> bytes:
    """Decompress the first xz stream, ignoring what follows it (the bzImage's trailer)."""
    return lzma.LZMADecompressor().decompress(data)


def _gunzip(data: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def runtime_rootfs(build: bool = False) -> Path:
    """The runtime rootfs squashfs, the file a CRN publishes to its CCN as `runtime.ref`."""
    target = cache_dir() / f"runtime-{_runtime_key()}.squashfs"
    base = _base_dir()

    def make() -> None:
        _build_base(base)
        _pack_runtime(base, target)

    built_once(target, base, build, make, RuntimeImageMissing, "the micro-VM runtime image")
    return target


def built_once(
    target: Path,
    base: Path,
    build: bool,
    make: Callable[[], None],
    missing: type[ExecutorError],
    what: str,
) -> None:
    """`target` made by `make` unless it is cached, one build at a time. Without `build`, a
    missing debootstrapped `base` raises `missing`, saying what to do: building it needs the
    Debian mirror, which only install time has; an image over an existing base is local work."""
    if target.exists():
        return
    if not build and not base.exists():
        raise missing(
            f"{what} is not built ({target} is missing): run scripts/build-crn-runtime "
            "(it needs the Debian mirror, so run it at install time)"
        )
    with cache_lock():
        if not target.exists():
            make()


def build_initramfs(kernel: Path) -> Path:
    modules_dir = Path("/lib/modules") / kernel_version(kernel)
    program_modules = _module_load_order(modules_dir, KERNEL_MODULES)
    instance_modules = [
        module
        for module in _module_load_order(modules_dir, KERNEL_MODULES + INSTANCE_MODULES)
        if module not in program_modules
    ]
    modules = [modules_dir / module for module in program_modules + instance_modules]
    key = _hash_files([BUSYBOX, INIT_SCRIPT, *modules])
    target = cache_dir() / f"initramfs-{kernel_version(kernel)}-{key}.cpio"
    if target.exists():
        return target
    with cache_lock(), tempfile.TemporaryDirectory(dir=cache_dir()) as staging:
        root = Path(staging)
        (root / "bin").mkdir()
        shutil.copy(BUSYBOX, root / "bin" / "busybox")
        shutil.copy(INIT_SCRIPT, root / "init")
        (root / "init").chmod(0o755)
        (root / "lib" / "modules").mkdir(parents=True)
        for module in modules:
            shutil.copy(module, root / "lib" / "modules" / module.name)
        (root / "etc").mkdir()
        for name, listed in (("modules", program_modules), ("modules-instance", instance_modules)):
            (root / "etc" / name).write_text("\n".join(Path(module).name for module in listed))
        _write_cpio(root, target)
    remove_older(target, f"initramfs-{kernel_version(kernel)}-*.cpio")
    return target


def _module_load_order(modules_dir: Path, wanted: tuple[str, ...]) -> list[str]:
    """The module files to `insmod`, each after its dependencies (from `modules.dep`)."""
    dependencies: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        module, _, needs = line.partition(":")
        dependencies[module] = needs.split()
    by_name = {Path(module).name.split(".ko")[0]: module for module in dependencies}
    order: list[str] = []

    def visit(module: str) -> None:
        if module in order:
            return
        for dependency in dependencies[module]:
            visit(dependency)
        order.append(module)

    for name in wanted:
        if name not in by_name:
            raise ExecutorError(f"kernel module {name} not found under {modules_dir}")
        visit(by_name[name])
    return order


def _write_cpio(root: Path, target: Path) -> None:
    """Pack `root` as an uncompressed newc archive: under TCG, decompressing costs more than
    reading the few extra megabytes."""
    names = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    partial = target.with_suffix(".partial")
    with partial.open("wb") as output:
        subprocess.run(
            ["cpio", "--create", "--format=newc", "--owner=0:0", "--quiet"],
            input="\n".join(names).encode(),
            stdout=output,
            cwd=root,
            check=True,
        )
    partial.rename(target)


def _base_key() -> str:
    return hashlib.sha256(
        f"{DEBIAN_SUITE} {DEBIAN_MIRROR} {DEBIAN_PACKAGES} {TRIMMED_PATHS}".encode()
    ).hexdigest()[:16]


def _base_dir() -> Path:
    return cache_dir() / f"base-{_base_key()}"


def _runtime_key() -> str:
    sources = sorted(GUEST_PACKAGE.rglob("*.py"))
    parents = [PACKAGE_ROOT / "alephnet" / "__init__.py", PACKAGE_ROOT / "alephnet/crn/__init__.py"]
    return hashlib.sha256(
        f"{_base_key()} {_hash_files([*parents, *sources])}".encode()
    ).hexdigest()[:16]


def _build_base(base: Path) -> None:
    """debootstrap a minimal Debian with python3, trimmed and byte-compiled for `-OO`."""
    debootstrap(
        base,
        DEBIAN_PACKAGES,
        "debootstrap (it needs the Debian mirror: is the network up?)",
        finish=_trim_and_compile,
    )


def _trim_and_compile(root: Path) -> None:
    for trimmed in TRIMMED_PATHS:
        shutil.rmtree(root / trimmed, ignore_errors=True)
    run_step(
        [
            "chroot",
            str(root),
            "python3",
            "-OO",
            "-m",
            "compileall",
            "-q",
            "-j0",
            "/usr/lib/python3.11",
        ],
        "byte-compiling the guest's standard library",
    )


def debootstrap(
    base: Path,
    packages: tuple[str, ...],
    what: str,
    finish: Callable[[Path], None] | None = None,
) -> None:
    """A Debian minbase with `packages` at `base`, `finish`ed in place; built under a
    `.partial` name renamed at the end, so that a failed or interrupted build (the mirror
    gone mid-way) is never taken for a finished one."""
    if base.exists():
        return
    partial = base.with_name(base.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        DEBIAN_SUITE,
        str(partial),
        DEBIAN_MIRROR,
    ]
    try:
        run_step(command, what)
        if finish is not None:
            finish(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(base)


@contextlib.contextmanager
def staged_copy(base: Path, what: str) -> Iterator[Path]:
    """A copy of `base` to make an image from, in a temporary folder of the cache: on the same
    file system, so the copy can share blocks (reflink) and the image be renamed into place."""
    with tempfile.TemporaryDirectory(dir=cache_dir()) as staging:
        root = Path(staging) / "root"
        run_step(["cp", "-a", "--reflink=auto", str(base), str(root)], f"copying {what}")
        yield root


def _pack_runtime(base: Path, target: Path) -> None:
    """Copy the base, add the guest package under /opt/alephnet, compile it, squash it."""
    with staged_copy(base, "the base rootfs") as root:
        destination = root / "opt" / "alephnet" / "alephnet"
        shutil.copytree(
            GUEST_PACKAGE,
            destination / "crn" / "guest",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        shutil.copy(PACKAGE_ROOT / "alephnet" / "__init__.py", destination / "__init__.py")
        shutil.copy(PACKAGE_ROOT / "alephnet" / "crn" / "__init__.py", destination / "crn")
        run_step(
            ["chroot", str(root), "python3", "-OO", "-m", "compileall", "-q", "/opt/alephnet"],
            "byte-compiling the guest runtime",
        )
        pack_squashfs(root, target, "the runtime rootfs")
    remove_older(target, "runtime-*.squashfs")


def remove_older(kept: Path, pattern: str) -> None:
    """Drop the images an input change replaced, and the saved VMs (`snapshot`), which were
    booted from the old ones."""
    remove_replaced(kept, pattern)
    shutil.rmtree(cache_dir() / "snapshots", ignore_errors=True)


def remove_replaced(kept: Path, pattern: str) -> None:
    """Drop the images an input change replaced (a VM still running on one keeps it open)."""
    for old in kept.parent.glob(pattern):
        if old != kept:
            old.unlink(missing_ok=True)


def pack_squashfs(root: Path, target: Path, what: str) -> None:
    """Packed under a `.partial` name, then renamed: a cached image is never a half-written one."""
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    run_step(
        ["mksquashfs", str(root), str(partial), "-comp", "zstd", "-noappend", "-quiet"],
        f"mksquashfs of {what}",
    )
    partial.rename(target)


def run_step(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise ExecutorError(f"{what} failed (status {result.returncode}):\n" + "\n".join(output))


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """One build at a time per cache dir (parallel test workers, a CRN and a script)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main() -> None:
    """`scripts/build-crn-runtime`: build what is missing, print the image paths."""
    # Imported here: the instance image module builds on this one.
    from alephnet.crn.executors.microvm.instance_image import instance_rootfs
    from alephnet.crn.executors.microvm.sdk_image import sdk_image

    images = boot_images(build=True)
    for name, path in (
        ("kernel", images.kernel),
        ("initramfs", images.initramfs),
        ("rootfs", images.rootfs),
        ("sdk", sdk_image()),
        ("instance rootfs", instance_rootfs(build=True)),
    ):
        print(f"{name}: {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
