"""The microvm executor: cold start, warm request latency, memory per idle VM.

    .venv/bin/python -m bench.crn_microvm [--runs 5] [--requests 200] [--label NAME]
                                          [--no-snapshots] [--translation-cache-mib N]

- cold start: `MicroVMExecutor.start()` of a hello-world ASGI app (zip) until its first
  response, p50 over `--runs` starts: restores of the VM saved at READY, or full boots with
  `--no-snapshots` (then also the guest's own boot: kernel + init, up to the moment init
  starts the runtime, read from the console).
- warm: one request after another on a started VM, p50 and p95 through `GuestLink`.
- memory: RSS of the idle QEMU process (guest RAM actually touched + QEMU itself, whose TCG
  translation cache is most of it: `--translation-cache-mib` sets its size, see qemu.py).
- CPU: QEMU's CPU seconds until the first response of a cold start (steadier than the wall
  clock on a shared host).

Prints a table and records it under `--label` in bench/results/crn_microvm.json (other labels
kept: before/after comparisons), with the load average, since under TCG a busy host moves
these figures a lot. Needs the images that `scripts/build-crn-runtime` builds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from alephnet.crn.executors.base import CodeSpec, ExecutionSpec, Resources
from alephnet.crn.executors.microvm import MicroVMExecution, MicroVMExecutor
from alephnet.crn.executors.microvm.qemu import TRANSLATION_CACHE_MIB

RESULTS = Path(__file__).parent / "results" / "crn_microvm.json"
HELLO_APP = """
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello world"})
"""
SCOPE = {"type": "http", "method": "GET", "path": "/", "query_string": "", "headers": []}
RUNTIME_STARTED = re.compile(r"alephnet-init: starting the guest runtime at ([0-9.]+)")


def hello_spec(folder: Path, name: str) -> ExecutionSpec:
    code = folder / "hello.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", HELLO_APP)
    code.write_bytes(buffer.getvalue())
    return ExecutionSpec(
        vm_hash="ef" * 32,
        resources=Resources(vcpus=1, memory_mib=256, seconds=30),
        code=CodeSpec(code, "zip", "main:app", "asgi"),
        internet=False,
        work_dir=folder / name,
    )


async def cold_start(executor: MicroVMExecutor, folder: Path, name: str) -> dict[str, float]:
    started = time.perf_counter()
    execution = await executor.start(hello_spec(folder, name))
    try:
        response = await execution.link.request(SCOPE, b"", timeout=30)
        total = time.perf_counter() - started
        cpu = cpu_seconds(execution.pid)
        assert response.body == b"hello world"
    finally:
        await execution.stop()
    found = RUNTIME_STARTED.search(execution.console_log.read_text(errors="replace"))
    guest_boot = float(found.group(1)) if found else float("nan")
    return {"total": total, "cpu": cpu, "guest_boot": guest_boot}


async def warm_latencies(execution: MicroVMExecution, requests: int) -> list[float]:
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        await execution.link.request(SCOPE, b"", timeout=30)
        latencies.append(time.perf_counter() - started)
    return latencies


def cpu_seconds(pid: int) -> float:
    """User + system time of a process (/proc/PID/stat, fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(
    runs: int, requests: int, snapshots: bool, translation_cache_mib: int
) -> dict[str, Any]:
    executor = MicroVMExecutor(snapshots=snapshots, translation_cache_mib=translation_cache_mib)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        # The first start pays for the KVM probe, page-cache misses and saving the VM.
        await cold_start(executor, folder, "warmup")
        colds = [await cold_start(executor, folder, f"cold{index}") for index in range(runs)]
        execution = await executor.start(hello_spec(folder, "warm"))
        try:
            latencies = await warm_latencies(execution, requests)
            await asyncio.sleep(2)
            idle_rss = rss_mib(execution.pid)
        finally:
            await execution.stop()
    totals = [cold["total"] for cold in colds]
    boots = [cold["guest_boot"] for cold in colds]
    return {
        "snapshots": snapshots,
        "translation_cache_mib": translation_cache_mib,
        "runs": runs,
        "cold_start_p50_s": statistics.median(totals),
        "cold_start_min_s": min(totals),
        "cold_start_max_s": max(totals),
        "cold_start_qemu_cpu_p50_s": statistics.median(cold["cpu"] for cold in colds),
        "guest_boot_to_runtime_p50_s": statistics.median(boots),
        "warm_requests": requests,
        "warm_p50_ms": statistics.median(latencies) * 1000,
        "warm_p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000,
        "idle_qemu_rss_mib": idle_rss,
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--label", default="current")
    parser.add_argument("--no-snapshots", action="store_true", help="boot every VM")
    parser.add_argument(
        "--translation-cache-mib", type=int, default=TRANSLATION_CACHE_MIB, help="TCG tb-size"
    )
    arguments = parser.parse_args()
    result = asyncio.run(
        run(
            arguments.runs,
            arguments.requests,
            not arguments.no_snapshots,
            arguments.translation_cache_mib,
        )
    )
    for name, value in result.items():
        shown = f"{value:10.3f}" if isinstance(value, float) else f"{value!s:>10}"
        print(f"{name:32} {shown}")
    recorded = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    recorded[arguments.label] = result
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(recorded, indent=2) + "\n")


if __name__ == "__main__":
    main()
