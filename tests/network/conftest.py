"""Real CCN processes on loopback that sync with each other, and what the convergence tests
read from them: whole-range digests, processed hashes, aggregates, posts.

Every node syncs every `SYNC_INTERVAL` seconds (through the environment, which the node
processes inherit). Tests never sleep a fixed time: they poll with a deadline (`eventually`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alephnet.ccn.sync.digest import FULL_RANGE, digest_buckets
from alephnet.devnet.processes import CcnProcess
from tests.ccn.databases import fresh_database_url
from tests.ccn.node_process import free_port
from tests.ccn.traffic import Traffic
from tests.servers import LoopbackApp
from tests.servers import serving as serving  # the tests serve their FakePeer with it

SYNC_INTERVAL = 0.3
STOP_TIMEOUT = 30.0
POLL = 0.1

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _short_sync_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALEPHNET_CCN_SYNC_INTERVAL", str(SYNC_INTERVAL))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """One client for every node (full URLs)."""
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


# --- nodes -------------------------------------------------------------------------------


class Network:
    """Nodes named a, b, c, ... each with its own data dir, database and fixed port (a node
    restarted on its data answers on the same URL, so its peers' settings stay right)."""

    def __init__(self, folder: Path, stack: AsyncExitStack) -> None:
        self._folder = folder
        self._stack = stack
        self.nodes: list[CcnProcess] = []

    async def create(self, count: int) -> list[CcnProcess]:
        """`count` new nodes, not started, each with every other node of the batch as peer."""
        created = []
        for _ in range(count):
            folder = self._folder / chr(ord("a") + len(self.nodes))
            folder.mkdir()
            database_url = await self._stack.enter_async_context(fresh_database_url(folder))
            node = CcnProcess(folder / "ccn", port=free_port(), database_url=database_url)
            self.nodes.append(node)
            created.append(node)
        for node in created:
            node.peers = [peer.url for peer in created if peer is not node]
        return created

    async def stop_all(self) -> dict[str, int | None]:
        """SIGTERM every running node; the exit statuses that were not 0, with their logs."""
        running = [node for node in self.nodes if node.running]
        codes = await asyncio.gather(*(node.terminate(STOP_TIMEOUT) for node in running))
        return {
            node.log_tail(): code for node, code in zip(running, codes, strict=True) if code != 0
        }


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[Network]:
    """The test's nodes; each is stopped at the end and must exit 0."""
    async with AsyncExitStack() as stack:
        nodes = Network(tmp_path, stack)
        try:
            yield nodes
        finally:
            failures = await nodes.stop_all()
        assert not failures, failures


async def start_all(nodes: Sequence[CcnProcess]) -> None:
    await asyncio.gather(*(node.start() for node in nodes))


async def stop(node: CcnProcess) -> None:
    """SIGTERM, as an operator stops a node: it must exit 0."""
    code = await node.terminate(STOP_TIMEOUT)
    assert code == 0, node.log_tail()


async def restart(node: CcnProcess, peers: Sequence[CcnProcess]) -> None:
    """Stop `node` if it runs and start it again on the same data, syncing with `peers`."""
    if node.running:
        await stop(node)
    node.peers = [peer.url for peer in peers]
    await node.start()


# --- waiting -----------------------------------------------------------------------------


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float, failure: Callable[[], str]
) -> T:
    """Poll `check` until it answers something other than None, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"not within {timeout} s: {failure()}")
        await asyncio.sleep(POLL)


async def message_status(http: httpx.AsyncClient, node: CcnProcess, item_hash: str) -> Any:
    """The node's record of `item_hash` (with `status`), or None if it does not know it."""
    response = await http.get(f"{node.url}/api/v0/messages/{item_hash}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


async def wait_for_status(
    http: httpx.AsyncClient,
    node: CcnProcess,
    item_hash: str,
    status: str,
    timeout: float = 20.0,
) -> dict[str, Any]:
    last: list[Any] = [None]

    async def reached() -> dict[str, Any] | None:
        last[0] = await message_status(http, node, item_hash)
        return last[0] if last[0] is not None and last[0]["status"] == status else None

    return await eventually(reached, timeout, lambda: f"{item_hash} on {node.url}: {last[0]}")


async def whole_digest(http: httpx.AsyncClient, node: CcnProcess) -> tuple[int, str]:
    """(count, digest) of the node's whole replicated set."""
    start, end = FULL_RANGE
    response = await http.get(f"{node.url}/api/v0/sync/digest", params={"start": start, "end": end})
    response.raise_for_status()
    ((count, digest),) = response.json()["buckets"]
    return count, digest


async def wait_converged(
    http: httpx.AsyncClient, nodes: Sequence[CcnProcess], count: int, timeout: float
) -> float:
    """Until every node holds the same replicated set of `count` messages; the seconds taken."""
    started = time.monotonic()
    last: list[list[tuple[int, str]]] = [[]]

    async def converged() -> bool | None:
        last[0] = list(await asyncio.gather(*(whole_digest(http, node) for node in nodes)))
        first = last[0][0]
        return True if set(last[0]) == {first} and first[0] == count else None

    await eventually(converged, timeout, lambda: f"digests {last[0]}, {count} expected")
    return time.monotonic() - started


# --- what a node shows -------------------------------------------------------------------


@dataclass(frozen=True)
class NodeView:
    """What clients see of the replicated data on one node."""

    hashes: frozenset[str]
    aggregates: dict[str, Any]
    """address -> the merged value of each of its keys"""
    posts: list[dict[str, Any]]
    """/api/v0/posts.json records (latest amend under the original), by original hash"""


async def view(http: httpx.AsyncClient, node: CcnProcess, addresses: Sequence[str]) -> NodeView:
    messages = await http.get(f"{node.url}/api/v0/messages.json", params={"pagination": 0})
    messages.raise_for_status()
    posts = await http.get(f"{node.url}/api/v0/posts.json", params={"pagination": 0})
    posts.raise_for_status()
    aggregates = {address: await aggregates_of(http, node, address) for address in addresses}
    return NodeView(
        hashes=frozenset(message["item_hash"] for message in messages.json()["messages"]),
        aggregates=aggregates,
        posts=sorted(posts.json()["posts"], key=lambda post: str(post["original_item_hash"])),
    )


async def aggregates_of(http: httpx.AsyncClient, node: CcnProcess, address: str) -> Any:
    """Every key of `address` with its merged value ({} when it has none)."""
    response = await http.get(f"{node.url}/api/v0/aggregates/{address}.json")
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return response.json()["data"]


async def post_all(node: CcnProcess, messages: list[dict[str, Any]], clients: int = 8) -> None:
    """Submit `messages` (sync=false) with concurrent clients; every one must be accepted."""
    traffic = Traffic(node.url, messages)
    await traffic.run(clients)
    assert not traffic.unexpected, traffic.unexpected[:5]
    assert len(traffic.acknowledged) == len(messages)


# --- a peer that lies --------------------------------------------------------------------


@dataclass
class FakePeer(LoopbackApp):
    """A peer answering the sync routes over `messages` (any dict served as is, whatever its
    validity), each listed at `time`; it counts the requests for each message."""

    messages: dict[str, tuple[float, dict[str, Any]]]
    served: dict[str, int] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v0/sync/digest", self._digest),
                Route("/api/v0/sync/hashes", self._hashes),
                Route("/api/v0/messages.json", self._messages),
            ]
        )

    def _rows(self, request: Request) -> tuple[float, float, list[tuple[str, float]]]:
        start = float(request.query_params["start"])
        end = float(request.query_params["end"])
        rows = sorted(
            ((item_hash, at) for item_hash, (at, _) in self.messages.items() if start <= at < end),
            key=lambda row: (row[1], row[0]),
        )
        return start, end, rows

    async def _digest(self, request: Request) -> Response:
        start, end, rows = self._rows(request)
        parts = int(request.query_params.get("buckets", "1"))
        buckets = digest_buckets(rows, start, end, parts)
        return JSONResponse({"buckets": [[bucket.count, bucket.digest] for bucket in buckets]})

    async def _hashes(self, request: Request) -> Response:
        _, _, rows = self._rows(request)
        return JSONResponse(
            {"hashes": [[item_hash, at, False] for item_hash, at in rows], "truncated": False}
        )

    async def _messages(self, request: Request) -> Response:
        """The `hashes=` query of messages.json, the only one sync sends."""
        asked = request.query_params.get("hashes", "").split(",")
        served = [item_hash for item_hash in asked if item_hash in self.messages]
        for item_hash in served:
            self.served[item_hash] = self.served.get(item_hash, 0) + 1
        return JSONResponse({"messages": [self.messages[item_hash][1] for item_hash in served]})
