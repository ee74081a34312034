"""The execution pool with a test-double executor: one guest per program, reuse and expiry,
admission, concurrency, persistent programs and a clean close."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.errors import Draining, InsufficientCapacity, StartFailed, TooBusy
from alephnet.crn.supervisor.metrics import CrnMetrics
from alephnet.crn.supervisor.pool import ExecutionPool
from tests.crn.supervisor_doubles import FakeExecutor, preparer, vm_hash_of

HELLO = vm_hash_of(1)
OTHER = vm_hash_of(2)


def make_pool(tmp_path: Path, executor: FakeExecutor, **settings: object) -> ExecutionPool:
    crn_settings = CrnSettings(data_dir=tmp_path, **settings)  # type: ignore[arg-type]
    return ExecutionPool(executor, preparer(tmp_path), crn_settings, CrnMetrics())


async def test_concurrent_first_requests_start_one_guest(tmp_path: Path) -> None:
    executor = FakeExecutor(start_delay=0.05)
    pool = make_pool(tmp_path, executor)
    records = await asyncio.gather(*(pool.start(HELLO) for _ in range(10)))
    assert len(executor.started) == 1
    assert all(record is records[0] for record in records)
    await pool.close()


async def test_a_warm_program_is_reused_then_expires(tmp_path: Path) -> None:
    executor = FakeExecutor()
    pool = make_pool(tmp_path, executor, reuse_timeout=0.2)
    async with pool.serving(HELLO) as first:
        pass
    async with pool.serving(HELLO) as second:
        await asyncio.sleep(0.3)  # in use: the reuse timeout does not run meanwhile
    assert second is first
    assert len(executor.started) == 1
    assert pool.running_count() == 1
    await asyncio.sleep(0.4)
    assert pool.running_count() == 0
    assert executor.running == []
    assert HELLO in pool.history
    assert pool.history[HELLO].times.stopped_at is not None
    assert not (tmp_path / "executions" / HELLO).exists()
    async with pool.serving(HELLO) as third:
        assert third is not first
    assert len(executor.started) == 2
    await pool.close()


async def test_admission_refuses_what_the_capacity_cannot_hold(tmp_path: Path) -> None:
    executor = FakeExecutor()
    pool = make_pool(tmp_path, executor, memory_mib=200)
    await pool.start(HELLO)
    with pytest.raises(InsufficientCapacity, match="Insufficient capacity"):
        await pool.start(OTHER)
    assert pool.usage().memory_mib == 128
    await pool.stop(HELLO)
    await pool.start(OTHER)
    await pool.close()


async def test_requests_past_the_concurrency_limit_wait_then_give_up(tmp_path: Path) -> None:
    executor = FakeExecutor()
    pool = make_pool(tmp_path, executor, max_concurrent_requests=1)

    async def hold(seconds: float) -> None:
        async with pool.serving(HELLO):
            await asyncio.sleep(seconds)

    holder = asyncio.create_task(hold(0.3))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(hold(0), 1)  # waits for the slot, gets it within the time limit
    holder = asyncio.create_task(hold(3))
    await asyncio.sleep(0.05)
    with pytest.raises(TooBusy):
        await hold(0)  # the holder keeps the slot past the 2 s time limit
    holder.cancel()
    await pool.close()


async def test_a_failed_start_leaves_nothing_reserved(tmp_path: Path) -> None:
    pool = make_pool(tmp_path, FakeExecutor(failure="no bubblewrap"))
    with pytest.raises(StartFailed, match="no bubblewrap"):
        await pool.start(HELLO)
    assert pool.executions == {}
    assert pool.usage().memory_mib == 0
    assert "no bubblewrap" in pool.log_of(HELLO).entries()[-1].line


async def test_persistent_programs_never_expire_and_restart_after_a_crash(
    tmp_path: Path,
) -> None:
    executor = FakeExecutor()
    pool = make_pool(tmp_path, executor, reuse_timeout=0.05)
    result = await pool.allocate([HELLO])
    assert result.successful == [HELLO]
    assert result.failing == []
    async with pool.serving(HELLO) as record:
        assert record.persistent
        assert record.vm_type == "persistent_program"
    await asyncio.sleep(0.2)
    assert pool.running_count() == 1  # no expiry
    executor.executions[0].link._writer.close()  # the guest loses its stream: a crash
    await asyncio.wait_for(_until(lambda: len(executor.started) == 2), 5)
    await asyncio.wait_for(_until(lambda: pool.running_count() == 1), 5)
    result = await pool.allocate([])
    assert result.stopped == [HELLO]
    assert pool.running_count() == 0
    await pool.close()


async def test_allocated_programs_start_again_with_the_next_crn(tmp_path: Path) -> None:
    first = make_pool(tmp_path, FakeExecutor())
    await first.allocate([HELLO])
    await first.close()
    executor = FakeExecutor()
    second = make_pool(tmp_path, executor)
    second.resume_allocations()
    await asyncio.wait_for(_until(lambda: second.running_count() == 1), 5)
    assert second.executions[HELLO].persistent
    await second.allocate([])
    third = make_pool(tmp_path, FakeExecutor())
    third.resume_allocations()
    await asyncio.sleep(0.1)
    assert third.running_count() == 0
    await asyncio.gather(second.close(), third.close())


async def test_close_stops_every_guest_and_refuses_new_work(tmp_path: Path) -> None:
    executor = FakeExecutor()
    pool = make_pool(tmp_path, executor)
    await asyncio.gather(pool.start(HELLO), pool.start(OTHER))
    await pool.close()
    assert executor.running == []
    assert pool.executions == {}
    with pytest.raises(Draining):
        await pool.start(HELLO)


async def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(0.02)
