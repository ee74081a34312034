"""Anti-entropy sync: digests, reconcile rounds between in-process nodes, files from peers,
broken peers, and two real node processes converging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

from alephnet.ccn.api.app import create_app
from alephnet.ccn.db.accessors.sync import replicated_digests, replicated_hash_times
from alephnet.ccn.node import Node
from alephnet.ccn.peer_http import ClientFactory
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.sync.digest import (
    EMPTY,
    FULL_RANGE,
    SLOT_WIDTH,
    TimeRange,
    digest_buckets,
    fold_into_slots,
    on_slot_edges,
    slot_buckets,
)
from alephnet.ccn.sync.pulls import RecentAttempts
from alephnet.ccn.sync.reconcile import Reconciler, SyncLimits
from alephnet.ccn.sync.service import SyncService
from alephnet.devnet.processes import CcnProcess
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message, publish, wait_for_status
from tests.ccn.databases import fresh_database_url
from tests.ccn.message_builders import OWNER, aggregate_message, expected_merge, forget_message
from tests.ccn.node_process import free_port
from tests.ccn.storage_helpers import sha256_hex, store_message, upload

ROWS = [("a" * 64, 10.0), ("b" * 64, 10.0), ("c" * 64, 55.5), ("d" * 64, 99.9)]
NEVER = 3600.0
"""A sync interval no test waits for: tests run their rounds themselves."""


# --- digests -----------------------------------------------------------------------------


def test_a_digest_does_not_depend_on_row_order() -> None:
    assert digest_buckets(ROWS, 0, 100, 4) == digest_buckets(reversed(ROWS), 0, 100, 4)


def test_buckets_hold_what_their_sub_ranges_select() -> None:
    """A row on an edge belongs to the bucket that starts there, as `time >= start` selects."""
    buckets = digest_buckets([*ROWS, ("e" * 64, 25.0)], 0, 100, 4)
    for span, bucket in zip(TimeRange(0, 100).split(4), buckets, strict=True):
        inside = [row for row in [*ROWS, ("e" * 64, 25.0)] if span.start <= row[1] < span.end]
        assert digest_buckets(inside, span.start, span.end, 1) == [bucket]
    assert [bucket.count for bucket in buckets] == [2, 1, 1, 1]


def test_a_missing_hash_changes_the_digest_and_empty_buckets_are_empty() -> None:
    (whole,) = digest_buckets(ROWS, 0, 100, 1)
    (partial,) = digest_buckets(ROWS[1:], 0, 100, 1)
    assert whole != partial
    assert digest_buckets([], 0, 100, 2) == [EMPTY, EMPTY]


def test_rows_outside_the_range_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        digest_buckets(ROWS, 0, 50, 2)


SPREAD = [
    ("a" * 64, 0.0),
    ("b" * 64, SLOT_WIDTH - 0.5),
    ("c" * 64, float(SLOT_WIDTH)),
    ("d" * 64, 3 * SLOT_WIDTH + 5.25),
    ("e" * 64, float(1 << 29) + 1),
    ("f" * 64, 1795645002.6121395),
    ("0" * 64, FULL_RANGE[1] - 1),
]
"""Rows on and next to slot edges, in several buckets of every level."""
SLOT_LEVELS = [
    (TimeRange(*FULL_RANGE), 1),
    (TimeRange(*FULL_RANGE), 16),
    (TimeRange(*FULL_RANGE).split(16)[0], 16),
    (TimeRange(0, 16 * SLOT_WIDTH), 16),
    (TimeRange(3 * SLOT_WIDTH, 4 * SLOT_WIDTH), 1),
]


@pytest.mark.parametrize(("span", "parts"), SLOT_LEVELS)
def test_slots_give_the_digests_of_their_rows(span: TimeRange, parts: int) -> None:
    assert on_slot_edges(span.start, span.end, parts)
    slots = [
        (start, count, accumulator)
        for start, (count, accumulator) in fold_into_slots(SPREAD).items()
        if span.start <= start < span.end
    ]
    inside = [row for row in SPREAD if span.start <= row[1] < span.end]
    assert slot_buckets(slots, span.start, span.end, parts) == digest_buckets(
        inside, span.start, span.end, parts
    )


def test_only_buckets_of_whole_slots_are_on_slot_edges() -> None:
    assert not on_slot_edges(0, SLOT_WIDTH, 16)
    assert not on_slot_edges(0, 100, 1)
    assert not on_slot_edges(SLOT_WIDTH / 2, 2 * SLOT_WIDTH, 1)
    assert not on_slot_edges(0, 2 * FULL_RANGE[1], 2)


def test_times_outside_the_replicated_range_fill_no_slot() -> None:
    assert fold_into_slots([("a" * 64, -1.0), ("b" * 64, FULL_RANGE[1])]) == {}


# --- in-process nodes --------------------------------------------------------------------


@dataclass
class SyncNode:
    url: str
    app: ASGIApp
    http: httpx.AsyncClient
    node: Node

    @property
    def sync(self) -> SyncService:
        assert self.node.sync is not None, "the node has no peers"
        return self.node.sync


def _broken_transport(url: str) -> httpx.MockTransport:
    """`http://down.test` refuses connections; any other unknown peer answers junk."""

    def answer(request: httpx.Request) -> httpx.Response:
        if url == "http://down.test":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, content=b"<html>not a CCN</html>")

    return httpx.MockTransport(answer)


def in_process(nodes: Mapping[str, SyncNode]) -> ClientFactory:
    """Clients to the apps of `nodes` (filled later is fine), or to a broken peer."""

    def clients(url: str) -> httpx.AsyncClient:
        apps = {node.url: node.app for node in nodes.values()}
        transport = httpx.ASGITransport(app=apps[url]) if url in apps else _broken_transport(url)
        return httpx.AsyncClient(transport=transport, base_url=url)

    return clients


@asynccontextmanager
async def sync_network(
    tmp_path: Path, peers: Mapping[str, list[str]]
) -> AsyncIterator[dict[str, SyncNode]]:
    """One in-process node per name of `peers`, each syncing with the names it maps to (peer
    `name` is reached at `http://name.test`, through the apps themselves)."""
    nodes: dict[str, SyncNode] = {}
    clients = in_process(nodes)
    async with AsyncExitStack() as stack:
        for name, names in peers.items():
            folder = tmp_path / name
            folder.mkdir()
            database_url = await stack.enter_async_context(fresh_database_url(folder))
            settings = CcnSettings(
                data_dir=folder / "ccn",
                database_url=database_url,
                sync_timeout=10,
                peers=[f"http://{peer}.test" for peer in names],
                sync_interval=NEVER,
                sync_first_round_delay=NEVER,
            )
            manager = await stack.enter_async_context(
                LifespanManager(create_app(settings, clients))
            )
            url = f"http://{name}.test"
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=url)
            )
            # The lifespan's state, as requests see it: the test drives the node's sync itself.
            nodes[name] = SyncNode(url, manager.app, http, manager._state["node"])
        yield nodes


async def whole_digest(node: SyncNode) -> Any:
    start, end = FULL_RANGE
    response = await node.http.get("/api/v0/sync/digest", params={"start": start, "end": end})
    assert response.status_code == 200, response.text
    return response.json()


async def wait_until_equal(first: SyncNode, second: SyncNode, timeout: float = 20.0) -> None:
    """Until both hold the same replicated set (pulled messages are processed asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await whole_digest(first) == await whole_digest(second):
            return
        await asyncio.sleep(0.05)
    pytest.fail(
        f"{first.url} {await whole_digest(first)} != {second.url} {await whole_digest(second)}"
    )


async def publish_ok(node: SyncNode, message: dict[str, Any]) -> None:
    response = await publish(node.http, message)
    assert response.status_code == 200, response.text


async def test_a_message_posted_to_a_is_processed_on_b_after_one_round(
    tmp_path: Path, signer: EvmSigner
) -> None:
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        message = post_message(signer)
        await publish_ok(nodes["a"], message)
        (report,) = await nodes["b"].sync.run_round()
        assert (report.pulled, report.unreadable) == (1, 0)
        await wait_for_status(nodes["b"].http, message["item_hash"], "processed")
        (again,) = await nodes["b"].sync.run_round()
        assert (again.pulled, again.requests) == (0, 1)


async def test_a_node_that_missed_500_messages_converges_in_bounded_rounds(
    tmp_path: Path, signer: EvmSigner
) -> None:
    """Small limits force the narrowing down many levels and a catch-up over several rounds."""
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        start = time.time() - 1000
        messages = [post_message(signer, {"n": n}, time=start + n) for n in range(500)]
        responses = await asyncio.gather(*(publish(nodes["a"].http, m, False) for m in messages))
        assert {response.status_code for response in responses} == {202}
        await publish_ok(nodes["a"], post_message(signer))
        b = nodes["b"].node
        limits = SyncLimits(list_threshold=40, max_pulls=200)
        reconciler = Reconciler(b.sessions, b.intake, in_process(nodes), limits)
        pulled = [(await reconciler.reconcile(nodes["a"].url)).pulled for _ in range(4)]
        assert pulled == [200, 200, 101, 0]
        await wait_until_equal(nodes["a"], nodes["b"])


async def test_aggregates_written_on_both_sides_converge(tmp_path: Path) -> None:
    async with sync_network(tmp_path, {"a": ["b"], "b": ["a"]}) as nodes:
        now = time.time()
        on_a = [
            aggregate_message(OWNER, "profile", {"name": "a", "x": 1}, now),
            aggregate_message(OWNER, "profile", {"x": 3}, now + 2),
        ]
        on_b = [
            aggregate_message(OWNER, "profile", {"name": "b", "y": 2}, now + 1),
            aggregate_message(OWNER, "profile", {"y": 4}, now + 3),
        ]
        for message in on_a:
            await publish_ok(nodes["a"], message)
        for message in on_b:
            await publish_ok(nodes["b"], message)
        await nodes["a"].sync.run_round()
        await nodes["b"].sync.run_round()
        await wait_until_equal(nodes["a"], nodes["b"])
        expected = expected_merge([*on_a, *on_b])[(OWNER.address, "profile")]
        for node in nodes.values():
            response = await node.http.get(f"/api/v0/aggregates/{OWNER.address}.json")
            assert response.json()["data"]["profile"] == expected


async def test_a_forget_on_a_propagates(tmp_path: Path) -> None:
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        post = post_message(OWNER)
        await publish_ok(nodes["a"], post)
        await nodes["b"].sync.run_round()
        await wait_for_status(nodes["b"].http, post["item_hash"], "processed")
        forget = forget_message(OWNER, hashes=[post["item_hash"]])
        await publish_ok(nodes["a"], forget)
        (report,) = await nodes["b"].sync.run_round()
        assert report.pulled == 1
        body = await wait_for_status(nodes["b"].http, post["item_hash"], "forgotten")
        assert body["forgotten_by"] == [forget["item_hash"]]
        await wait_until_equal(nodes["a"], nodes["b"])


async def test_a_file_stored_on_a_is_fetched_by_b(tmp_path: Path, signer: EvmSigner) -> None:
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        data = bytes(range(256)) * 4096
        message = store_message(signer, sha256_hex(data))
        response = await upload(nodes["a"].http, data, message)
        assert response.status_code == 200, response.text
        await nodes["b"].sync.run_round()
        await wait_for_status(nodes["b"].http, message["item_hash"], "processed")
        download = await nodes["b"].http.get(f"/api/v0/storage/raw/{sha256_hex(data)}")
        assert download.content == data


async def test_a_peer_down_or_answering_junk_does_not_break_the_round(
    tmp_path: Path, signer: EvmSigner
) -> None:
    async with sync_network(tmp_path, {"a": [], "b": ["down", "junk", "a"]}) as nodes:
        message = post_message(signer)
        await publish_ok(nodes["a"], message)
        reports = await nodes["b"].sync.run_round()
        assert [(report.peer, report.pulled) for report in reports] == [("http://a.test", 1)]
        metrics = (await nodes["b"].http.get("/metrics.json")).json()
        assert metrics["alephnet_sync_peer_failures_total"] == 2
        assert metrics["alephnet_sync_pulled_total"] == 1
        await wait_for_status(nodes["b"].http, message["item_hash"], "processed")


async def test_a_round_between_nodes_that_agree_costs_one_small_exchange(
    tmp_path: Path, signer: EvmSigner
) -> None:
    """The steady-state cost: one request per peer and round, measured on the wire format
    (request line and headers, response status line, headers and body)."""
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        await publish_ok(nodes["a"], post_message(signer))
        await nodes["b"].sync.run_round()
        await wait_until_equal(nodes["a"], nodes["b"])
        exchanged: list[int] = []

        async def count(response: httpx.Response) -> None:
            request = response.request
            head = f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\n"
            await response.aread()
            exchanged.append(
                len(head) + _headers_size(request.headers) + len(request.content)
                + len("HTTP/1.1 200 OK\r\n") + _headers_size(response.headers)
                + len(response.content)
            )  # fmt: skip

        def counting(url: str) -> httpx.AsyncClient:
            client = in_process(nodes)(url)
            client.event_hooks["response"] = [count]
            return client

        b = nodes["b"].node
        report = await Reconciler(b.sessions, b.intake, counting).reconcile(nodes["a"].url)
        assert (report.requests, report.pulled) == (1, 0)
        print(f"steady-state sync round: {sum(exchanged)} bytes")
        assert sum(exchanged) < 1024


def _headers_size(headers: httpx.Headers) -> int:
    return sum(len(key) + len(value) + 4 for key, value in headers.raw) + 2


# --- real processes ----------------------------------------------------------------------


@pytest.mark.slow
async def test_two_node_processes_converge(
    tmp_path: Path, signer: EvmSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALEPHNET_CCN_SYNC_INTERVAL", "0.5")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        fresh_database_url(tmp_path / "a") as url_a,
        fresh_database_url(tmp_path / "b") as url_b,
    ):
        a = CcnProcess(tmp_path / "a" / "ccn", port=free_port(), database_url=url_a)
        await a.start()
        b = CcnProcess(tmp_path / "b" / "ccn", port=free_port(), database_url=url_b, peers=[a.url])
        try:
            await b.start()
            async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
                messages = [post_message(signer, {"n": n}) for n in range(100)]
                await asyncio.gather(*(publish(http, message, False) for message in messages))
            await _converged(a.url, b.url, bound=30.0)
        finally:
            for node in (a, b):
                if node.running:
                    assert await node.terminate(20) == 0, node.log_tail()


async def _converged(first: str, second: str, bound: float) -> None:
    start, end = FULL_RANGE
    params = {"start": start, "end": end}
    deadline = time.monotonic() + bound
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            digests = [
                (await http.get(f"{url}/api/v0/sync/digest", params=params)).json()
                for url in (first, second)
            ]
            if digests[0] == digests[1] and digests[0]["buckets"][0][0] == 100:
                return
            await asyncio.sleep(0.2)
    pytest.fail(f"not converged within {bound} s: {digests}")


def test_recent_attempts_pause_and_forget_the_oldest() -> None:
    attempts = RecentAttempts(pause=10.0, capacity=2)
    assert attempts.due("a", now=0.0)
    attempts.note("a", now=0.0)
    assert not attempts.due("a", now=5.0)
    assert attempts.due("a", now=10.0)
    attempts.note("b", now=1.0)
    attempts.note("c", now=2.0)
    assert attempts.due("a", now=3.0)
    assert not attempts.due("c", now=3.0)


async def digests_both_ways(node: Node, span: TimeRange, parts: int) -> tuple[Any, Any]:
    """The node's digests of `span` as it answers them, and as its rows give them."""
    async with node.sessions() as session:
        answered = await replicated_digests(session, span.start, span.end, parts)
        rows = await replicated_hash_times(session, span.start, span.end)
    return answered, digest_buckets(rows, span.start, span.end, parts)


async def test_processing_and_forgetting_keep_the_slots_equal_to_the_rows(
    tmp_path: Path, signer: EvmSigner
) -> None:
    """Messages across several slots, one of them forgotten (it moves to the skeletons, still
    in the replicated set), one rejected (not in it)."""
    async with sync_network(tmp_path, {"a": []}) as nodes:
        a = nodes["a"]
        now = time.time()
        posts = [post_message(signer, {"n": n}, time=now - n * 0.4 * SLOT_WIDTH) for n in range(8)]
        forged = post_message(signer, {"n": "forged"})
        forged["signature"] = posts[0]["signature"]
        for message in posts:
            await publish_ok(a, message)
        assert (await publish(a.http, forged)).status_code == 422
        await publish_ok(a, forget_message(signer, hashes=[posts[3]["item_hash"]]))
        await wait_for_status(a.http, posts[3]["item_hash"], "forgotten")
        whole = TimeRange(*FULL_RANGE)
        recent = next(span for span in whole.split(16) if span.start <= now < span.end)
        for span, parts in [(whole, 1), (whole, 16), (recent, 16)]:
            answered, from_rows = await digests_both_ways(a.node, span, parts)
            assert answered == from_rows
        assert sum(bucket.count for bucket in answered) == len(posts) + 1
