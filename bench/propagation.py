"""Propagation over gossip on a devnet of CCN processes: the time from the 202 of node A to the
message being processed on every node, at a fixed offered rate, then at higher rates until the
p95 passes 1 s (the network's capacity).

    .venv/bin/python -m bench.propagation [--nodes 5] [--seconds 10] [--rates 100,200,400,800]
                                          [--processing-process] [--catch-up 20000]

Each CCN is its own process (SQLite in a temporary folder), every node bootstraps from all the
others, and anti-entropy sync is off (one round an hour) so that gossip alone carries the
messages. Processing is observed on each node's WebSocket stream (`/api/ws0/messages`), not by
polling. All nodes and the load generator share the machine's cores. Writes
bench/results/propagation.json. Target: p95 < 250 ms at 100 msg/s, no message lost.

Latencies depend on what else runs on the machine; each step also reports the CPU time every
node process spent per message offered (from /proc, whatever the load), the figure to compare
two versions by on a shared machine, and the rate node A actually acknowledged at: when the
machine is busy, node A's API falls behind the offered rate and the 202s come late (latencies
are counted from the 202).

With `--catch-up N`, a second measure: a node that was down while another took N messages
starts, and syncs them over HTTP (sync every second; gossip carries nothing of the past), as
`bench.catch_up --modes worker` measures it (that benchmark has more options).
Target: >= 3 000 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from tests.ccn.node_process import free_port
from tests.ccn.traffic import presigned_posts

from alephnet.devnet.processes import CcnProcess
from bench.catch_up import run as run_catch_up
from bench.keepalive import KeepAliveConnection, post_request
from bench.report import report

SETTLE_TIMEOUT = 60.0
HOST = "127.0.0.1"
MESSAGES_PATH = "/api/v0/messages"
SENDER_CONNECTIONS = 16
MESH_TIMEOUT = 60.0
CAPACITY_P95 = 1.0
TOPIC = "ALEPH-TEST"
USER_TIME, SYSTEM_TIME = 11, 12
"""Fields of /proc/<pid>/stat after the command name (proc(5): utime, stime, in clock ticks)."""


class Arrivals:
    """When each message was seen processed on each node (one WebSocket per node)."""

    def __init__(self, nodes: int) -> None:
        self.seen: list[dict[str, float]] = [{} for _ in range(nodes)]
        self.closed: list[str] = []

    async def watch(self, index: int, node: CcnProcess) -> None:
        url = node.url.replace("http://", "ws://") + "/api/ws0/messages?history=0"
        async with websockets.connect(url, max_queue=None) as socket:
            async for frame in socket:
                self.seen[index][json.loads(frame)["item_hash"]] = time.perf_counter()
        self.closed.append(node.url)

    def everywhere(self, item_hash: str) -> float | None:
        """When the last node processed `item_hash`, or None if one has not yet."""
        times = [seen.get(item_hash) for seen in self.seen]
        return None if None in times else max(t for t in times if t is not None)


async def start_network(folder: Path, count: int) -> list[CcnProcess]:
    nodes = [
        CcnProcess(folder / f"ccn-{n}", port=free_port(), p2p_port=free_port())
        for n in range(1, count + 1)
    ]
    for node in nodes:
        node.bootstrap = [other.multiaddr for other in nodes if other is not node]
    await asyncio.gather(*(node.start() for node in nodes))
    async with httpx.AsyncClient(timeout=10) as http:
        deadline = time.monotonic() + MESH_TIMEOUT
        while not await _meshed(http, nodes):
            if time.monotonic() > deadline:
                raise TimeoutError("the gossip mesh did not form")
            await asyncio.sleep(0.2)
    return nodes


async def _meshed(http: httpx.AsyncClient, nodes: list[CcnProcess]) -> bool:
    """Every node forwards the message topic to some peer and is connected to all others."""
    for node in nodes:
        samples = (await http.get(f"{node.url}/metrics.json")).json()
        mesh = {e["topic"]: e["value"] for e in samples.get("alephnet_gossip_mesh_peers", [])}
        if samples["alephnet_gossip_peers"] < len(nodes) - 1 or mesh.get(TOPIC, 0) < 1:
            return False
    return True


async def offer(port: int, messages: list[dict[str, Any]], rate: float) -> dict[str, float]:
    """Post `messages` to the node on `port` at `rate` per second (sync=false); the time of
    each 202. Requests are encoded beforehand and sent over a few lean keep-alive connections
    (`bench.keepalive`): with httpx this process spent about a millisecond of CPU per post,
    beside the WebSockets it reads, and past ~70 msg/s its own lag, not node A, delayed the
    202s."""
    requests = [post_request(HOST, MESSAGES_PATH, {"message": message}) for message in messages]
    pool: asyncio.Queue[KeepAliveConnection] = asyncio.Queue()
    for _ in range(SENDER_CONNECTIONS):
        pool.put_nowait(await KeepAliveConnection.open(HOST, port))
    acknowledged: dict[str, float] = {}

    async def post(item_hash: str, request: bytes) -> None:
        connection = await pool.get()
        try:
            status = (await connection.send(request)).status
        finally:
            pool.put_nowait(connection)
        if status in (200, 202):
            acknowledged[item_hash] = time.perf_counter()

    started = time.perf_counter()
    tasks = []
    for index, (message, request) in enumerate(zip(messages, requests, strict=True)):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(message["item_hash"], request)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        await pool.get_nowait().close()
    return acknowledged


async def settle(arrivals: Arrivals, hashes: list[str]) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if all(arrivals.everywhere(item_hash) is not None for item_hash in hashes):
            return
        await asyncio.sleep(0.2)


def cpu_seconds(node: CcnProcess) -> float:
    """User and system CPU time of the node's process so far, all its threads, and that of
    its running children (the processing worker, with `--processing-process`)."""
    return sum(_process_cpu(pid) for pid in _tree(node.process_id.pid))


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc (children of each of its threads; a thread or
    child that ends meanwhile is left out)."""
    children = [int(child) for task in _entries(pid) for child in _read(task / "children").split()]
    return [pid, *(descendant for child in children for descendant in _tree(child))]


