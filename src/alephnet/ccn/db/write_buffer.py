"""Rows a batch inserts, written together: one executemany per table instead of ORM objects.

Building an ORM object and having the unit of work flush it costs more than everything else a
plain message needs but its signature (each mapped attribute set goes through the ORM's
instrumentation, each object through its bookkeeping). The rows of a processing batch are
only ever inserted in it, so they are gathered as plain dicts and sent with one `INSERT`
executemany per table.

Like the ORM's autoflush, the buffer is written before any statement the session runs (a
`do_orm_execute` hook), so a read later in the batch (an amend's original, an aggregate's
revisions, a FORGET's target) sees the rows buffered before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session

BUFFER_KEY = "insert_buffer"


class BufferedInsertFailed(Exception):
    """The buffered rows could not be written, whichever statement made the buffer flush:
    the batch as a whole failed, not the message whose read happened to trigger it."""


class InsertBuffer:
    def __init__(self) -> None:
        self._rows: dict[type[DeclarativeBase], list[dict[str, Any]]] = {}

    def add(self, model: type[DeclarativeBase], values: dict[str, Any]) -> None:
        self._rows.setdefault(model, []).append(values)

    def discard(self) -> None:
        """Forget the buffered rows: their transaction (or savepoint) is rolled back."""
        self._rows = {}

    async def flush(self, session: AsyncSession) -> None:
        if self._rows:
            await session.run_sync(self.flush_sync)

    def flush_sync(self, session: Session) -> None:
        rows, self._rows = self._rows, {}
        if not rows:
            return
        connection = session.connection()
        try:
            for model, values in rows.items():
                connection.execute(insert(model), values)
        except Exception as error:
            raise BufferedInsertFailed(f"buffered inserts failed: {error}") from error

    def _before_statement(self, state: ORMExecuteState) -> None:
        self.flush_sync(state.session)


@asynccontextmanager
async def buffered_inserts(session: AsyncSession) -> AsyncIterator[InsertBuffer]:
    """A buffer that `defer_insert` fills for this session until the block ends. The caller
    flushes it (or discards it with its transaction) before the block ends."""
    buffer = InsertBuffer()
    sync_session = session.sync_session
    event.listen(sync_session, "do_orm_execute", buffer._before_statement)
    sync_session.info[BUFFER_KEY] = buffer
    try:
        yield buffer
    finally:
        del sync_session.info[BUFFER_KEY]
        event.remove(sync_session, "do_orm_execute", buffer._before_statement)


def defer_insert(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any]
) -> None:
    """Insert a row with the session's buffer, or as an ORM object when it has none (a handler
    called outside a processing batch)."""
    buffer = session.sync_session.info.get(BUFFER_KEY)
    if buffer is None:
        session.add(model(**values))
    else:
        buffer.add(model, values)
