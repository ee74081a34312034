"""The SDK image: `alephnet.sdk` and the packages it imports, for programs in micro-VMs.

The runtime rootfs carries only the stdlib-only guest runtime, so that its hash (and the saved
VMs booted from it) does not change with every edit of the SDK. The SDK goes to the VM as its
own read-only squashfs instead, the disk `sdk`, which init mounts at `/opt/sdk`; the guest
puts that folder last on `sys.path` and extends its `alephnet` package's `__path__` to
`/opt/sdk/alephnet` (`alephnet.crn.guest.code`), so nothing is read from it until a program
imports the SDK.

Its content is the SDK's import closure in the CRN's venv (`sdk_closure`: the `alephnet`
subpackages it loads, the CRN and CCN left out, and the installed distributions it needs),
byte-compiled for the guest's `python3 -OO` by the venv's own Python 3.11 (the guest's
bookworm Python 3.11 reads the same bytecode and the same CPython 3.11 wheels). It is cached
as `sdk-<hash>.squashfs`, the hash covering the closure's paths, sizes and modification
times: computed once per process (a subprocess import, under a second), built on first need
(a few seconds of compiling and mksquashfs) or by `scripts/build-crn-runtime`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alephnet.crn.executors.base import ExecutorError
from alephnet.crn.executors.microvm.images import (
    cache_dir,
    cache_lock,
    pack_squashfs,
    remove_older,
    run_step,
)

CLOSURE_SCRIPT = Path(__file__).with_name("sdk_closure.py")


@functools.cache
def sdk_image() -> Path:
    """The SDK squashfs for this venv, built if missing (no network needed)."""
    closure = sdk_closure()
    target = cache_dir() / f"sdk-{_closure_key(closure)}.squashfs"
    if not target.exists():
        with cache_lock():
            if not target.exists():
                _build(closure, target)
                remove_older(target, "sdk-*.squashfs")
    return target


def sdk_closure() -> list[tuple[Path, str]]:
    """`(source, path in the image)` of every file a program needs to import the SDK."""
    result = subprocess.run(
        [sys.executable, str(CLOSURE_SCRIPT)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ExecutorError(f"listing the SDK's import closure failed:\n{result.stderr[-2000:]}")
    return [(Path(source), destination) for source, destination in json.loads(result.stdout)]


def _closure_key(closure: list[tuple[Path, str]]) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for source, destination in closure:
        status = source.stat()
        digest.update(f"{destination} {status.st_size} {status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _build(closure: list[tuple[Path, str]], target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=cache_dir()) as staging:
        root = Path(staging) / "sdk"
        for source, destination in closure:
            (root / destination).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / destination)
        run_step(
            [sys.executable, "-OO", "-m", "compileall", "-q", "-j0", str(root)],
            "byte-compiling the SDK image",
        )
        pack_squashfs(root, target, "the SDK image")
