"""Ingest: N distinct pre-signed ETH POSTs sent over HTTP by concurrent clients (sync=false);
time from the first request until all are processed.

    .venv/bin/python -m bench.ingest [--messages 20000] [--clients 32] [--database-url URL]

The node runs as its own process, as an operator runs it. The clients are lean keep-alive
connections (`bench.keepalive`) with every request signed and encoded beforehand: they share
the two cores with the node, and an expensive client would measure itself. The run reports the
CPU each process spent per message (the node, its processing worker, the clients) and the
rate two idle cores would sustain at those costs: the machine is shared, and on a loaded one
the wall-clock figure says more about the load than about the node. It also prints the raw
signature-verification rate of one core, so the figure reads as a fraction of the physical
limit. Writes bench/results/ingest.json.
Target: >= 3 000 msg/s on 2 cores, SQLite: met from 128 clients (stop 12). Each client sends its
next request only once the last is answered, so 32 clients are bound by the acknowledgement
cycle rather than by the cores (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.ccn.node_process import NodeProcess
from tests.ccn.traffic import presigned_posts, unprocessed

from bench.keepalive import KeepAliveConnection, post_request
from bench.verify import measure as measure_verify

RESULTS = Path(__file__).parent / "results" / "ingest.json"
ACKNOWLEDGED = (200, 202)
POLL_INTERVAL = 0.05
PATH = "/api/v0/messages"
PROCESSING_PROCESS_VARIABLE = "ALEPHNET_CCN_PROCESSING_PROCESS"
CORES = 2


@dataclass
class Sender:
    """Clients that take requests from one shared list until it is exhausted."""

    requests: list[bytes]
    statuses: dict[int, int] = field(default_factory=dict)
    _next: int = 0

    async def run(self, port: int, clients: int) -> None:
        await asyncio.gather(*(self._client(port) for _ in range(clients)))

    @property
    def acknowledged(self) -> int:
        return sum(count for status, count in self.statuses.items() if status in ACKNOWLEDGED)

    async def _client(self, port: int) -> None:
        connection = await KeepAliveConnection.open("127.0.0.1", port)
        try:
            while self._next < len(self.requests):
                request = self.requests[self._next]
                self._next += 1
                status = (await connection.send(request)).status
                self.statuses[status] = self.statuses.get(status, 0) + 1
        finally:
            await connection.close()


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """CPU seconds (user + system) of the node process and of its live children (the
    processing worker), from /proc."""

    node: float
    children: float

    @classmethod
    def of(cls, pid: int) -> CpuTimes:
        node = children = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # gone meanwhile
            # After the command name (which may hold spaces): state, ppid, ..., utime, stime.
            fields = text[text.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])
            if stat.parent.name == str(pid):
                node += ticks
            elif fields[1] == str(pid):
                children += ticks
        hertz = os.sysconf("SC_CLK_TCK")
        return cls(node / hertz, children / hertz)

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.node - other.node, self.children - other.children)


def cpu_report(node: CpuTimes, client: float, count: int) -> dict[str, float]:
    """CPU milliseconds per message by process, and the rate two cores would sustain if the
    benchmark had them to itself: each process is bounded by one core, all by two."""
    api, worker, sender = (1000 * seconds / count for seconds in (node.node, node.children, client))
    return {
        "node_api_cpu_ms_per_msg": round(api, 3),
        "node_worker_cpu_ms_per_msg": round(worker, 3),
        "client_cpu_ms_per_msg": round(sender, 3),
        "cpu_bound_msg_per_s_on_2_idle_cores": cpu_bound_rate([api, worker, sender]),
    }


def cpu_bound_rate(process_ms_per_msg: list[float]) -> int:
    """Messages per second that CORES idle cores would sustain at these costs (CPU ms per
    message of each process): each process is bounded by one core, all by CORES."""
    bound = max(*process_ms_per_msg, sum(process_ms_per_msg) / CORES)
    return round(1000 / bound)


async def wait_drained(url: str, timeout: float) -> None:
    """Until the node's pending queue is empty."""
    async with httpx.AsyncClient(base_url=url) as http:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            metrics = (await http.get("/metrics.json")).json()
            if metrics["alephnet_pending_messages"] == 0:
                return
            await asyncio.sleep(POLL_INTERVAL)
    raise TimeoutError(f"messages still pending after {timeout} s")


async def run(count: int, clients: int, database_url: str | None) -> dict[str, Any]:
    messages = presigned_posts(count, senders=50)
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "ccn"
        node = NodeProcess(data_dir, database_url or f"sqlite+aiosqlite:///{folder}/ccn.sqlite3")
        await node.start()
        host = f"127.0.0.1:{node.port}"
        sender = Sender(
            [
                post_request(host, "/api/v0/messages", {"message": m, "sync": False})
                for m in messages
            ]
        )
        try:
            node_pid = node.process_id.pid
            node_cpu, client_cpu = CpuTimes.of(node_pid), time.process_time()
            started = time.perf_counter()
            await sender.run(node.port, clients)
            accepted_at = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
            await wait_drained(node.url, timeout=900)
            elapsed = time.perf_counter() - started
            node_cpu = CpuTimes.of(node_pid) - node_cpu
            left = await unprocessed(node.url, [m["item_hash"] for m in messages], timeout=600)
        finally:
            await node.terminate(timeout=30)
    return {
        "messages": count,
        "clients": clients,
        "database": "postgresql" if database_url else "sqlite",
        "processing_process": os.environ[PROCESSING_PROCESS_VARIABLE],
        "accepted_in_s": round(accepted_at, 2),
        "all_processed_in_s": round(elapsed, 2),
        "intake_msg_per_s": round(count / accepted_at),
        "end_to_end_msg_per_s": round(count / elapsed),
        **cpu_report(node_cpu, client_cpu, count),
        "load_average_1m_after": os.getloadavg()[0],
        "not_processed": len(left),
        "not_acknowledged": count - sender.acknowledged,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--processing-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the node's processing_process setting",
    )
    arguments = parser.parse_args()
    os.environ[PROCESSING_PROCESS_VARIABLE] = str(arguments.processing_process).lower()
    verify = measure_verify(2000, 3)["ETH"]
    result = asyncio.run(run(arguments.messages, arguments.clients, arguments.database_url))
    result["raw_eth_verify_per_s_one_core"] = verify["raw_per_s"]
    for key, value in result.items():
        print(f"{key:32} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "ingest", "results": result}, indent=2))


if __name__ == "__main__":
    main()
