"""Catch-up: a node that missed N messages starts with one peer that holds them, and pulls them
by anti-entropy sync over HTTP (gossip carries nothing of the past). Time from its launch until
it holds them all, processed.

    .venv/bin/python -m bench.catch_up [--messages 20000] [--modes worker,single] [--source DIR]

Node A (its own process, SQLite) takes N pre-signed POSTs first (or, with `--source`, keeps
its data dir to start from it again next time: the posting takes as long as a catch-up).
Then, for each mode, a fresh node B is launched with A as its only peer (sync every second):
`worker` runs B's processing in its own process (`processing_process`), `single` runs it in
the node's process. While B catches up, the run samples B's replicated count, its pending
queue and the latency of a read of its API (`messages.json`, 20 per page), and at the end
reports the CPU each process spent per message (B, B's worker, A serving the pulls), the rate
two idle cores would sustain at those costs (A's included: here it shares them), and B's
own split of its sync rounds (time in digests, listings, reading from the peer, the intake),
parsed from its log. The machine is shared: compare modes of the same run, and read the CPU
figures. Writes bench/results/catch_up.json. Target: >= 3 000 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.ccn.node_process import free_port
from tests.ccn.traffic import Traffic, presigned_posts

from alephnet.ccn.sync.digest import FULL_RANGE
from alephnet.devnet.processes import CcnProcess
from bench.ingest import PROCESSING_PROCESS_VARIABLE, CpuTimes, cpu_bound_rate
from bench.report import report

SYNC_INTERVAL_VARIABLE = "ALEPHNET_CCN_SYNC_INTERVAL"
SYNC_INTERVAL = 1.0
SAMPLE_EVERY = 0.5
CATCH_UP_TIMEOUT = 900.0
MODES = {"worker": "true", "single": "false"}
ROUND_LINE = re.compile(r"sync round with \S+: (?P<fields>.*)$", re.MULTILINE)
ROUND_FIELD = re.compile(r"(\w+)=([0-9.]+)")


@dataclass
class Samples:
    """What the run saw of B while it caught up."""

    api_ms: list[float] = field(default_factory=list)
    pending_max: int = 0
    starved: int = 0
    """Samples where B was behind but had nothing pending: its processing waited for sync."""
    behind: int = 0
    milestones: dict[int, float] = field(default_factory=dict)
    """Seconds from launch until B held each quarter of the messages."""
    all_pulled: float | None = None
    """Seconds from launch until B's sync had queued them all (processed or not)."""
    cpu_when_pulled: CpuTimes | None = None


async def replicated(http: httpx.AsyncClient, url: str) -> int:
    start, end = FULL_RANGE
    response = await http.get(f"{url}/api/v0/sync/digest", params={"start": start, "end": end})
    count: int = response.json()["buckets"][0][0]
    return count


async def wait_replicated(http: httpx.AsyncClient, url: str, count: int) -> None:
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while await replicated(http, url) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not reach {count} messages")
        await asyncio.sleep(0.2)


async def sample(http: httpx.AsyncClient, b: CcnProcess, count: int, launched: float) -> Samples:
    """Every SAMPLE_EVERY seconds until B holds `count` messages. Progress is read from B's
    counters (`/metrics.json`), and checked by a digest only at the end: a digest of the whole
    range reads every row, and polling it would load B more than its sync does."""
    samples = Samples()
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while time.monotonic() < deadline:
        metrics = (await http.get(f"{b.url}/metrics.json")).json()
        held = metrics["alephnet_messages_processed_total"]
        seconds = round(time.perf_counter() - launched, 1)
        for quarter in (1, 2, 3, 4):
            if held >= count * quarter // 4:
                samples.milestones.setdefault(quarter * 25, seconds)
        if held >= count and await replicated(http, b.url) >= count:
            return samples
        if samples.all_pulled is None and metrics["alephnet_sync_pulled_total"] >= count:
            samples.all_pulled = seconds
            samples.cpu_when_pulled = CpuTimes.of(b.process_id.pid)
        pending = metrics["alephnet_pending_messages"]
        samples.pending_max = max(samples.pending_max, pending)
        samples.behind += 1
        samples.starved += pending == 0
        asked = time.perf_counter()
        response = await http.get(f"{b.url}/api/v0/messages.json", params={"pagination": 20})
        response.raise_for_status()
        samples.api_ms.append(1000 * (time.perf_counter() - asked))
        await asyncio.sleep(SAMPLE_EVERY)
    raise TimeoutError(f"{b.url} did not catch up in {CATCH_UP_TIMEOUT} s")


