"""Catch-up through whole buckets: the paged `/api/v0/sync/messages` route, a reconciler that
reads a bucket it mostly lacks page by page (and falls back to hashes on a peer without the
route), pages a lying peer serves out of order, and rounds that follow each other at once
while a node is behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from alephnet.ccn.peer_http import ClientFactory
from alephnet.ccn.sync.digest import FULL_RANGE
from alephnet.ccn.sync.peer_api import PeerError
from alephnet.ccn.sync.pulls import PeerRound
from alephnet.ccn.sync.reconcile import Reconciler, SyncLimits
from alephnet.ccn.sync.service import BACKLOG_POLL, SyncService
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message, publish
from tests.ccn.test_sync import SyncNode, in_process, sync_network, wait_until_equal

PAGES_PATH = "/api/v0/sync/messages"
NEVER = 3600.0


async def publish_all(node: SyncNode, messages: list[dict[str, Any]]) -> None:
    """Queued with sync=false, then once more with sync=true: the last answer comes once all
    are processed (the processor takes them in time order)."""
    responses = await asyncio.gather(*(publish(node.http, m, False) for m in messages))
    assert {response.status_code for response in responses} == {202}
    for message in messages:
        response = await publish(node.http, message)
        assert response.status_code == 200, response.text


def dated_posts(signer: EvmSigner, count: int) -> list[dict[str, Any]]:
    start = time.time() - 1000
    return [post_message(signer, {"n": n}, time=start + n) for n in range(count)]


async def test_the_paged_route_lists_envelopes_in_order_from_a_cursor(
    tmp_path: Path, signer: EvmSigner
) -> None:
    async with sync_network(tmp_path, {"a": []}) as nodes:
        messages = dated_posts(signer, 5)
        await publish_all(nodes["a"], messages)
        start, end = FULL_RANGE
        pages, after = [], None
        while True:
            params: dict[str, Any] = {"start": start, "end": end, "limit": 2}
            if after is not None:
                params |= {"after_time": after[0], "after_hash": after[1]}
            response = await nodes["a"].http.get(PAGES_PATH, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            pages.append([envelope["item_hash"] for envelope in body["messages"]])
            if body["next"] is None:
                break
            after = body["next"]
        assert pages == [
            [messages[0]["item_hash"], messages[1]["item_hash"]],
            [messages[2]["item_hash"], messages[3]["item_hash"]],
            [messages[4]["item_hash"]],
        ]
        assert set(body["messages"][0]) == {
            "chain", "sender", "type", "channel", "signature", "time", "item_type",
            "item_content", "item_hash",
        }  # fmt: skip
        assert body["messages"][0]["item_content"] == messages[4]["item_content"]


@pytest.mark.parametrize(
    "params",
    [
        {"start": 0, "end": 10, "after_time": 1},
        {"start": 10, "end": 10},
        {"start": 0, "end": 10, "limit": 5001},
    ],
)
async def test_the_paged_route_refuses_a_half_cursor_an_empty_range_or_a_huge_page(
    tmp_path: Path, params: dict[str, Any]
) -> None:
    async with sync_network(tmp_path, {"a": []}) as nodes:
        response = await nodes["a"].http.get(PAGES_PATH, params=params)
        assert response.status_code == 422, response.text


async def test_a_node_that_missed_a_bucket_reads_it_in_pages(
    tmp_path: Path, signer: EvmSigner
) -> None:
    """300 messages it lacks, far more than a listing takes: one digest, then pages."""
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        await publish_all(nodes["a"], dated_posts(signer, 300))
        b = nodes["b"].node
        limits = SyncLimits(list_threshold=40, page=100)
        report = await Reconciler(b.sessions, b.intake, in_process(nodes), limits).reconcile(
            nodes["a"].url
        )
        assert (report.pulled, report.unreadable, report.cut_short) == (300, 0, False)
        assert report.requests == 1 + 4  # the digest; three full pages and an empty one
        await wait_until_equal(nodes["a"], nodes["b"])


async def test_a_quota_cuts_a_bucket_and_the_next_round_resumes_where_it_stopped(
    tmp_path: Path, signer: EvmSigner
) -> None:
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        await publish_all(nodes["a"], dated_posts(signer, 250))
        b = nodes["b"].node
        limits = SyncLimits(list_threshold=40, page=100, max_pulls=100)
        reconciler = Reconciler(b.sessions, b.intake, in_process(nodes), limits)
        reports = [await reconciler.reconcile(nodes["a"].url) for _ in range(4)]
        assert [report.pulled for report in reports] == [100, 100, 50, 0]
        assert [report.cut_short for report in reports] == [True, True, False, False]
        await wait_until_equal(nodes["a"], nodes["b"])


def without_pages(clients: ClientFactory) -> ClientFactory:
    """Clients to peers that answer 404 on the paged route, as a node of another
    implementation would."""

    def factory(url: str) -> httpx.AsyncClient:
        client = clients(url)
        inner = client._transport

        async def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path == PAGES_PATH:
                return httpx.Response(404, json={"detail": "Not Found"})
            return await inner.handle_async_request(request)

        client._transport = httpx.MockTransport(handle)
        return client

    return factory


async def test_a_peer_without_the_paged_route_is_read_by_hash(
    tmp_path: Path, signer: EvmSigner
) -> None:
    async with sync_network(tmp_path, {"a": [], "b": ["a"]}) as nodes:
        await publish_all(nodes["a"], dated_posts(signer, 120))
        b = nodes["b"].node
        limits = SyncLimits(list_threshold=40)
        clients = without_pages(in_process(nodes))
        reconciler = Reconciler(b.sessions, b.intake, clients, limits)
        report = await reconciler.reconcile(nodes["a"].url)
        assert (report.pulled, report.unreadable) == (120, 0)
        await wait_until_equal(nodes["a"], nodes["b"])


def lying_peer(
    page: Callable[[], list[dict[str, Any]]],
    following: tuple[float, str] | None = (9.0, "z"),
    asked: list[httpx.Request] | None = None,
) -> ClientFactory:
    """A peer that claims 5 000 messages in any bucket the node asks about, lists one of them
    (and says the listing was cut short), and serves `page` (with `following` as the next
    cursor) for any of them; its requests go to `asked`."""

    def answer(request: httpx.Request) -> httpx.Response:
        if asked is not None:
            asked.append(request)
        if request.url.path == "/api/v0/sync/digest":
            parts = int(request.url.params.get("buckets", 1))
            return httpx.Response(200, json={"buckets": [[5000, "ab"]] * parts})
        if request.url.path == PAGES_PATH:
            return httpx.Response(200, json={"messages": page(), "next": following})
        if request.url.path == "/api/v0/sync/hashes":
            return httpx.Response(200, json={"hashes": [["f" * 64, 5.0, False]], "truncated": True})
        return httpx.Response(404)

    return lambda url: httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url=url)


@pytest.mark.parametrize(
    "page",
    [
        lambda: [{"time": 5.0, "item_hash": "b"}, {"time": 4.0, "item_hash": "a"}],
        lambda: [{"time": 5.0, "item_hash": "a"}, {"time": 5.0, "item_hash": "a"}],
        lambda: [{"time": -1.0, "item_hash": "a"}],
        lambda: [{"item_hash": "a"}],
    ],
    ids=["backwards", "repeated", "outside", "no time"],
)
async def test_a_page_out_of_order_or_range_fails_the_round_instead_of_looping(
    tmp_path: Path, page: Callable[[], list[dict[str, Any]]]
) -> None:
    async with sync_network(tmp_path, {"b": []}) as nodes:
        b = nodes["b"].node
        reconciler = Reconciler(b.sessions, b.intake, lying_peer(page), SyncLimits())
        with pytest.raises(PeerError, match="page"):
            await reconciler.reconcile("http://liar.test")


async def test_a_bucket_that_gave_nothing_new_is_narrowed_down_next_round(tmp_path: Path) -> None:
    """A peer serving junk pages costs one reading of a bucket per pause, not one per round."""
    junk = [{"time": 5.0, "item_hash": "f" * 64, "type": "POST"}]
    asked: list[httpx.Request] = []
    async with sync_network(tmp_path, {"b": []}) as nodes:
        b = nodes["b"].node
        limits = SyncLimits(max_pulls=1)
        reconciler = Reconciler(b.sessions, b.intake, lying_peer(lambda: junk, None, asked), limits)
        first = await reconciler.reconcile("http://liar.test")
        assert (first.pulled, first.unreadable) == (0, 1)
        whole = {"start": str(FULL_RANGE[0]), "end": str(FULL_RANGE[1])}
        pages = [dict(request.url.params) for request in asked if request.url.path == PAGES_PATH]
        assert [{key: page[key] for key in whole} for page in pages] == [whole]
        asked.clear()
        await reconciler.reconcile("http://liar.test")
        assert asked[1].url.params["buckets"] == "16"  # split, not read again


async def test_a_listing_cut_short_is_read_whole_instead(tmp_path: Path) -> None:
    """Over 10 000 messages within the narrowest bucket: their tail would never be listed."""
    asked: list[httpx.Request] = []
    async with sync_network(tmp_path, {"b": []}) as nodes:
        b = nodes["b"].node
        limits = SyncLimits(min_width=FULL_RANGE[1])  # the whole range is "narrow"
        reconciler = Reconciler(b.sessions, b.intake, lying_peer(list, None, asked), limits)
        await reconciler.reconcile("http://liar.test")
        paths = [request.url.path for request in asked]
        assert paths == ["/api/v0/sync/digest", "/api/v0/sync/hashes", PAGES_PATH]


class ScriptedReconciler:
    """Rounds cut short `behind` times, then rounds that find nothing; when each ran. The
    pending queue holds what `backlogs` says, one value per look (then 0)."""

    limits = SyncLimits(backlog=100)

    def __init__(self, behind: int, backlogs: list[int] | None = None) -> None:
        self.behind = behind
        self.backlogs = backlogs or []
        self.times: list[float] = []
        self.looks: list[float] = []

    async def backlog(self) -> int:
        self.looks.append(time.monotonic())
        return self.backlogs.pop(0) if self.backlogs else 0

    async def reconcile(self, peer: str) -> PeerRound:
        self.times.append(time.monotonic())
        return PeerRound(peer, cut_short=len(self.times) <= self.behind)


async def run_service(
    reconciler: ScriptedReconciler, rounds: int, interval: float, first_round_delay: float = 0.0
) -> list[float]:
    """Seconds from the start of the service to each of its first `rounds` rounds."""
    service = SyncService(
        reconciler,  # type: ignore[arg-type]
        ["http://a.test"],
        interval,
        first_round_delay,
    )
    started = time.monotonic()
    service.start()
    try:
        while len(reconciler.times) < rounds:
            await asyncio.sleep(0.01)
    finally:
        await service.stop()
    return [moment - started for moment in reconciler.times]


async def test_rounds_cut_short_are_followed_at_once_then_the_interval_applies() -> None:
    offsets = await run_service(ScriptedReconciler(behind=3), rounds=5, interval=0.5)
    assert offsets[0] < 0.3  # the first round at once
    assert offsets[3] - offsets[0] < 0.3  # three rounds right after the first
    assert offsets[4] - offsets[3] >= 0.5  # caught up: the interval again


async def test_the_first_round_waits_the_configured_delay() -> None:
    (first,) = await run_service(
        ScriptedReconciler(behind=0), rounds=1, interval=5, first_round_delay=0.3
    )
    assert first >= 0.3


async def test_a_round_waits_while_processing_drains_the_pending_queue() -> None:
    """A round waits while the queue shrinks, not once it stops (messages waiting to be
    retried); while behind, only until the queue is down to the backlog limit (100 here)."""
    draining = ScriptedReconciler(behind=0, backlogs=[400, 300, 200, 90])
    (first,) = await run_service(draining, rounds=1, interval=0.1)
    assert len(draining.looks) == 5
    assert first >= 4 * BACKLOG_POLL
    stuck = ScriptedReconciler(behind=0, backlogs=[400, 400])
    (first,) = await run_service(stuck, rounds=1, interval=0.1)
    assert len(stuck.looks) == 2
    behind = ScriptedReconciler(behind=1, backlogs=[0, 400, 300, 90])
    first, second = await run_service(behind, rounds=2, interval=0.1)
    assert len(behind.looks) == 4
    assert 2 * BACKLOG_POLL <= second - first < 0.1 + 2 * BACKLOG_POLL


class GivingReconciler:
    """Every peer gives `pulled` new messages each round; which peers were reconciled."""

    def __init__(self, pulled: int) -> None:
        self.pulled = pulled
        self.peers: list[str] = []

    async def reconcile(self, peer: str) -> PeerRound:
        self.peers.append(peer)
        return PeerRound(peer, pulled=self.pulled)


@pytest.mark.parametrize(
    ("pulled", "expected"),
    [(1, ["p", "q", "r", "p"]), (0, ["p", "q", "r"] * 4)],
    ids=["each gives", "none gives"],
)
async def test_a_round_stops_at_a_peer_that_gave_something_and_the_next_starts_after_it(
    pulled: int, expected: list[str]
) -> None:
    reconciler = GivingReconciler(pulled)
    service = SyncService(reconciler, ["p", "q", "r"], interval=NEVER)  # type: ignore[arg-type]
    for _ in range(4):
        await service.run_round()
    assert reconciler.peers == expected
