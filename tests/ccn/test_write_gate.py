"""The write gate taken at a block's first write: reads go on while another writer holds it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alephnet.ccn.db.engine import create_engine
from alephnet.ccn.db.write_gate import WriteGate


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/node.sqlite3")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM t"))).scalar_one())


async def test_reads_go_on_and_the_first_write_waits_for_the_gate(engine: AsyncEngine) -> None:
    gate = WriteGate(exclusive=True)
    read = asyncio.Event()

    async def writer() -> None:
        async with gate.from_first_write(), engine.begin() as connection:
            await connection.execute(text("SELECT count(*) FROM t"))
            read.set()
            await connection.execute(text("INSERT INTO t VALUES (1)"))

    async with gate.writing():
        task = asyncio.create_task(writer())
        await asyncio.wait_for(read.wait(), timeout=5)
        await asyncio.sleep(0.05)
        assert not task.done()
        assert await _count(engine) == 0
    await asyncio.wait_for(task, timeout=5)
    assert await _count(engine) == 1


async def test_the_gate_is_held_until_the_block_ends(engine: AsyncEngine) -> None:
    """Through the commit: another writer gets the gate only once the block is over."""
    gate = WriteGate(exclusive=True)
    wrote = asyncio.Event()
    finish = asyncio.Event()

    async def writer() -> None:
        async with gate.from_first_write(), engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1)"))
            wrote.set()
            await finish.wait()

    task = asyncio.create_task(writer())
    await asyncio.wait_for(wrote.wait(), timeout=5)
    other = asyncio.create_task(_hold(gate))
    await asyncio.sleep(0.05)
    assert not other.done()
    finish.set()
    await asyncio.wait_for(asyncio.gather(task, other), timeout=5)
    assert await _count(engine) == 1


async def test_a_block_that_only_reads_never_takes_the_gate(engine: AsyncEngine) -> None:
    gate = WriteGate(exclusive=True)
    async with gate.writing(), gate.from_first_write(), engine.connect() as connection:
        await asyncio.wait_for(connection.execute(text("SELECT count(*) FROM t")), 5)


async def _hold(gate: WriteGate) -> None:
    async with gate.writing():
        pass