def round_split(log: str) -> dict[str, float]:
    """The sums of the timings that B logged for its sync rounds (seconds)."""
    totals: dict[str, float] = {"rounds": 0}
    for line in ROUND_LINE.finditer(log):
        totals["rounds"] += 1
        for key, value in ROUND_FIELD.findall(line["fields"]):
            totals[key] = round(totals.get(key, 0.0) + float(value), 2)
    return totals


def b_node_phases(up: CpuTimes, pulled: CpuTimes | None, end: CpuTimes) -> list[float | None]:
    """CPU seconds of B's node process: starting (imports, migrations) until its API is up,
    then until its sync queued every message (seen at a sample), then to the end (relaying
    the worker's results or processing, and answering this benchmark)."""
    if pulled is None:
        return [round(up.node, 2), None, round(end.node - up.node, 2)]
    return [round(up.node, 2), round(pulled.node - up.node, 2), round(end.node - pulled.node, 2)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)


async def catch_up_once(a: CcnProcess, folder: Path, mode: str, count: int) -> dict[str, Any]:
    os.environ[PROCESSING_PROCESS_VARIABLE] = MODES[mode]
    b = CcnProcess(folder / f"b-{mode}", port=free_port(), peers=[a.url], log_level="INFO")
    a_cpu = CpuTimes.of(a.process_id.pid)
    launched = time.perf_counter()
    b.launch()
    try:
        await b.wait_until_up()
        up = time.perf_counter() - launched
        cpu_when_up = CpuTimes.of(b.process_id.pid)
        async with httpx.AsyncClient(timeout=30) as http:
            samples = await sample(http, b, count, launched)
            elapsed = time.perf_counter() - launched
            b_cpu = CpuTimes.of(b.process_id.pid)
            a_cpu = CpuTimes.of(a.process_id.pid) - a_cpu
    finally:
        await b.terminate(30)
    api = samples.api_ms or [0.0]
    costs = [1000 * seconds / count for seconds in (b_cpu.node, b_cpu.children, a_cpu.node)]
    return {
        "messages": count,
        "seconds": round(elapsed, 1),
        "msg_per_s": round(count / elapsed),
        "msg_per_s_once_up": round(count / (elapsed - up)),
        "seconds_to_api_up": round(up, 1),
        "seconds_to_25_50_75_100_percent": list(samples.milestones.values()),
        "api_latency_ms_p50_p95_max": [percentile(api, 0.5), percentile(api, 0.95), max(api)],
        "cpu_ms_per_msg_b_node_b_worker_a": [round(cost, 3) for cost in costs],
        "cpu_bound_msg_per_s_on_2_idle_cores": cpu_bound_rate(costs),
        "seconds_until_all_pulled": samples.all_pulled,
        "b_node_cpu_s_start_pulling_rest": b_node_phases(
            cpu_when_up, samples.cpu_when_pulled, b_cpu
        ),
        "pending_max": samples.pending_max,
        "samples_behind_with_nothing_pending": f"{samples.starved}/{samples.behind}",
        "sync_split_s": round_split(b.log_file.read_text(errors="replace")),
        "load_average_1m_after": os.getloadavg()[0],
    }


async def run(count: int, modes: list[str], source: Path | None) -> dict[str, Any]:
    os.environ[SYNC_INTERVAL_VARIABLE] = str(SYNC_INTERVAL)
    with tempfile.TemporaryDirectory() as folder:
        a = await source_node(source or Path(folder) / "a", count)
        try:
            result: dict[str, Any] = {
                "cores": os.cpu_count(),
                "load_average_1m_before": os.getloadavg()[0],
            }
            for mode in modes:
                result[mode] = await catch_up_once(a, Path(folder), mode, count)
                print(mode, result[mode], flush=True)
        finally:
            await a.terminate(30)
    return result


async def source_node(data_dir: Path, count: int) -> CcnProcess:
    """Node A, holding `count` messages: posted now, unless its data dir already has them."""
    os.environ[PROCESSING_PROCESS_VARIABLE] = "true"
    a = CcnProcess(data_dir, port=free_port())
    await a.start()
    async with httpx.AsyncClient(timeout=30) as http:
        held = await replicated(http, a.url)
        if held not in (0, count):
            await a.terminate(30)
            raise SystemExit(f"{data_dir} holds {held} messages, not {count}")
        if held == 0:
            await Traffic(a.url, presigned_posts(count, senders=50)).run(32)
            await wait_replicated(http, a.url, count)
    return a


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--modes", default="worker,single", help="of: " + ",".join(MODES))
    parser.add_argument(
        "--source", type=Path, help="node A's data dir, kept to be used again (default: temporary)"
    )
    arguments = parser.parse_args()
    modes = arguments.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}")
    report("catch_up", asyncio.run(run(arguments.messages, modes, arguments.source)))


if __name__ == "__main__":
    main()