def _entries(pid: int) -> list[Path]:
    try:
        return list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return []


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _process_cpu(pid: int) -> float:
    stat = _read(Path(f"/proc/{pid}/stat"))
    if not stat:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[USER_TIME]) + int(fields[SYSTEM_TIME])) / os.sysconf("SC_CLK_TCK")


def _full_collections(samples: dict[str, Any]) -> dict[str, float]:
    """A node's full garbage collections since it started, and the longest (its pauses were
    the tail of the latencies until the nodes froze their start-up objects)."""

    def full(name: str) -> float:
        entries = samples.get(name, [])
        return next((e["value"] for e in entries if e["generation"] == "2"), 0.0)

    return {
        "collections": full("alephnet_gc_collections_total"),
        "longest_ms": round(1000 * full("alephnet_gc_longest_pause_seconds"), 1),
    }


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def measure_rate(
    http: httpx.AsyncClient, nodes: list[CcnProcess], arrivals: Arrivals, rate: int, seconds: float
) -> dict[str, Any]:
    messages = presigned_posts(int(rate * seconds), senders=50)
    cpu_before = [cpu_seconds(node) for node in nodes]
    started = time.perf_counter()
    acknowledged = await offer(nodes[0].port, messages, rate)
    offered_in = time.perf_counter() - started
    hashes = [message["item_hash"] for message in messages]
    await settle(arrivals, hashes)
    cpu_used = [cpu_seconds(node) - before for node, before in zip(nodes, cpu_before, strict=True)]
    elapsed = time.perf_counter() - started
    latencies = sorted(
        done - acknowledged[item_hash]
        for item_hash in hashes
        if item_hash in acknowledged and (done := arrivals.everywhere(item_hash)) is not None
    )
    result: dict[str, Any] = {
        "offered_msg_per_s": rate,
        "messages": len(messages),
        "acknowledged": len(acknowledged),
        "lost": len(messages) - len(latencies),
        "cpu_ms_per_message_per_node": [round(1000 * used / len(messages), 2) for used in cpu_used],
        "cores_used_by_nodes": round(sum(cpu_used) / elapsed, 2),
        "acknowledged_msg_per_s": round(len(acknowledged) / offered_in, 1),
    }
    if latencies:
        result |= {
            f"p{int(q * 100)}_ms": round(1000 * percentile(latencies, q), 1)
            for q in (0.5, 0.95, 0.99)
        }
        result["max_ms"] = round(1000 * latencies[-1], 1)
        result["p50_ms_per_node"] = [
            round(1000 * statistics.median(per_node), 1) if per_node else None
            for per_node in (
                [seen[h] - acknowledged[h] for h in hashes if h in seen and h in acknowledged]
                for seen in arrivals.seen
            )
        ]
    return result


