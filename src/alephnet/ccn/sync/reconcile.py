"""The client side of anti-entropy sync: find what a peer holds that this node lacks, pull it.

A round with one peer compares the digest of the whole time range; while a bucket differs and
the peer holds too many messages in it to list, it is split into `fanout` buckets and compared
again; a differing bucket small enough is listed, and the hashes missing here are read from
the peer and submitted to the intake, to be verified and processed like any message. Nodes
that agree exchange one small request per round. Pulling is one-way: a peer that lacks what
this node has pulls it in its own round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alephnet.ccn.db.accessors.status import get_statuses
from alephnet.ccn.db.accessors.sync import ReplicatedHash, replicated_hashes
from alephnet.ccn.db.engine import SessionFactory
from alephnet.ccn.peer_http import ClientFactory
from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.sync.digest import FULL_RANGE, Bucket, TimeRange, digest_buckets
from alephnet.ccn.sync.peer_api import PeerApi, PeerError
from alephnet.protocol.enums import MessageStatus
from alephnet.protocol.errors import MessageError
from alephnet.protocol.message import PendingMessage
from alephnet.protocol.parsing import parse_message

logger = logging.getLogger(__name__)

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
    max_pulls: int = 5000
    """Messages pulled from one peer per round: a node far behind catches up over rounds."""
    batch: int = 100
    """Messages read from a peer per request (their hashes go in the query string)."""
    retry_pause: float = 600.0
    """A hash pulled before that is still not here (unreadable, or rejected) is pulled again
    only after this long: a peer listing junk costs one attempt per pause, not per round."""
    remembered: int = 100_000
    """How many such attempts are remembered (the oldest are forgotten first)."""


DEFAULT_LIMITS = SyncLimits()


@dataclass(slots=True)
class PeerRound:
    """What one round with one peer did."""

    peer: str
    requests: int = 0
    pulled: int = 0
    unreadable: int = 0
    """Hashes the peer listed but whose message could not be read or parsed."""


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
        self._limits = limits
        self._attempts = RecentAttempts(limits.retry_pause, limits.remembered)

    async def reconcile(self, peer: str) -> PeerRound:
        """One round with `peer`; PeerError if it cannot be compared with at all."""
        report = PeerRound(peer)
        async with self._clients(peer) as http:
            api = PeerApi(http)
            try:
                await self._walk(api, report)
            finally:
                report.requests = api.requests
        return report

    async def _walk(self, api: PeerApi, report: PeerRound) -> None:
        """Depth first, oldest bucket first: older messages are the dependencies of newer."""
        whole = TimeRange(*FULL_RANGE)
        todo = [(whole, (await api.digest(whole, 1))[0], (await self._digest(whole, 1))[0])]
        while todo and report.pulled < self._limits.max_pulls:
            span, theirs, ours = todo.pop()
            if theirs == ours or theirs.count == 0:
                continue
            if theirs.count <= self._limits.list_threshold or span.width <= self._limits.min_width:
                await self._pull(api, span, report)
                continue
            fanout = self._limits.fanout
            parts = zip(
                span.split(fanout),
                await api.digest(span, fanout),
                await self._digest(span, fanout),
                strict=True,
            )
            todo.extend(reversed(list(parts)))

    async def _digest(self, span: TimeRange, parts: int) -> list[Bucket]:
        async with self._sessions() as session:
            rows = await replicated_hashes(session, span.start, span.end)
        return digest_buckets(
            ((row.item_hash, row.time) for row in rows), span.start, span.end, parts
        )

    async def _pull(self, api: PeerApi, span: TimeRange, report: PeerRound) -> None:
        wanted = await self._wanted(await api.hashes(span))
        wanted = wanted[: self._limits.max_pulls - report.pulled]
        for start in range(0, len(wanted), self._limits.batch):
            batch = wanted[start : start + self._limits.batch]
            pulled = await self._pull_batch(api, batch)
            report.pulled += pulled
            report.unreadable += len(batch) - pulled

    async def _wanted(self, listed: Iterable[ReplicatedHash]) -> list[str]:
        """The peer's live hashes that this node misses. A hash forgotten on the peer is not
        pulled: its FORGET, live on the peer, is listed in its own bucket and pulled there."""
        live = [entry.item_hash for entry in listed if not entry.forgotten]
        async with self._sessions() as session:
            statuses = await get_statuses(session, live)
        now = time.monotonic()
        return [
            item_hash
            for item_hash in live
            if statuses.get(item_hash) in WANTED_STATUSES and self._attempts.due(item_hash, now)
        ]

    async def _pull_batch(self, api: PeerApi, item_hashes: list[str]) -> int:
        """Read messages from the peer in one request and queue them (submitted together, they
        share a commit); a message the peer cannot give, or gives wrong, is skipped."""
        now = time.monotonic()
        for item_hash in item_hashes:
            self._attempts.note(item_hash, now)
        try:
            answers = await api.messages(item_hashes)
        except PeerError as error:
            logger.warning("sync: %d messages unreadable: %s", len(item_hashes), error)
            return 0
        asked = set(item_hashes)
        messages = [message for raw in answers if (message := _readable(raw, asked)) is not None]
        await asyncio.gather(*(self._intake.submit(m, origin="sync") for m in messages))
        return len(messages)


def _readable(raw: dict[str, Any], asked: set[str]) -> PendingMessage | None:
    try:
        message = parse_message(raw)
    except MessageError as error:
        logger.warning("sync: %s unreadable: %s", raw.get("item_hash"), error)
        return None
    if message.item_hash not in asked:
        logger.warning("sync: got %s, which was not asked for", message.item_hash)
        return None
    return message


class RecentAttempts:
    """When each hash was last pulled, for the hashes pulled lately: a bounded memory, oldest
    first out, so that a peer cannot grow it without limit."""

    def __init__(self, pause: float, capacity: int) -> None:
        self._pause = pause
        self._capacity = capacity
        self._last: OrderedDict[str, float] = OrderedDict()

    def due(self, item_hash: str, now: float) -> bool:
        last = self._last.get(item_hash)
        return last is None or now - last >= self._pause

    def note(self, item_hash: str, now: float) -> None:
        self._last[item_hash] = now
        self._last.move_to_end(item_hash)
        while len(self._last) > self._capacity:
            self._last.popitem(last=False)
