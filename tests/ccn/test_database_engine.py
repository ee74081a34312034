"""The SQLite engine's connections: a connection comes back to the pool without a transaction,
with no rollback spent on one that has none, and only the calls that do SQLite's work go to
aiosqlite's thread (none in the processing worker's inline engine)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from alephnet.ccn.db.engine import InlineSqlite, ThreadedSqlite, create_engine


async def _created(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/node.sqlite3")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


async def test_a_write_left_open_behind_the_orm_is_rolled_back_on_return(tmp_path: Path) -> None:
    engine = await _created(tmp_path)
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("INSERT INTO t VALUES (1)")
            assert driver.in_transaction
        assert not driver.in_transaction
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await engine.dispose()


async def test_a_committed_connection_returns_without_a_rollback(tmp_path: Path) -> None:
    """The rollback the pool would send after every commit is a round trip to aiosqlite's
    thread that does nothing."""
    engine = await _created(tmp_path)
    rollbacks = 0
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            rollback = driver.rollback

            async def counted_rollback() -> None:
                nonlocal rollbacks
                rollbacks += 1
                await rollback()

            driver.rollback = counted_rollback  # type: ignore[method-assign]
        for n in range(3):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        assert rollbacks == 0
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3
    finally:
        await engine.dispose()


async def test_an_inline_engine_runs_sqlite_in_the_loop_thread(tmp_path: Path) -> None:
    """The processing worker's engine: the same statements and transactions, no thread."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/node.sqlite3", sqlite_inline=True)
    threads_before = set(threading.enumerate())
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (:n)"), [{"n": 1}, {"n": 2}])
            raw = await connection.get_raw_connection()
            assert isinstance(raw.driver_connection, InlineSqlite)
            journal = await connection.execute(text("PRAGMA journal_mode"))
            assert journal.scalar_one() == "wal"
        with pytest.raises(OperationalError, match="no such table"):
            await _insert_then_fail(engine)
        async with engine.connect() as connection:
            total = await connection.execute(text("SELECT sum(n) FROM t"))
            assert total.scalar_one() == 3  # the failed transaction was rolled back whole
        assert set(threading.enumerate()) <= threads_before  # (earlier tests' may end meanwhile)
    finally:
        await engine.dispose()


async def _insert_then_fail(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t VALUES (3)"))
        await connection.execute(text("INSERT INTO missing VALUES (1)"))


async def test_only_the_calls_that_do_sqlites_work_go_to_its_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating and closing cursors, and ending a session's reads (sqlite3 opened no
    transaction for them), are made in the loop's thread."""
    sent: list[str] = []
    send = aiosqlite.Connection._execute

    async def recorded(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(fn.__name__)
        return await send(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", recorded)
    engine = await _created(tmp_path)
    try:
        sent.clear()
        async with engine.begin() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.driver_connection, ThreadedSqlite)
            await connection.execute(text("INSERT INTO t VALUES (:n)"), [{"n": 1}, {"n": 2}])
        async with engine.connect() as connection:
            total = await connection.execute(text("SELECT sum(n) FROM t"))
            assert total.scalar_one() == 3
            await connection.rollback()
        with pytest.raises(OperationalError, match="no such table"):
            await _insert_then_fail(engine)
        async with engine.connect() as connection:
            total = await connection.execute(text("SELECT sum(n) FROM t"))
            assert total.scalar_one() == 3  # the failed transaction was rolled back whole
        assert sent == [
            "executemany",
            "commit",
            "execute",
            "fetchall",
            "execute",
            "execute",
            "rollback",
            "execute",
            "fetchall",
        ]
    finally:
        await engine.dispose()
