"""The async engine and session factory, with SQLite tuned for a durable, concurrent node."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, ClassVar, Self

import aiosqlite
import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState

from alephnet.ccn.db.write_gate import take_gate_before_writes
from alephnet.protocol.parsing import decode_json

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(url: str, sqlite_inline: bool = False) -> AsyncEngine:
    """SQLite runs in WAL mode with a full fsync per commit: an acknowledged message survives a
    crash or power cut. That costs one fsync per commit, which is why the intake groups the
    messages of concurrent requests into one commit.

    SQLite connections go back to the pool without the usual rollback when they hold no
    transaction (`_rollback_if_open`): after a commit that rollback does nothing but costs a
    round trip to aiosqlite's thread, and every processing batch and intake commit paid it.

    SQLite calls that do SQLite's work run in aiosqlite's thread (`ThreadedSqlite`), or with
    `sqlite_inline` in the event loop's own thread (`InlineSqlite`), for a process whose loop
    has nothing better to do meanwhile (the processing worker)."""
    sqlite = url.startswith("sqlite")
    engine = create_async_engine(
        url,
        pool_pre_ping=not sqlite,
        pool_reset_on_return=None if sqlite else "rollback",
        json_serializer=json_text,
        json_deserializer=decode_json,
        connect_args={"async_creator_fn": _sqlite_connection(sqlite_inline)} if sqlite else {},
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine.pool, "reset", _rollback_if_open)
    event.listen(engine.sync_engine, "before_cursor_execute", take_gate_before_writes)
    return engine


def _sqlite_connection(inline: bool) -> Callable[..., aiosqlite.Connection]:
    return InlineSqlite.connect if inline else ThreadedSqlite.connect


class _SqliteConnection(aiosqlite.Connection):
    """What our two aiosqlite connections share: how SQLAlchemy makes one, and a call made at
    once in the calling thread."""

    connect_options: ClassVar[dict[str, Any]] = {}

    @classmethod
    def connect(cls, database: str, **kwargs: Any) -> Self:
        """`async_creator_fn` for SQLAlchemy's aiosqlite dialect: the arguments it would give
        `aiosqlite.connect`."""
        options = kwargs | cls.connect_options
        return cls(partial(sqlite3.connect, database, **options), iter_chunk_size=64)

    def _call_here(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


class ThreadedSqlite(_SqliteConnection):
    """aiosqlite's connection, with only the calls that do SQLite's work sent to its thread.

    Each call aiosqlite sends to its thread is a round trip (a queue, a wake-up, a callback
    back into the loop) that costs ~40 µs of CPU on this machine. SQLAlchemy's adapter makes
    four per statement: create a cursor, execute, fetch, close. The calls that touch no file
    and wait for nothing (`_touches_no_file`) are made in the calling thread: of the 38 round
    trips of an intake commit and a processing batch of one message, 22 are gone. The
    connection is shared between the two threads (`check_same_thread=False`) but never used by
    both at once: each call is awaited before the next, and SQLAlchemy's pool lends a
    connection to one session at a time."""

    connect_options: ClassVar[dict[str, Any]] = {"check_same_thread": False}

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if _touches_no_file(fn):
            return self._call_here(fn, *args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]


def _touches_no_file(fn: Callable[..., Any]) -> bool:
    """Creating or closing a cursor, and ending a transaction where none is open (SQLAlchemy
    ends the one it began for a session's reads, which sqlite3 never opened for them)."""
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", None)
    if isinstance(owner, sqlite3.Cursor):
        return name == "close"
    if isinstance(owner, sqlite3.Connection):
        return name == "cursor" or (name in ("commit", "rollback") and not owner.in_transaction)
    return False


class InlineSqlite(_SqliteConnection):
    """aiosqlite's connection, with each call made at once in the calling thread.

    aiosqlite runs every call in a thread of its own, so that a query never blocks the event
    loop. Each call is then a round trip between threads (a queue, a wake-up, a callback back
    into the loop) that costs ~40 µs of CPU on this machine, and SQLAlchemy's adapter makes
    three or four of them per statement (cursor, execute, fetch, close): ~15 per processing
    batch, more than the batch's own SQL. In the processing worker the loop only waits for the
    database anyway, so there the calls are made inline: SQLAlchemy, its adapter and aiosqlite's
    cursors are unchanged, only the hop is gone. Writers never wait in SQLite's busy handler
    (the write gate orders them) and WAL readers do not block, so the loop is held only for
    the statement's own work."""

    def __await__(self) -> Generator[Any, None, InlineSqlite]:
        return self._open().__await__()

    async def _open(self) -> InlineSqlite:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._call_here(fn, *args, **kwargs)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def json_text(value: Any) -> str:
    """JSON columns are written by orjson, ten times faster than the json module (a processed
    message writes four of them). The json module takes what orjson refuses: integers beyond
    64 bits (token amounts) and non-string keys. Non-finite floats, which orjson would turn
    into null, never get this far: content that holds them is refused as invalid JSON."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _rollback_if_open(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """The pool's reset for SQLite: Python's sqlite3 knows whether a transaction is open (it
    begins one only before a write), so a connection returned after a commit, or after reads
    only, needs nothing. A reset outside the event loop (garbage collection) cannot wait for
    aiosqlite's thread; the connection is then being discarded anyway."""
    if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
        dbapi_connection.rollback()
