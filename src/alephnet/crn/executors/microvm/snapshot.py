"""Boot once, restore many: a saved VM paused right after its guest runtime said READY.

Under TCG a boot is seconds of kernel, init and Python imports, all identical for every
program with the same VM shape. So the first start of a shape saves the VM (QMP `stop`,
`migrate` to a file: ~100 MB of touched RAM for a 256 MiB guest) right after READY, then lets
it go on; later starts launch QEMU with `-incoming` from that file, `cont`, and send
CONFIGURE: a fraction of a second instead of a boot.

A saved state only fits a VM with the same devices, so only VMs without program disks (zip or
plain code, no volumes) use it; the file is keyed by everything that shapes the VM: images,
accelerator, vCPUs, memory, network. The SDK image (`sdk_image`) is one of the images: the
saved guest has it mounted, so a new SDK image drops the saved VMs, as a new runtime does.
The clones share the template's state: the kernel's random pool, address-space layout and
Python's hash seed are the same in each of them (`MicroVMExecutor(snapshots=False)` boots
every VM instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shlex
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alephnet.crn.executors.microvm.images import BootImages, cache_dir
from alephnet.crn.executors.microvm.qemu import VmShape
from alephnet.crn.executors.microvm.qmp import QmpError, qmp_execute

SAVE_TIMEOUT = 60.0
POLL_SECONDS = 0.02
MIGRATION_ENDS = ("completed", "failed", "cancelled")


def snapshot_path(images: BootImages, shape: VmShape) -> Path:
    parts = [shape.accelerator, shape.vcpus, shape.memory_mib, shape.internet]
    for image in (images.kernel, images.initramfs, images.rootfs, images.sdk):
        if image is None:
            parts.append("no sdk")
            continue
        status = image.stat()
        parts += [image.name, status.st_size, status.st_mtime_ns]
    key = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    return cache_dir() / "snapshots" / f"ready-{key}.state"


def incoming_arguments(snapshot: Path) -> list[str]:
    return ["-incoming", f"exec:cat {shlex.quote(str(snapshot))}"]


async def save_ready_vm(qmp: Path, snapshot: Path) -> None:
    """Pause the VM, write its state to `snapshot`, resume it. A failure leaves no file."""
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    partial = snapshot.with_name(f"{snapshot.name}.{uuid.uuid4().hex}.partial")
    try:
        await qmp_execute(
            qmp, ("stop", {}), ("migrate", {"uri": f"exec:cat > {shlex.quote(str(partial))}"})
        )
        await _until(qmp, "query-migrate", lambda answer: answer.get("status") in MIGRATION_ENDS)
        (status,) = await qmp_execute(qmp, ("query-migrate", {}))
        if status.get("status") != "completed":
            raise QmpError(f"saving the VM: {status.get('error-desc', status.get('status'))}")
        partial.rename(snapshot)
    finally:
        partial.unlink(missing_ok=True)
        with contextlib.suppress(QmpError):
            await qmp_execute(qmp, ("cont", {}))


async def resume_restored_vm(qmp: Path) -> None:
    """Wait until QEMU has read the saved state, then let the VM run."""
    await _until(qmp, "query-status", lambda answer: answer.get("status") != "inmigrate")
    await qmp_execute(qmp, ("cont", {}))


async def _until(qmp: Path, query: str, done: Callable[[dict[str, Any]], bool]) -> None:
    deadline = time.monotonic() + SAVE_TIMEOUT
    while time.monotonic() < deadline:
        (answer,) = await qmp_execute(qmp, (query, {}))
        if done(answer):
            return
        await asyncio.sleep(POLL_SECONDS)
    raise QmpError(f"{query}: no change in {SAVE_TIMEOUT} s")
