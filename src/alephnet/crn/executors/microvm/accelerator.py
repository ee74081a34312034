"""KVM or TCG: KVM only when a probe VM boots under it, once per kernel, cached.

`/dev/kvm` existing is not enough: on nested hosts like ours the Debian kernel hangs early
under KVM (DESIGN.md), so the probe boots the real kernel and initramfs with `alephnet.probe`
on the command line (the init prints one line and reboots) and gives it `PROBE_SECONDS`. A
working KVM does that in well under a second. The answer is kept in the cache dir, keyed by
the kernel, so the cost is paid once per machine and kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from alephnet.crn.executors.microvm.images import BootFiles, cache_dir
from alephnet.crn.executors.microvm.qemu import probe_command

logger = logging.getLogger(__name__)

PROBE_SECONDS = 15.0
PROBE_SUCCESS = "alephnet-init: probe ok"


async def usable_accelerator(images: BootFiles) -> str:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    record = cache_dir() / f"accelerator-{images.kernel.name}.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(json.loads(record.read_text())["accelerator"])
    accelerator = "kvm" if await kvm_boots(images) else "tcg"
    logger.info("micro-VM accelerator: %s (probe result cached in %s)", accelerator, record)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"accelerator": accelerator}) + "\n")
    return accelerator


async def kvm_boots(images: BootFiles, seconds: float = PROBE_SECONDS) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        console = Path(folder) / "console.log"
        process = await asyncio.create_subprocess_exec(
            *probe_command(images, "kvm", console),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(process.wait(), seconds)
        except TimeoutError:
            process.kill()
            await process.wait()
            return False
        return PROBE_SUCCESS in console.read_text(errors="replace")
