"""What a guest flooding its console costs the CRN: the instance console reader's CPU.

    .venv/bin/python -m bench.crn_console [--bytes 3000000]

A writer process plays QEMU's serial port at its worst: one `write()` per byte into the
`ConsolePipe`, as fast as it can. Measured: the CPU time of this process (the reader, the
CRN's side) for the whole flood, the wall time, and what the bounded console file holds at
the end. CPU time, not wall time, is the figure to compare on a shared host.

Prints the figures and writes bench/results/crn_console.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from alephnet.crn.executors.microvm.console import DEFAULT_KEEP_BYTES, ConsolePipe
from bench.report import report


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(flood_bytes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "console.log"
        console = ConsolePipe(path)
        flood = f"import os\nfor _ in range({flood_bytes}): os.write({console.qemu_fd}, b'x')"
        writer = subprocess.Popen([sys.executable, "-c", flood], pass_fds=(console.qemu_fd,))
        cpu, wall = cpu_seconds(), time.monotonic()
        await console.follow()
        await asyncio.to_thread(writer.wait)
        await console.drained()
        cpu, wall = cpu_seconds() - cpu, time.monotonic() - wall
        kept = path.stat().st_size
    return {
        "flood_bytes_one_per_write": flood_bytes,
        "reader_cpu_s": round(cpu, 3),
        "reader_cpu_us_per_kib": round(cpu * 1e6 / (flood_bytes / 1024), 2),
        "wall_s": round(wall, 2),
        "console_file_bytes": kept,
        "console_file_bound_bytes": 2 * DEFAULT_KEEP_BYTES,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=3_000_000)
    arguments = parser.parse_args()
    report("crn_console", asyncio.run(run(arguments.bytes)))


if __name__ == "__main__":
    main()
