"""Pulling messages from one peer into the intake, pipelined: while the intake commits what
arrived, the next requests to the peer are already on their way.

Two ways to read messages: by hash, 100 per request through the public `messages.json` route
(any Aleph node answers it), or a whole time range page by page through our own
`/api/v0/sync/messages` (the reconciler chooses, docs/sync.md). Either way a message is only
queued here: the pipeline verifies and processes it like any other. Up to `concurrency` pages
are in flight (being read from the peer, or committed by the intake) at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Collection, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.sync.digest import TimeRange
from alephnet.ccn.sync.peer_api import PeerApi, PeerError
from alephnet.protocol.errors import MessageError
from alephnet.protocol.message import PendingMessage
from alephnet.protocol.parsing import parse_message

logger = logging.getLogger(__name__)

PARSE_SLICE = 100
"""Messages parsed between two turns of the event loop."""
Cursor = tuple[float, str]
"""(time, item_hash) of the last message read of a range: the next page starts after it."""


@dataclass(slots=True)
class PeerRound:
    """What one round with one peer did."""

    peer: str
    requests: int = 0
    pulled: int = 0
    """Messages queued here that this node did not hold."""
    unreadable: int = 0
    """Messages the peer was asked for but could not give, or gave malformed."""
    cut_short: bool = False
    """The round pulled new messages until its quota: the sets may well differ still."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent in each step of the round (digests, listing, reading, intake); pipelined
    steps overlap, so they may add up to more than the round's wall time."""

    @contextmanager
    def timing(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[step] = self.seconds.get(step, 0.0) + elapsed


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


class Pulls:
    """The messages of one round with one peer on their way to the intake, at most `quota` of
    them; `drain` waits for every page in flight."""

    def __init__(
        self,
        api: PeerApi,
        intake: MessageIntake,
        attempts: RecentAttempts,
        report: PeerRound,
        quota: int,
        concurrency: int,
    ) -> None:
        self._api = api
        self._intake = intake
        self._attempts = attempts
        self._report = report
        self._left = quota
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def exhausted(self) -> bool:
        return self._left <= 0

    def due(self, item_hashes: list[str]) -> list[str]:
        """The hashes not pulled lately, as many as the quota still allows."""
        now = time.monotonic()
        due = [item_hash for item_hash in item_hashes if self._attempts.due(item_hash, now)]
        return due[: max(0, self._left)]

    async def by_hashes(self, item_hashes: list[str], batch: int) -> None:
        """Read `item_hashes` from the public route, `batch` per request, several at once."""
        for start in range(0, len(item_hashes), batch):
            chunk = item_hashes[start : start + batch]
            self._left -= len(chunk)
            await self._spawn(self._read_hashes(chunk))

    async def by_range(self, span: TimeRange, after: Cursor | None, page: int) -> Cursor | None:
        """Read the live messages of `span` after `after`, page by page, queueing each page
        while the next is read. Returns where it stopped when the quota ran out (None: the
        whole range was read)."""
        while not self.exhausted:
            with self._report.timing("reading"):
                answer = await self._api.envelopes(span, after, min(page, self._left))
            if not answer.messages:
                return None
            after = _last_cursor(answer.messages, span, after)
            self._left -= len(answer.messages)
            await self._spawn(self._queue_page(answer.messages))
            if answer.next is None:
                return None
        return after

    async def drain(self) -> None:
        """Wait for every page in flight; the first failure (other than a peer's) is raised."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` once a slot is free: `concurrency` pages at most in flight."""
        await self._slots.acquire()
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _queue_page(self, answers: list[dict[str, Any]]) -> None:
        """A page of a range, but for the hashes pulled lately (pending here, or refused)."""
        now = time.monotonic()
        due = [raw for raw in answers if self._attempts.due(str(raw.get("item_hash")), now)]
        messages = await self._readable(due, None)
        self._report.unreadable += len(due) - len(messages)
        await self._queue(messages)

    async def _read_hashes(self, item_hashes: list[str]) -> None:
        now = time.monotonic()
        for item_hash in item_hashes:
            self._attempts.note(item_hash, now)
        try:
            with self._report.timing("reading"):
                answers = await self._api.messages(item_hashes)
        except PeerError as error:
            logger.warning("sync: %d messages unreadable: %s", len(item_hashes), error)
            self._report.unreadable += len(item_hashes)
            return
        messages = await self._readable(answers, set(item_hashes))
        self._report.unreadable += len(item_hashes) - len(messages)
        await self._queue(messages)

    async def _readable(
        self, answers: list[dict[str, Any]], asked: Collection[str] | None
    ) -> list[PendingMessage]:
        """The answers that parse (and were asked for, when `asked` is given). Parsed a slice
        at a time, letting the event loop serve requests between slices: a page of 1 000
        messages takes a tenth of a second to parse."""
        messages = []
        for start in range(0, len(answers), PARSE_SLICE):
            await asyncio.sleep(0)
            for raw in answers[start : start + PARSE_SLICE]:
                message = _parsed(raw)
                if message is None:
                    continue
                if asked is not None and message.item_hash not in asked:
                    logger.warning("sync: got %s, which was not asked for", message.item_hash)
                    continue
                messages.append(message)
        return messages

    async def _queue(self, messages: list[PendingMessage]) -> None:
        """Into the intake together (they share commits)."""
        now = time.monotonic()
        for message in messages:
            self._attempts.note(message.item_hash, now)
        with self._report.timing("intake"):
            accepted = await self._intake.submit_many(messages, origin="sync")
        self._report.pulled += sum(result.queued for result in accepted)


def _parsed(raw: dict[str, Any]) -> PendingMessage | None:
    try:
        return parse_message(raw)
    except MessageError as error:
        logger.warning("sync: %s unreadable: %s", raw.get("item_hash"), error)
        return None


def _last_cursor(answers: list[dict[str, Any]], span: TimeRange, after: Cursor | None) -> Cursor:
    """The cursor after a page, once checked that the page moves forward inside `span`: a
    peer answering out of order or outside the range could make the reader loop forever."""
    previous = after
    for raw in answers:
        cursor = (raw.get("time"), raw.get("item_hash"))
        if not (isinstance(cursor[0], float | int) and isinstance(cursor[1], str)):
            raise PeerError(f"a page holds a message without time or hash: {cursor}")
        current = (float(cursor[0]), cursor[1])
        if not span.start <= current[0] < span.end or (
            previous is not None and current <= previous
        ):
            raise PeerError(f"a page of {span} is out of order or range at {current}")
        previous = current
    assert previous is not None
    return previous
