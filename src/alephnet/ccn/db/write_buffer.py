"""Rows a batch writes, sent together: one executemany per table instead of ORM objects.

Building an ORM object and having the unit of work flush it costs more than everything else a
plain message needs but its signature (each mapped attribute set goes through the ORM's
instrumentation, each object through its bookkeeping). A processing batch inserts its rows
(messages, posts) and sets the status of the hashes it settles, so these are gathered as
plain values and sent with one `INSERT` executemany per table and one `UPDATE ... WHERE key
IN (...)` per value set.

Like the ORM's autoflush, the buffer is written before any statement the session runs (a
`do_orm_execute` hook), so a read later in the batch (an amend's original, an aggregate's
revisions, a FORGET's target and its status) sees what was buffered before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Update, bindparam, event, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, ORMExecuteState, Session

BUFFER_KEY = "write_buffer"

UpdateGroup = tuple[type[DeclarativeBase], InstrumentedAttribute[Any], tuple[tuple[str, Any], ...]]


class BufferedWriteFailed(Exception):
    """The buffered writes failed, whichever statement made the buffer flush: the batch as a
    whole failed, not the message whose read happened to trigger it."""


class WriteBuffer:
    def __init__(self) -> None:
        self._inserts: dict[type[DeclarativeBase], list[dict[str, Any]]] = {}
        self._updates: dict[UpdateGroup, list[Any]] = {}

    def insert(self, model: type[DeclarativeBase], values: dict[str, Any]) -> None:
        self._inserts.setdefault(model, []).append(values)

    def update(
        self,
        model: type[DeclarativeBase],
        key: InstrumentedAttribute[Any],
        key_value: Any,
        values: dict[str, Any],
    ) -> None:
        """Set `values` on the row whose `key` is `key_value` (rows given the same values are
        updated by one statement)."""
        group = (model, key, tuple(sorted(values.items())))
        self._updates.setdefault(group, []).append(key_value)

    def discard(self) -> None:
        """Forget the buffered writes: their transaction (or savepoint) is rolled back."""
        self._inserts = {}
        self._updates = {}

    async def flush(self, session: AsyncSession) -> None:
        if self._inserts or self._updates:
            await session.run_sync(self.flush_sync)

    def flush_sync(self, session: Session) -> None:
        inserts, updates = self._inserts, self._updates
        self.discard()
        if not inserts and not updates:
            return
        connection = session.connection()
        try:
            for model, rows in inserts.items():
                connection.execute(_insert_statement(model), rows)
            for group, keys in updates.items():
                connection.execute(_update_statement(group), {"keys": keys})
        except Exception as error:
            raise BufferedWriteFailed(f"buffered writes failed: {error}") from error


@lru_cache(maxsize=64)
def _insert_statement(model: type[DeclarativeBase]) -> Insert:
    """Built once per table, like the updates below."""
    return insert(model)


@lru_cache(maxsize=64)
def _update_statement(group: UpdateGroup) -> Update:
    """Built once per table, key and values (a batch sets few distinct ones), the keys bound
    as an expanding parameter: building the statement and its cache key for every batch
    cost as much as parsing a message."""
    model, key, values = group
    return update(model).where(key.in_(bindparam("keys", expanding=True))).values(dict(values))


@asynccontextmanager
async def buffered_writes(session: AsyncSession) -> AsyncIterator[WriteBuffer]:
    """A buffer that `defer_insert` fills for this session until the block ends. The caller
    flushes it (or discards it with its transaction) before the block ends."""
    buffer = WriteBuffer()
    info = session.sync_session.info
    info[BUFFER_KEY] = buffer
    try:
        yield buffer
    finally:
        del info[BUFFER_KEY]


@event.listens_for(Session, "do_orm_execute")
def _flush_before_statement(state: ORMExecuteState) -> None:
    """Registered once for every session: a listener added and removed for each batch's
    session cost ~5 % of a batch of one message."""
    buffer = state.session.info.get(BUFFER_KEY)
    if buffer is not None:
        buffer.flush_sync(state.session)


def defer_insert(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any]
) -> None:
    """Insert a row with the session's buffer, or as an ORM object when it has none (a handler
    called outside a processing batch)."""
    buffer = session.sync_session.info.get(BUFFER_KEY)
    if buffer is None:
        session.add(model(**values))
    else:
        buffer.insert(model, values)
