"""Processing: take due pending messages, run the checks and the type handler, record results.

Messages are processed in batches: one transaction per batch (one commit, one fsync) with a
savepoint per message, so a bad message rolls back only itself. Within a batch messages run in
order, so an amend can follow its original in the same batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.messages import clear_rejection, record_rejection
from alephnet.ccn.db.accessors.pending import next_attempt_time, ready_pending
from alephnet.ccn.db.accessors.status import get_status, set_status
from alephnet.ccn.db.engine import SessionFactory
from alephnet.ccn.db.models import FilePinRow, MessageRow, PendingMessageRow
from alephnet.ccn.handlers.registry import HandlerMap
from alephnet.ccn.payments.balances import BalanceService
from alephnet.ccn.pipeline.backoff import retry_delay
from alephnet.ccn.pipeline.content import ContentSource
from alephnet.ccn.pipeline.events import MessageEvents, ProcessingResult
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.serialization import message_to_dict
from alephnet.protocol.chains import verify_signature
from alephnet.protocol.enums import ItemType, MessageStatus, MessageType
from alephnet.protocol.errors import (
    ForgottenDuplicate,
    InternalError,
    InvalidMessage,
    MessageError,
    RetryMessage,
)
from alephnet.protocol.parsing import parse_content, parse_message

logger = logging.getLogger(__name__)

IDLE_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    """A pending row's values, read before processing: a rolled-back savepoint expires ORM
    objects, and reloading them lazily is not possible in async code."""

    id: int
    item_hash: str
    message: dict[str, Any]
    retries: int
    reception_time: float

    @classmethod
    def of(cls, row: PendingMessageRow) -> PendingSnapshot:
        return cls(row.id, row.item_hash, row.message, row.retries, row.reception_time)


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    batch_size: int = 500
    max_retries: int = 10
    retry_cap_seconds: float = 300.0


class MessageProcessor:
    def __init__(
        self,
        sessions: SessionFactory,
        handlers: HandlerMap,
        events: MessageEvents,
        content: ContentSource,
        balances: BalanceService,
        wake: asyncio.Event,
        settings: ProcessorSettings,
    ) -> None:
        self._sessions = sessions
        self._handlers = handlers
        self._events = events
        self._content = content
        self._balances = balances
        self._wake = wake
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
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
        while True:
            try:
                handled = await self.process_ready_batch()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("processing batch failed; retrying in %.0f s", IDLE_WAIT)
                await asyncio.sleep(IDLE_WAIT)
                continue
            if handled == 0:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        async with self._sessions() as session:
            next_time = await next_attempt_time(session)
        timeout = IDLE_WAIT if next_time is None else max(0.0, next_time - time.time())
        self._wake.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=min(timeout, IDLE_WAIT))

    async def process_ready_batch(self) -> int:
        """Process every message due now, up to one batch; returns how many were handled."""
        async with self._sessions() as session, session.begin():
            rows = await ready_pending(session, time.time(), self._settings.batch_size)
            snapshots = [PendingSnapshot.of(row) for row in rows]
            results = [await self._process_one(session, snapshot) for snapshot in snapshots]
        for result in results:
            if result is not None:
                self._events.publish(result)
        return len(snapshots)

    async def _process_one(
        self, session: AsyncSession, pending: PendingSnapshot
    ) -> ProcessingResult | None:
        try:
            async with session.begin_nested():
                result = await self._accept(session, pending)
                await _drop_pending(session, pending.item_hash)
        except InvalidMessage as error:
            return await self._reject(session, pending, error)
        except RetryMessage as error:
            return await self._retry(session, pending, error)
        except Exception as error:
            logger.exception("unexpected error processing %s", pending.item_hash)
            return await self._retry(session, pending, InternalError(repr(error)))
        if result is not None:
            self.processed_total += 1
        return result

    async def _accept(
        self, session: AsyncSession, pending: PendingSnapshot
    ) -> ProcessingResult | None:
        message = parse_message(pending.message)
        status = await get_status(session, message.item_hash)
        if status is not None and status.status in (
            MessageStatus.PROCESSED,
            MessageStatus.REMOVING,
        ):
            return None
        if status is not None and status.status == MessageStatus.FORGOTTEN:
            raise ForgottenDuplicate(f"{message.item_hash} was forgotten and cannot come back")
        verify_signature(message)
        if message.item_type == ItemType.INLINE:
            assert message.item_content is not None
            assert message.content is not None
            raw_content, content = message.item_content, message.content
        else:
            fetched = await self._content.fetch(message)
            content = parse_content(message, fetched)
            raw_content = fetched.decode()
        incoming = IncomingMessage(message, content, raw_content, pending.reception_time)
        handler = self._handlers[MessageType(message.type)]
        await handler.check_dependencies(session, incoming)
        await handler.check_permissions(session, incoming)
        await self._balances.check(session, incoming)
        row = _message_row(incoming, handler.denormalised_columns(incoming))
        session.add(row)
        if message.item_type != ItemType.INLINE:
            session.add(_content_pin(incoming))
        await handler.process(session, incoming)
        await set_status(session, message.item_hash, MessageStatus.PROCESSED, time.time())
        await clear_rejection(session, message.item_hash)
        return ProcessingResult(
            message.item_hash, MessageStatus.PROCESSED, message=message_to_dict(row)
        )

    async def _reject(
        self, session: AsyncSession, pending: PendingSnapshot, error: MessageError
    ) -> ProcessingResult:
        logger.info("rejected %s: %s", pending.item_hash, error)
        async with session.begin_nested():
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
            await session.execute(
                delete(PendingMessageRow).where(PendingMessageRow.id == pending.id)
            )
        self.rejected_total += 1
        return ProcessingResult(
            pending.item_hash, MessageStatus.REJECTED, error_code=int(error.error_code)
        )

    async def _retry(
        self, session: AsyncSession, pending: PendingSnapshot, error: MessageError
    ) -> ProcessingResult | None:
        retries = pending.retries + 1
        if retries >= self._settings.max_retries:
            return await self._reject(session, pending, error)
        delay = retry_delay(retries, self._settings.retry_cap_seconds)
        logger.debug("retry %s in %.1f s: %s", pending.item_hash, delay, error)
        async with session.begin_nested():
            await session.execute(
                update(PendingMessageRow)
                .where(PendingMessageRow.id == pending.id)
                .values(retries=retries, next_attempt=time.time() + delay)
            )
        return None


async def _drop_pending(session: AsyncSession, item_hash: str) -> None:
    await session.execute(delete(PendingMessageRow).where(PendingMessageRow.item_hash == item_hash))


def _message_row(incoming: IncomingMessage[Any], columns: dict[str, Any]) -> MessageRow:
    message = incoming.message
    payment = getattr(incoming.content, "payment", None)
    return MessageRow(
        item_hash=message.item_hash,
        type=message.type,
        chain=message.chain,
        sender=message.sender,
        signature=message.signature,
        item_type=message.item_type,
        item_content=message.item_content,
        content=incoming.content_document(),
        time=message.time,
        channel=message.channel,
        size=incoming.size,
        owner=incoming.owner,
        payment_type=payment.type if payment is not None else None,
        confirmations=[],
        reception_time=incoming.reception_time,
        **columns,
    )


def _content_pin(incoming: IncomingMessage[Any]) -> FilePinRow:
    """A message's own content file stays as long as the message does."""
    return FilePinRow(
        file_hash=incoming.item_hash,
        kind="content",
        owner=incoming.owner,
        item_hash=incoming.item_hash,
        ref=None,
        created=time.time(),
        delete_by=None,
    )
