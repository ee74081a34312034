"""The client side of anti-entropy sync: find what a peer holds that this node lacks, pull it.

A round with one peer compares the digest of the whole time range; while a bucket differs and
the peer holds too many messages in it to list, it is either read whole (this node holds
little of it: reading what it already has costs less than narrowing down) or split into
`fanout` buckets and compared again; a differing bucket small enough is listed, and the hashes
missing here are read from the peer. What is read is submitted to the intake, to be verified
and processed like any message (`pulls.py`). Nodes that agree exchange one small request per
round. Pulling is one-way: a peer that lacks what this node has pulls it in its own round.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from alephnet.ccn.db.accessors.pending import count_pending
from alephnet.ccn.db.accessors.status import get_statuses
from alephnet.ccn.db.accessors.sync import ReplicatedHash, replicated_digests
from alephnet.ccn.db.engine import SessionFactory
from alephnet.ccn.peer_http import ClientFactory
from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.sync.digest import FULL_RANGE, Bucket, TimeRange
from alephnet.ccn.sync.peer_api import PeerApi, RouteMissing
from alephnet.ccn.sync.pulls import Cursor, PeerRound, Pulls, RecentAttempts
from alephnet.protocol.enums import MessageStatus

WANTED_STATUSES = (None, MessageStatus.REJECTED.value)
"""Local statuses of a hash worth pulling: unknown, or rejected here but live on the peer (a
dependency, such as a delegation, may have been missing here)."""


@dataclass(frozen=True, slots=True)
class SyncLimits:
    fanout: int = 16
    list_threshold: int = 1000
    """A differing bucket is listed once the peer holds at most this many messages in it."""
    min_width: float = 1e-3
    """Buckets narrower than this are listed whatever their count (many messages, one time)."""
    read_whole: float = 0.25
    """A bucket too large to list is read whole when this node holds at most this fraction
    of the peer's count: most of it is missing here."""
    max_pulls: int = 10_000
    """Messages pulled from one peer per round; a round cut short is followed by the next at
    once, so this bounds a round's length (other peers wait for it), not the catch-up rate."""
    backlog: int = 5_000
    """A round starts once this node's pending queue holds at most this many messages (or
    stops shrinking): pulling far ahead of processing gains nothing, and each round walks the
    digests again, on both nodes, while what it pulled is still pending."""
    batch: int = 100
    """Messages read per request by hash (their hashes go in the query string)."""
    page: int = 1000
    """Messages read per request of a whole bucket."""
    concurrency: int = 2
    """Pages in flight with one peer (being read, or committed by the intake). Two overlap the
    peer's answer and the commit; four made the node read and commit ahead of processing, on
    the same cores: a catch-up of 20 000 messages ran at 3 048-3 309 msg/s from launch with
    four, 3 273-3 377 with two (four A/B pairs)."""
    retry_pause: float = 600.0
    """A hash pulled before that is still not here (unreadable, or rejected) is pulled again
    only after this long: a peer listing junk costs one attempt per pause, not per round."""
    remembered: int = 100_000
    """How many such attempts are remembered (the oldest are forgotten first)."""


DEFAULT_LIMITS = SyncLimits()


