"""Intake: validated messages enter the durable pending queue, with group commit.

An acknowledgement (HTTP 200/202) promises that the message is on disk. One commit per request
would cap intake at the disk's fsync rate, so concurrent submissions are queued here and a
single writer task commits them together: every caller waits for the commit that holds its
message, and one fsync serves them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.pending import statuses_and_identities
from alephnet.ccn.db.engine import SessionFactory
from alephnet.ccn.db.models import MessageStatusRow, PendingMessageRow
from alephnet.ccn.db.write_gate import WriteGate
from alephnet.protocol.enums import MessageStatus
from alephnet.protocol.message import PendingMessage

logger = logging.getLogger(__name__)

MAX_GROUP = 2000


@dataclass(frozen=True, slots=True)
class Submission:
    message: PendingMessage
    origin: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """What the node holds for a submitted hash once its submission is committed."""

    item_hash: str
    status: MessageStatus
    queued: bool


class MessageIntake:
    def __init__(
        self, sessions: SessionFactory, gate: WriteGate, commit_interval: float = 0.002
    ) -> None:
        self._sessions = sessions
        self._gate = gate
        self._commit_interval = commit_interval
        self._queue: asyncio.Queue[tuple[Submission, asyncio.Future[Accepted]]] = asyncio.Queue()
        self._queued = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    @property
    def queued(self) -> asyncio.Event:
        """Set whenever a commit added messages to the pending queue (wakes the processor)."""
        return self._queued

    def has_waiting(self) -> bool:
        """Whether submissions are queued for the next commit."""
        return not self._queue.empty()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="intake-writer")

    async def stop(self) -> None:
        """Commit what is already submitted, then stop."""
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def submit(self, message: PendingMessage, origin: str) -> Accepted:
        """Queue `message` and return once it is committed to disk."""
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        await self._queue.put((Submission(message, origin), future))
        return await future

    async def submit_many(self, messages: list[PendingMessage], origin: str) -> list[Accepted]:
        """Queue `messages` together and return once they are committed: queued back to back,
        they share commits (up to MAX_GROUP messages each), with no task per message. A
        message the database refuses is left out of the answer (the writer logged why)."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Accepted]] = []
        for message in messages:
            future: asyncio.Future[Accepted] = loop.create_future()
            self._queue.put_nowait((Submission(message, origin), future))
            futures.append(future)
        results = await asyncio.gather(*futures, return_exceptions=True)
        return [result for result in results if isinstance(result, Accepted)]

    async def _write_forever(self) -> None:
        while True:
            group = [await self._queue.get()]
            if self._commit_interval:
                await asyncio.sleep(self._commit_interval)
            while not self._queue.empty() and len(group) < MAX_GROUP:
                group.append(self._queue.get_nowait())
            try:
                await self._commit_group(group)
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _commit_group(self, group: list[tuple[Submission, asyncio.Future[Accepted]]]) -> None:
        """Commit the group; if that fails, commit its messages one by one, so a message the
        database refuses fails alone and its neighbours are still acknowledged."""
        try:
            results = await self._commit([submission for submission, _ in group])
        except Exception as error:
            if len(group) > 1:
                logger.warning("intake commit of %d messages failed; one by one now", len(group))
                for member in group:
                    await self._commit_group([member])
                return
            logger.exception("intake commit of %s failed", group[0][0].message.item_hash)
            if not group[0][1].done():
                group[0][1].set_exception(error)
            return
        if any(result.queued for result in results):
            self._queued.set()
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _commit(self, submissions: list[Submission]) -> list[Accepted]:
        """The rows are built before the gate is taken: the gate orders what the group reads
        and writes, and every moment it is held, the processor's writes wait."""
        now = time.time()
        rows = [_pending_row(submission, now) for submission in submissions]
        async with self._gate.writing(), self._sessions() as session, session.begin():
            return await _enqueue(session, submissions, rows, now)


async def _enqueue(
    session: AsyncSession, submissions: list[Submission], rows: list[dict[str, Any]], now: float
) -> list[Accepted]:
    """Add each submission (its pending row in `rows`) to the queue unless its hash is already
    settled.

    A hash already processed (or pending with the same signature) is not an error: the same
    message sent twice is answered with its current status. A rejected hash may be sent again.
    Rows are written with Core executemany statements: one round trip for the whole group,
    where the ORM would insert pending rows one by one to learn their ids.
    """
    hashes = [submission.message.item_hash for submission in submissions]
    statuses, identities = await statuses_and_identities(session, hashes)
    pending_rows: list[dict[str, Any]] = []
    new_statuses: dict[str, dict[str, Any]] = {}
    revived: set[str] = set()
    results = []
    for submission, row in zip(submissions, rows, strict=True):
        message = submission.message
        status = statuses.get(message.item_hash)
        identity = (message.sender, message.item_hash, message.signature)
        if status not in (None, MessageStatus.REJECTED) and (
            status != MessageStatus.PENDING or identity in identities
        ):
            results.append(Accepted(message.item_hash, MessageStatus(status), queued=False))
            continue
        identities.add(identity)
        pending_rows.append(row)
        if status is None:
            new_statuses[message.item_hash] = {
                "item_hash": message.item_hash,
                "status": MessageStatus.PENDING.value,
                "reception_time": now,
            }
        elif status == MessageStatus.REJECTED:
            revived.add(message.item_hash)
        statuses[message.item_hash] = MessageStatus.PENDING
        results.append(Accepted(message.item_hash, MessageStatus.PENDING, queued=True))
    await _write_rows(session, pending_rows, list(new_statuses.values()), revived)
    return results


_INSERT_PENDING = insert(cast(Table, PendingMessageRow.__table__))
_INSERT_STATUS = insert(cast(Table, MessageStatusRow.__table__))
"""Built once (an `insert()` built for each commit cost ~10 % of a commit of one message), on
the tables rather than the models: the ORM's bulk INSERT handles each row in Python first
(`_collect_insert_commands`), a tenth of the node's CPU in a catch-up, for nothing here."""


async def _write_rows(
    session: AsyncSession,
    pending_rows: list[dict[str, Any]],
    new_statuses: list[dict[str, Any]],
    revived: set[str],
) -> None:
    if pending_rows:
        await session.execute(_INSERT_PENDING, pending_rows)
    if new_statuses:
        await session.execute(_INSERT_STATUS, new_statuses)
    if revived:
        await session.execute(
            update(MessageStatusRow)
            .where(MessageStatusRow.item_hash.in_(revived))
            .values(status=MessageStatus.PENDING.value)
            .execution_options(synchronize_session=False)
        )


def _pending_row(submission: Submission, now: float) -> dict[str, Any]:
    """Historical messages (synced from peers) are tried in their own time order."""
    message = submission.message
    return {
        "item_hash": message.item_hash,
        "sender": message.sender,
        "signature": message.signature,
        "message": message.wire_dict(),
        "origin": submission.origin,
        "reception_time": now,
        "next_attempt": min(message.time, now),
        "retries": 0,
    }
