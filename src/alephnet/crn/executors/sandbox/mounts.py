"""What the sandbox sees: a read-only runtime root borrowed from the host, plus the program's
code and volumes.

The root holds the host's system folders (`/usr` and its merged-`/usr` links), a short list of
harmless files from `/etc` (name resolution, certificates, time zone), the Python interpreter's
prefix, and, under `/opt/alephnet/`, only the `alephnet` package and the site-packages of its
environment, so that a program can `import alephnet.sdk`. Nothing else of the host is there:
not the CRN's data dir nor its keys, not /root, not the source tree.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import alephnet
from alephnet.crn.executors.base import ExecutionSpec, ExecutorError, VolumeKind, VolumeSpec
from alephnet.crn.executors.sandbox.volumes import HOST_MOUNTS
from alephnet.crn.guest.configuration import GuestVolume

SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
    # Not /etc/ssl as a whole: the program is uid 0 (without capabilities) and would read
    # root's private keys in /etc/ssl/private as their owner.
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/alternatives",
)
PACKAGE_ROOT = Path("/opt/alephnet")
# The parts of the package a sandboxed process imports: the guest, and what programs use.
PRECOMPILED = ("crn/guest", "sdk", "protocol")
CODE_FOLDER = "/opt/code"
# Where zip and plain code go: the guest writes it there from the CONFIGURE frame.
CODE_TMPFS = ["--tmpfs", CODE_FOLDER]


@dataclass(frozen=True)
class RuntimeRoot:
    """The host paths lent read-only to every sandbox."""

    interpreter: Path
    python_prefix: Path
    package: Path
    site_packages: tuple[Path, ...]

    @classmethod
    def of_this_process(cls) -> RuntimeRoot:
        """The interpreter and packages this CRN runs with: the guest runs on the same ones."""
        prefix = Path(sys.base_prefix).resolve()
        interpreter = Path(sys.executable).resolve()
        if not interpreter.is_relative_to(prefix) and not interpreter.is_relative_to("/usr"):
            interpreter = prefix / "bin" / f"python{sys.version_info.major}"
        package = Path(alephnet.__file__).resolve().parent
        site_packages = tuple(
            Path(path).resolve()
            for path in sys.path
            if path.endswith("site-packages") and Path(path).is_dir()
        )
        return cls(interpreter, prefix, package, site_packages)

    def precompile(self) -> None:
        """Write the bytecode of what the sandbox imports, next to the sources.

        The package is read-only in the sandbox, so a missing `.pyc` is compiled again at
        every start: 30-40 ms of each cold start for the guest alone. A source tree, or a host
        run with PYTHONDONTWRITEBYTECODE, has none until this writes them. A package that
        cannot be written to (a system install) already has its bytecode.
        """
        with contextlib.suppress(OSError):
            for name in ("__init__.py", "crn/__init__.py"):
                compileall.compile_file(self.package / name, quiet=2)
            for folder in PRECOMPILED:
                compileall.compile_dir(self.package / folder, quiet=2)

    @property
    def python_path(self) -> str:
        folders = [PACKAGE_ROOT / "lib"]
        folders += [PACKAGE_ROOT / f"site-packages-{n}" for n in range(len(self.site_packages))]
        return ":".join(str(folder) for folder in folders)

    def bwrap_arguments(self) -> list[str]:
        arguments: list[str] = []
        for folder in SYSTEM_FOLDERS:
            if os.path.islink(folder):
                arguments += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                arguments += ["--ro-bind", folder, folder]
        for path in ETC_FILES:
            arguments += ["--ro-bind-try", path, path]
        if not self.python_prefix.is_relative_to("/usr"):
            arguments += ["--ro-bind", str(self.python_prefix), str(self.python_prefix)]
        arguments += ["--ro-bind", str(self.package), str(PACKAGE_ROOT / "lib" / "alephnet")]
        for n, site in enumerate(self.site_packages):
            arguments += ["--ro-bind", str(site), str(PACKAGE_ROOT / f"site-packages-{n}")]
        return arguments


@dataclass
class ProgramMounts:
    """The code and volumes of one execution, as bwrap arguments and as the guest sees them."""

    arguments: list[str] = field(default_factory=list)
    volumes: list[GuestVolume] = field(default_factory=list)
    code: bytes = b""
    code_mount: str | None = None
    # The persistent volumes mounted on the host for this execution (`volumes.HOST_MOUNTS`).
    host_mounts: list[Path] = field(default_factory=list)

    def release(self) -> None:
        """Give back the host mounts, once the sandbox is gone (or never started)."""
        while self.host_mounts:
            HOST_MOUNTS.release(self.host_mounts.pop())


async def program_mounts(spec: ExecutionSpec) -> ProgramMounts:
    mounts = ProgramMounts()
    try:
        if spec.code.encoding == "squashfs":
            folder = await extracted_image(spec.code.path)
            mounts.arguments += ["--ro-bind", str(folder), CODE_FOLDER]
            mounts.code_mount = CODE_FOLDER
        else:
            mounts.arguments += CODE_TMPFS
            mounts.code = read_code(spec.code.path)
        for volume in spec.volumes:
            mounts.arguments += await volume_arguments(volume, mounts)
            read_only = volume.read_only or volume.kind is VolumeKind.IMMUTABLE
            mounts.volumes.append(GuestVolume(volume.mount, None, read_only))
    except BaseException:
        mounts.release()
        raise
    return mounts


def read_code(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ExecutorError(f"cannot read the program's code {path}: {error}") from error


async def volume_arguments(volume: VolumeSpec, mounts: ProgramMounts) -> list[str]:
    if volume.kind is VolumeKind.EPHEMERAL:
        size = (volume.size_mib or 0) * 1024 * 1024
        return [*(["--size", str(size)] if size else []), "--tmpfs", volume.mount]
    if volume.host_path is None:
        raise ExecutorError(f"the {volume.kind} volume at {volume.mount} has no host path")
    if volume.kind is VolumeKind.IMMUTABLE:
        return ["--ro-bind", str(await extracted_image(volume.host_path)), volume.mount]
    folder = HOST_MOUNTS.acquire(volume.host_path, volume.size_mib)
    mounts.host_mounts.append(volume.host_path)
    return ["--ro-bind" if volume.read_only else "--bind", str(folder), volume.mount]


async def extracted_image(image: Path) -> Path:
    """The squashfs `image` extracted into a folder beside it, once.

    Extraction goes to a private folder renamed into place, so that concurrent starts of the
    same program never see half an extraction.
    """
    target = image.with_name(f"{image.name}.extracted")
    if target.is_dir():
        return target
    if not image.is_file():
        raise ExecutorError(f"the squashfs image {image} does not exist")
    partial = image.with_name(f"{image.name}.extracting-{uuid.uuid4().hex}")
    process = await asyncio.create_subprocess_exec(
        "unsquashfs",
        "-no-progress",
        "-quiet",
        "-d",
        str(partial),
        str(image),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ExecutorError(f"cannot extract {image}: {errors.decode(errors='replace').strip()}")
    try:
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # another start extracted it first
    return target
