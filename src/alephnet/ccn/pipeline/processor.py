"""Processing: take due pending messages, run the checks and the type handler, record results.

Messages are processed in batches: one transaction per batch (one commit, one fsync) with a
savepoint per message, so a bad message rolls back only itself. Within a batch messages run in
order, so an amend can follow its original in the same batch. What depends on a message alone
(parsing it, verifying its signature, fetching its content) is worked out before the batch
takes the write gate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.files import content_pin
from alephnet.ccn.db.accessors.messages import clear_rejection, record_rejection
from alephnet.ccn.db.accessors.pending import (
    delete_pending_for,
    delete_pending_ids,
    pending_states,
    postpone,
    ready_pending,
)
from alephnet.ccn.db.accessors.status import get_status, set_status
from alephnet.ccn.db.accessors.sync import add_to_digest_slots
from alephnet.ccn.db.engine import SessionFactory
from alephnet.ccn.db.models import MessageRow, MessageStatusRow
from alephnet.ccn.db.write_buffer import (
    BufferedWriteFailed,
    WriteBuffer,
    buffered_writes,
    defer_insert,
)
from alephnet.ccn.db.write_gate import WriteGate
from alephnet.ccn.handlers.registry import HandlerMap
from alephnet.ccn.message_filters import message_tags
from alephnet.ccn.payments.balances import BalanceService
from alephnet.ccn.pipeline.backoff import retry_delay
from alephnet.ccn.pipeline.content import ContentSource
from alephnet.ccn.pipeline.events import ProcessingResult, ResultSink
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.serialization import message_values_to_dict
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol.chains import verify_signature
from alephnet.protocol.enums import ItemType, MessageStatus, MessageType
from alephnet.protocol.errors import (
    ForgottenDuplicate,
    InternalError,
    MessageError,
    RetryMessage,
)
from alephnet.protocol.message import PendingMessage
from alephnet.protocol.parsing import parse_content, parse_message

logger = logging.getLogger(__name__)

IDLE_WAIT = 1.0
MIN_FETCH = 32
DECODE_TURN = 50


DENORMALISED_COLUMNS = (
    "content_type",
    "content_ref",
    "content_key",
    "content_item_hash",
)
"""Every `messages` row names them all (None where its type has no such column): the rows
of a batch are inserted by one executemany, whose parameter sets must share their keys."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A pending message parsed, its signature verified and its content at hand: all of it
    depends on the message alone, so it is worked out before the batch takes the write gate."""

    message: PendingMessage
    content: Any
    raw_content: str


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    """A pending row's values, read as plain columns: no ORM object to build, and none that a
    rolled-back savepoint could expire."""

    id: int
    item_hash: str
    message: dict[str, Any]
    retries: int
    reception_time: float
    status: str | None
    """The hash's status when the batch began (None: no status row). A rejected hash sent
    again counts as rejected until it settles: the intake marked it pending, but its
    rejection is still on record, to be cleared if it is processed."""
    decoded: Decoded | Exception
    """The message decoded, or why it could not be."""

    @classmethod
    def of(
        cls, row: Row[Any], state: tuple[str | None, bool], decoded: Decoded | Exception
    ) -> PendingSnapshot:
        status, rejected = state
        if rejected and status == MessageStatus.PENDING:
            status = MessageStatus.REJECTED.value
        return cls(
            row.id, row.item_hash, row.message, row.retries, row.reception_time, status, decoded
        )


IN_PROCESS_BATCH = 500
WORKER_BATCH = 1000
"""A batch's fixed costs (its queries, the gate, the commit, the results' hand-over) spread
over more messages: a catch-up of 20 000 messages ran 8 % faster in a worker with batches of
1 000 than of 500. In the node's own process a batch shares the event loop with the API,
whose reads then waited twice as long at the median."""


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    batch_size: int = IN_PROCESS_BATCH
    batch_seconds: float = 0.02
    """Past this long, a batch stops taking messages if the intake is waiting to commit: it
    waits for the write gate meanwhile, so this bounds how long an acknowledgement is held."""
    max_retries: int = 10
    retry_cap_seconds: float = 300.0

    @classmethod
    def of(cls, settings: CcnSettings) -> ProcessorSettings:
        default = WORKER_BATCH if settings.processing_process else IN_PROCESS_BATCH
        return cls(
            batch_size=settings.processing_batch or default,
            max_retries=settings.max_retries,
            retry_cap_seconds=settings.retry_cap_seconds,
        )


class MessageProcessor:
    def __init__(
        self,
        sessions: SessionFactory,
        handlers: HandlerMap,
        events: ResultSink,
        content: ContentSource,
        balances: BalanceService,
        wake: asyncio.Event,
        gate: WriteGate,
        writers_waiting: Callable[[], bool],
        settings: ProcessorSettings,
    ) -> None:
        self._sessions = sessions
        self._gate = gate
        self._writers_waiting = writers_waiting
        self._handlers = handlers
        self._events = events
        self._content = content
        self._balances = balances
        self._wake = wake
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._fetch_size = MIN_FETCH
        self._next_retry: float | None = None
        """The earliest attempt time this processor gave a postponed row and has not reached."""
        self.processed_total = 0
        self.rejected_total = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="message-processor")

    async def stop(self) -> None:
        """Stop between batches: a batch in progress is committed or rolled back whole."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run_forever(self) -> None:
        """After a batch that left nothing due, wait for work at once rather than asking the
        database again: the wake event is cleared before each fetch, so a commit that came
        after it has set the event again and the wait ends immediately."""
        while True:
            self._wake.clear()
            try:
                outcome = await self._process_next_batch()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("processing batch failed; retrying in %.0f s", IDLE_WAIT)
                await asyncio.sleep(IDLE_WAIT)
                continue
            if outcome.drained:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        """Until the intake commits something, the earliest retry this processor scheduled
        is due, or `IDLE_WAIT` has passed: the queue is looked at once a second whatever, so
        no query is made here (one per batch, when each batch held a message or two). Rows
        only this processor postpones wait for a time in the future; a retry scheduled before
        a restart is found by the next look, at most a second late."""
        if self._wake.is_set():
            return
        timeout = IDLE_WAIT
        if self._next_retry is not None:
            timeout = min(timeout, max(0.0, self._next_retry - time.time()))
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        if self._next_retry is not None and self._next_retry <= time.time():
            self._next_retry = None

    async def process_ready_batch(self) -> int:
        """Process every message due now, up to one batch; returns how many were handled."""
        return (await self._process_next_batch()).handled

    async def _process_next_batch(self) -> BatchOutcome:
        """One batch of the messages due now.

        The due rows are read and decoded first, outside the write gate: parsing, signature
        recovery and content fetches are a third of a message's processing, and the intake's
        commits wait for the gate (its acknowledgements with them). Only this processor
        changes or deletes pending rows, so the rows stay as read.

        Then the batch is one transaction, which takes the write gate at its first write
        (`_holding_gate`). Its fast path takes no savepoints: each message's checks only read,
        so a message failing them leaves nothing to undo, and its writes come after. Should a
        write fail anyway (a handler bug, a constraint), the batch is rolled back and replayed
        with a savepoint per message, under the gate, so one bad message never blocks the
        others.
        """
        due = await self._decoded_due()
        if not due:
            return BatchOutcome()
        snapshots: list[PendingSnapshot] = []
        async with self._sessions() as session, self._holding_gate(due):
            try:
                async with session.begin():
                    states = await pending_states(session, [row.id for row, _ in due])
                    snapshots = [
                        PendingSnapshot.of(row, states[row.id], decoded)
                        for row, decoded in due
                        if row.id in states
                    ]
                    outcome = await self._run_batch(session, snapshots, careful=False)
            except _WriteFailed:
                logger.warning("a write failed in a batch; replaying it message by message")
                session.expunge_all()
                async with session.begin():
                    outcome = await self._run_batch(session, snapshots, careful=True)
        self._publish(outcome)
        outcome.drained = len(due) < self._fetch_size and outcome.handled == len(snapshots)
        self._adapt_fetch_size(outcome.handled, len(due))
        return outcome

    def _holding_gate(
        self, due: list[tuple[Row[Any], Decoded | Exception]]
    ) -> AbstractAsyncContextManager[None]:
        """The write gate for a batch, taken at its first write: what the batch reads before
        it is written by this processor alone, so the intake's commits need not wait for the
        batch's reads, checks and row building. The statuses are the exception, but the
        intake only marks pending the hashes these rows already hold pending (or new ones).
        A batch holding a message whose checks read files takes the gate first, as the
        uploads and the garbage collector write them."""
        if any(self._checks_files(decoded) for _, decoded in due):
            return self._gate.writing(yielding=True)
        return self._gate.from_first_write(yielding=True)

    def _checks_files(self, decoded: Decoded | Exception) -> bool:
        if isinstance(decoded, Exception):
            return False
        return self._handlers[MessageType(decoded.message.type)].checks_files

    async def _decoded_due(self) -> list[tuple[Row[Any], Decoded | Exception]]:
        """Decoding inline messages never waits: the event loop gets a turn every
        `DECODE_TURN` of them, or a batch of 500 would hold a node's API for ~45 ms when
        processing shares its process."""
        async with self._sessions() as session:
            rows = await ready_pending(session, time.time(), self._fetch_size)
        due = []
        for index, row in enumerate(rows, start=1):
            due.append((row, await self._decode(row.message)))
            if index % DECODE_TURN == 0:
                await asyncio.sleep(0)
        return due

    async def _decode(self, raw: dict[str, Any]) -> Decoded | Exception:
        """What a message's checks need that depends on the message alone, or the error
        that stops it (kept, to be raised when the message's turn comes)."""
        try:
            message = parse_message(raw)
            verify_signature(message)
            if message.item_type == ItemType.INLINE:
                assert message.item_content is not None
                return Decoded(message, message.content, message.item_content)
            fetched = await self._content.fetch(message)
            return Decoded(message, parse_content(message, fetched), fetched.decode())
        except Exception as error:
            return error

    def _adapt_fetch_size(self, handled: int, fetched: int) -> None:
        """Fetch about what the time budget lets a batch handle: rows loaded and left
        unhandled are wasted work, and so is a batch cut short by an empty fetch."""
        target = handled * 2 if handled < fetched else fetched * 2
        self._fetch_size = max(MIN_FETCH, min(self._settings.batch_size, target))

    def _publish(self, outcome: BatchOutcome) -> None:
        for result in outcome.results:
            if result.status == MessageStatus.PROCESSED:
                self.processed_total += 1
            elif result.status == MessageStatus.REJECTED:
                self.rejected_total += 1
            self._events.publish(result)

    async def _run_batch(
        self, session: AsyncSession, snapshots: list[PendingSnapshot], careful: bool
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        async with buffered_writes(session) as buffer:
            outcome.statuses = {
                pending.item_hash: pending.status
                for pending in snapshots
                if pending.status is not None
            }
            deadline = time.monotonic() + self._settings.batch_seconds
            for pending in snapshots:
                await self._run_one(session, buffer, pending, outcome, careful)
                outcome.handled += 1
                if time.monotonic() > deadline and self._writers_waiting():
                    break
            try:
                await buffer.flush(session)
                await add_to_digest_slots(session, outcome.processed_hash_times())
                await delete_pending_for(session, outcome.settled_hashes)
                await delete_pending_ids(session, outcome.dropped_ids)
                await session.flush()
            except Exception as error:
                if careful:
                    raise
                raise _WriteFailed from error
        return outcome

    async def _run_one(
        self,
        session: AsyncSession,
        buffer: WriteBuffer,
        pending: PendingSnapshot,
        outcome: BatchOutcome,
        careful: bool,
    ) -> None:
        if careful:
            try:
                async with session.begin_nested():
                    await self._check_and_apply(session, buffer, pending, outcome)
            except Exception as error:
                buffer.discard()
                await self._fail(session, pending, outcome, _as_message_error(error, pending))
            return
        try:
            incoming = await self._check(session, pending, outcome)
        except (_WriteFailed, BufferedWriteFailed) as error:
            raise _WriteFailed from error
        except Exception as error:
            await self._fail(session, pending, outcome, _as_message_error(error, pending))
            return
        if incoming is None:
            outcome.dropped_ids.append(pending.id)
            return
        try:
            outcome.add(await self._apply(session, buffer, incoming, outcome))
        except Exception as error:
            raise _WriteFailed from error

    async def _check_and_apply(
        self,
        session: AsyncSession,
        buffer: WriteBuffer,
        pending: PendingSnapshot,
        outcome: BatchOutcome,
    ) -> None:
        """Every write is flushed before the result counts: within the savepoint, so that a
        failing write rolls back (and rejects) this message alone."""
        incoming = await self._check(session, pending, outcome)
        if incoming is None:
            outcome.dropped_ids.append(pending.id)
            return
        result = await self._apply(session, buffer, incoming, outcome)
        await buffer.flush(session)
        await session.flush()
        outcome.add(result)

    async def _check(
        self, session: AsyncSession, pending: PendingSnapshot, outcome: BatchOutcome
    ) -> IncomingMessage[Any] | None:
        """Everything that decides whether the message is accepted; reads only.

        None means there is nothing to do: the hash is already processed (a copy)."""
        status = outcome.statuses.get(pending.item_hash)
        if status in (MessageStatus.PROCESSED, MessageStatus.REMOVING):
            return None
        if status == MessageStatus.FORGOTTEN:
            raise ForgottenDuplicate(f"{pending.item_hash} was forgotten and cannot come back")
        decoded = pending.decoded
        if isinstance(decoded, Exception):
            raise decoded
        message = decoded.message
        incoming = IncomingMessage(
            message, decoded.content, decoded.raw_content, pending.reception_time
        )
        handler = self._handlers[MessageType(message.type)]
        await handler.check_dependencies(session, incoming)
        await handler.check_permissions(session, incoming)
        await self._balances.check(session, incoming)
        return incoming

    async def _apply(
        self,
        session: AsyncSession,
        buffer: WriteBuffer,
        incoming: IncomingMessage[Any],
        outcome: BatchOutcome,
    ) -> ProcessingResult:
        message = incoming.message
        handler = self._handlers[MessageType(message.type)]
        values = _message_values(incoming, handler.denormalised_columns(incoming))
        defer_insert(session, MessageRow, values)
        if message.item_type != ItemType.INLINE:
            session.add(content_pin(message.item_hash, incoming.owner, time.time()))
        await handler.process(session, incoming)
        status = outcome.statuses.get(message.item_hash)
        if status is None:
            buffer.insert(MessageStatusRow, _status_values(message.item_hash, time.time()))
        else:
            if status == MessageStatus.REJECTED:
                await clear_rejection(session, message.item_hash)
            buffer.update(
                MessageStatusRow,
                MessageStatusRow.item_hash,
                message.item_hash,
                {"status": MessageStatus.PROCESSED.value},
            )
        return ProcessingResult(
            message.item_hash, MessageStatus.PROCESSED, message=message_values_to_dict(values)
        )

    async def _fail(
        self,
        session: AsyncSession,
        pending: PendingSnapshot,
        outcome: BatchOutcome,
        error: MessageError,
    ) -> None:
        retries = pending.retries + 1
        if isinstance(error, RetryMessage) and retries < self._settings.max_retries:
            delay = retry_delay(retries, self._settings.retry_cap_seconds)
            logger.debug("retry %s in %.1f s: %s", pending.item_hash, delay, error)
            retry_at = time.time() + delay
            await postpone(session, pending.id, retries, retry_at)
            if self._next_retry is None or retry_at < self._next_retry:
                self._next_retry = retry_at
            return
        logger.info("rejected %s: %s", pending.item_hash, error)
        await record_rejection(
            session,
            pending.item_hash,
            pending.message,
            int(error.error_code),
            error.details,
            error.message,
        )
        status = await get_status(session, pending.item_hash)
        if status is None or status.status in (MessageStatus.PENDING, MessageStatus.REJECTED):
            await set_status(session, pending.item_hash, MessageStatus.REJECTED, time.time())
            outcome.statuses[pending.item_hash] = MessageStatus.REJECTED
        outcome.dropped_ids.append(pending.id)
        outcome.results.append(
            ProcessingResult(
                pending.item_hash, MessageStatus.REJECTED, error_code=int(error.error_code)
            )
        )


class _WriteFailed(Exception):
    """A write of the fast path failed: the batch must be replayed with savepoints."""


@dataclass
class BatchOutcome:
    results: list[ProcessingResult] = field(default_factory=list)
    settled_hashes: list[str] = field(default_factory=list)
    dropped_ids: list[int] = field(default_factory=list)
    handled: int = 0
    drained: bool = True
    """Whether the batch handled every message that was due when it started."""
    statuses: dict[str, str] = field(default_factory=dict)
    """The status of each hash of the batch, loaded with it in one query and kept up to date
    as messages settle (a copy later in the batch is then dropped): only what is committed
    with the batch, or with a message's savepoint, is recorded here."""

    def processed_hash_times(self) -> Iterator[tuple[str, float]]:
        """What joins the replicated set with this batch: the messages it processed."""
        for result in self.results:
            if result.status == MessageStatus.PROCESSED and result.message is not None:
                yield result.item_hash, result.message["time"]

    def add(self, result: ProcessingResult) -> None:
        self.results.append(result)
        self.settled_hashes.append(result.item_hash)
        self.statuses[result.item_hash] = result.status


def _as_message_error(error: Exception, pending: PendingSnapshot) -> MessageError:
    if isinstance(error, MessageError):
        return error
    logger.exception("unexpected error processing %s", pending.item_hash, exc_info=error)
    return InternalError(repr(error))


def _status_values(item_hash: str, now: float) -> dict[str, Any]:
    """The status row of a hash processed without having been received through the intake."""
    return {"item_hash": item_hash, "status": MessageStatus.PROCESSED.value, "reception_time": now}


def _message_values(incoming: IncomingMessage[Any], columns: dict[str, Any]) -> dict[str, Any]:
    """The `messages` row of a processed message, as column values."""
    message = incoming.message
    payment = getattr(incoming.content, "payment", None)
    document = incoming.content_document()
    tags = message_tags(message.type, document)
    return {
        "item_hash": message.item_hash,
        "type": message.type,
        "chain": message.chain,
        "sender": message.sender,
        "signature": message.signature,
        "item_type": message.item_type,
        "item_content": message.item_content,
        "content": document,
        "time": message.time,
        "channel": message.channel,
        "size": incoming.size,
        "owner": incoming.owner,
        "payment_type": payment.type if payment is not None else None,
        "confirmations": [],
        "reception_time": incoming.reception_time,
        "tags": sorted(tags) if tags else None,
        **dict.fromkeys(DENORMALISED_COLUMNS),
        **columns,
    }