class Reconciler:
    def __init__(
        self,
        sessions: SessionFactory,
        intake: MessageIntake,
        clients: ClientFactory,
        limits: SyncLimits = DEFAULT_LIMITS,
    ) -> None:
        self._sessions = sessions
        self._intake = intake
        self._clients = clients
        self.limits = limits
        self._attempts = RecentAttempts(limits.retry_pause, limits.remembered)
        self._resume: dict[str, tuple[TimeRange, Cursor]] = {}
        """Per peer, the bucket whose reading the quota interrupted, and where: the next
        round goes on from there rather than reading again what is pending here."""
        self._without_pages: set[str] = set()
        """Peers that lack our paged route (another implementation): never read whole."""
        self._fruitless = RecentAttempts(limits.retry_pause, limits.remembered)
        """Buckets of a peer read whole lately that gave nothing new (all pending here,
        pulled before, or junk): narrowed down instead for a pause, so that a peer serving
        messages this node refuses costs pages once per pause, not every round."""

    async def backlog(self) -> int:
        """Messages pending here: what this node has pulled (or received) but not processed."""
        async with self._sessions() as session:
            return await count_pending(session)

    async def reconcile(self, peer: str) -> PeerRound:
        """One round with `peer`; PeerError if it cannot be compared with at all."""
        report = PeerRound(peer)
        async with self._clients(peer) as http:
            api = PeerApi(http)
            pulls = Pulls(
                api,
                self._intake,
                self._attempts,
                report,
                self.limits.max_pulls,
                self.limits.concurrency,
            )
            try:
                await self._walk(api, pulls, report)
                await pulls.drain()
                report.cut_short = pulls.exhausted and report.pulled > 0
            finally:
                await pulls.cancel()
                report.requests = api.requests
        return report

    async def _walk(self, api: PeerApi, pulls: Pulls, report: PeerRound) -> None:
        """Depth first, oldest bucket first: older messages are the dependencies of newer."""
        whole = TimeRange(*FULL_RANGE)
        with report.timing("digests"):
            todo = [(whole, (await api.digest(whole, 1))[0], (await self._digest(whole, 1))[0])]
        while todo and not pulls.exhausted:
            span, theirs, ours = todo.pop()
            if theirs == ours or theirs.count == 0:
                continue
            if self._resumes(report.peer, span) and await self._read(span, pulls, report):
                continue
            if theirs.count <= self.limits.list_threshold or span.width <= self.limits.min_width:
                await self._list(api, span, pulls, report)
            elif not (self._mostly_missing(theirs, ours) and await self._read(span, pulls, report)):
                todo.extend(reversed(await self._split(api, span, report)))

    def _mostly_missing(self, theirs: Bucket, ours: Bucket) -> bool:
        return ours.count <= theirs.count * self.limits.read_whole

    def _resumes(self, peer: str, span: TimeRange) -> bool:
        """Whether the last round's quota cut the reading of this bucket: the rest is read
        whatever the counts (what was read is pending here, not yet in the digest)."""
        resumed = self._resume.get(peer)
        return resumed is not None and resumed[0] == span

    async def _read(self, span: TimeRange, pulls: Pulls, report: PeerRound) -> bool:
        """Read the bucket whole; False if it is rather to be narrowed down (the peer cannot
        page, or the last reading gave nothing new)."""
        bucket = f"{report.peer} {span.start!r} {span.end!r}"
        now = time.monotonic()
        if report.peer in self._without_pages or not self._fruitless.due(bucket, now):
            return False
        resumed = self._resume.pop(report.peer, None)
        after = resumed[1] if resumed is not None and resumed[0] == span else None
        pulled = report.pulled
        try:
            stopped = await pulls.by_range(span, after, self.limits.page)
        except RouteMissing:
            self._without_pages.add(report.peer)
            return False
        await pulls.drain()
        if after is None and report.pulled == pulled:
            self._fruitless.note(bucket, now)
        elif stopped is not None:
            self._resume[report.peer] = (span, stopped)
        return True

    async def _split(
        self, api: PeerApi, span: TimeRange, report: PeerRound
    ) -> list[tuple[TimeRange, Bucket, Bucket]]:
        fanout = self.limits.fanout
        with report.timing("digests"):
            theirs = await api.digest(span, fanout)
            ours = await self._digest(span, fanout)
        return list(zip(span.split(fanout), theirs, ours, strict=True))

    async def _digest(self, span: TimeRange, parts: int) -> list[Bucket]:
        async with self._sessions() as session:
            return await replicated_digests(session, span.start, span.end, parts)

    async def _list(self, api: PeerApi, span: TimeRange, pulls: Pulls, report: PeerRound) -> None:
        """Pull the listed hashes missing here. A listing cut short (more messages than a
        listing holds, all within `min_width`) is read whole instead, as far as the peer
        can: its tail would never be listed."""
        with report.timing("listing"):
            listing = await api.hashes(span)
        if listing.truncated and await self._read(span, pulls, report):
            return
        with report.timing("listing"):
            wanted = pulls.due(await self._wanted(listing.hashes))
        await pulls.by_hashes(wanted, self.limits.batch)

    async def _wanted(self, listed: Iterable[ReplicatedHash]) -> list[str]:
        """The peer's live hashes that this node misses. A hash forgotten on the peer is not
        pulled: its FORGET, live on the peer, is listed in its own bucket and pulled there."""
        live = [entry.item_hash for entry in listed if not entry.forgotten]
        async with self._sessions() as session:
            statuses = await get_statuses(session, live)
        return [item_hash for item_hash in live if statuses.get(item_hash) in WANTED_STATUSES]