async def run(
    count: int, seconds: float, rates: list[int], processing_process: bool = False
) -> dict[str, Any]:
    os.environ["ALEPHNET_CCN_SYNC_INTERVAL"] = "3600"
    os.environ["ALEPHNET_CCN_PROCESSING_PROCESS"] = str(processing_process).lower()
    os.environ["ALEPHNET_CCN_ANNOUNCE_INTERVAL"] = "5"
    with tempfile.TemporaryDirectory() as folder:
        nodes = await start_network(Path(folder), count)
        arrivals = Arrivals(count)
        watchers = [asyncio.create_task(arrivals.watch(n, node)) for n, node in enumerate(nodes)]
        steps = []
        try:
            async with httpx.AsyncClient(
                timeout=30, limits=httpx.Limits(max_connections=64)
            ) as http:
                await asyncio.sleep(1.0)  # the WebSockets are subscribed
                for rate in rates:
                    step = await measure_rate(http, nodes, arrivals, rate, seconds)
                    print(json.dumps(step), flush=True)
                    steps.append(step)
                    if step.get("p95_ms", float("inf")) > 1000 * CAPACITY_P95:
                        break
                samples = [(await http.get(f"{n.url}/metrics.json")).json() for n in nodes]
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await asyncio.gather(*(node.terminate(30) for node in nodes))
    within = [s["offered_msg_per_s"] for s in steps if s.get("p95_ms", 1e9) <= 1000 * CAPACITY_P95]
    return {
        "nodes": count,
        "processing_process": processing_process,
        "cores": os.cpu_count(),
        "seconds_per_rate": seconds,
        "steps": steps,
        "capacity_msg_per_s_p95_under_1s": max(within) if within else None,
        "p95_passed_1s_at_msg_per_s": steps[-1]["offered_msg_per_s"]
        if steps and steps[-1].get("p95_ms", 1e9) > 1000 * CAPACITY_P95
        else None,
        "gossip_drops": [sample.get("alephnet_gossip_dropped_total") for sample in samples],
        "full_gc_per_node": [_full_collections(sample) for sample in samples],
        "websockets_closed": arrivals.closed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="100,200,400,800")
    parser.add_argument(
        "--processing-process",
        action="store_true",
        help="each node processes in a worker process of its own (its CPU time counted)",
    )
    parser.add_argument("--catch-up", type=int, default=0, help="messages missed (0: skip)")
    arguments = parser.parse_args()
    rates = [int(rate) for rate in arguments.rates.split(",")]
    logging.getLogger("httpx").setLevel(logging.WARNING)  # libp2p's import logs at INFO
    result = asyncio.run(
        run(arguments.nodes, arguments.seconds, rates, arguments.processing_process)
    )
    if arguments.catch_up:
        result["catch_up"] = asyncio.run(run_catch_up(arguments.catch_up, ["worker"], None))
    report("propagation", result)


if __name__ == "__main__":
    main()
