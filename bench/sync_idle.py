"""Steady-state sync: what a round costs when two nodes already agree.

    .venv/bin/python -m bench.sync_idle [--messages 20000] [--seconds 20] [--source DIR]

Node A holds N messages (posted now or, with `--source`, kept in a data dir: see
`bench.catch_up`). Node B starts with A as its only peer, syncing every second, and catches
up. Once the two agree, the run counts B's sync rounds for `--seconds` and the CPU both
processes spent meanwhile (B computing its own digest and asking for A's, A answering): per
round, that is what one peer pair costs when nothing changes, paid every `sync_interval`
(5 s by default) for each peer. It should not grow with N. Writes
bench/results/sync_idle.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
from tests.ccn.node_process import free_port

from alephnet.devnet.processes import CcnProcess
from bench.catch_up import SYNC_INTERVAL_VARIABLE, source_node, wait_replicated
from bench.ingest import CpuTimes
from bench.report import report

SETTLE = 2.0
"""Seconds left, once B holds every message, for its last catch-up round to end."""


async def rounds_of(http: httpx.AsyncClient, node: CcnProcess) -> int:
    metrics = (await http.get(f"{node.url}/metrics.json")).json()
    rounds: int = metrics["alephnet_sync_rounds_total"]
    return rounds


def cpu_seconds(node: CcnProcess) -> float:
    times = CpuTimes.of(node.process_id.pid)
    return times.node + times.children


async def measure(a: CcnProcess, b: CcnProcess, count: int, seconds: float) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        await wait_replicated(http, b.url, count)
        await asyncio.sleep(SETTLE)
        rounds_before, a_before, b_before = await rounds_of(http, b), cpu_seconds(a), cpu_seconds(b)
        await asyncio.sleep(seconds)
        rounds = await rounds_of(http, b) - rounds_before
        a_cpu, b_cpu = cpu_seconds(a) - a_before, cpu_seconds(b) - b_before
    per_round = [round(1000 * cpu / max(rounds, 1), 2) for cpu in (a_cpu, b_cpu)]
    return {
        "messages": count,
        "seconds": seconds,
        "rounds": rounds,
        "cpu_ms_per_round_a_b": per_round,
        "cpu_percent_of_a_core_per_peer_at_5_s": round(sum(per_round) / 5000 * 100, 2),
        "load_average_1m_after": os.getloadavg()[0],
    }


async def run(count: int, seconds: float, source: Path | None) -> dict[str, Any]:
    os.environ[SYNC_INTERVAL_VARIABLE] = "1.0"
    with tempfile.TemporaryDirectory() as folder:
        a = await source_node(source or Path(folder) / "a", count)
        b = CcnProcess(Path(folder) / "b", port=free_port(), peers=[a.url])
        try:
            await b.start()
            return await measure(a, b, count, seconds)
        finally:
            await b.terminate(30)
            await a.terminate(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--source", type=Path, help="node A's data dir, kept to be used again (default: temporary)"
    )
    arguments = parser.parse_args()
    report("sync_idle", asyncio.run(run(arguments.messages, arguments.seconds, arguments.source)))


if __name__ == "__main__":
    main()
