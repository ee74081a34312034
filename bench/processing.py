"""Processing cost per message, in one process and without HTTP: where the node's CPU goes.

    .venv/bin/python -m bench.processing [--messages 10000] [--group 64] [--batch 500]
                                         [--sqlite-thread] [--cycles]

SQLite by default; PostgreSQL with ALEPHNET_TEST_DATABASE_URL set to a server URL (the test
suite's variable: a fresh database is created there and dropped after).

N distinct pre-signed ETH POSTs go through the intake in groups (as concurrent requests share
a commit), then through the processor until none is pending, on a fresh database with the
node's own engine settings and uvloop, as the processing worker runs (SQLite calls inline;
`--sqlite-thread`: in aiosqlite's thread, as the node's own process makes them). Each phase
reports the CPU it spent per message (all threads), and how much of it went into each SQL
statement: the rest is Python (parsing, signature recovery, SQLAlchemy, handlers) and, with
the thread, the hops to it.
The ingest bench measures the same work end to end; this one says which part to cut. With
`--cycles`, intake commits and batches alternate instead, and each one's CPU is reported:
what a node taking a message or two at a time pays per commit and per batch.
Writes bench/results/processing.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import uvloop
from tests.ccn.databases import fresh_database_url
from tests.ccn.traffic import presigned_posts

from alephnet.ccn.db.engine import (
    InlineSqlite,
    SessionFactory,
    create_engine,
    create_session_factory,
)
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.write_gate import WriteGate
from alephnet.ccn.handlers.registry import build_handlers
from alephnet.ccn.payments.balances import Unmetered
from alephnet.ccn.peer_http import network_clients
from alephnet.ccn.pipeline.events import MessageEvents
from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.pipeline.processor import MessageProcessor, ProcessorSettings
from alephnet.ccn.pipeline.sources import content_sources
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.protocol.parsing import parse_message

RESULTS = Path(__file__).parent / "results" / "processing.json"
STATEMENT_WIDTH = 70


class StatementClock:
    """CPU time aiosqlite's thread spends in each statement, keyed by the start of its SQL."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def wrap(self, function: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], Any]:
        key = _statement_key(function, args)

        def timed() -> Any:
            started = time.thread_time()
            try:
                return function(*args)
            finally:
                with self._lock:
                    self.seconds[key] += time.thread_time() - started
                    self.calls[key] += 1

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def report(self, messages: int) -> dict[str, Any]:
        return {
            key: {
                "us_per_msg": round(1e6 * seconds / messages, 1),
                "calls": self.calls[key],
            }
            for key, seconds in sorted(self.seconds.items(), key=lambda item: -item[1])
        }


def _statement_key(function: Callable[..., Any], args: tuple[Any, ...]) -> str:
    if args and isinstance(args[0], str):
        return " ".join(args[0].split())[:STATEMENT_WIDTH]
    return getattr(function, "__name__", repr(function))


@contextmanager
def clocked_statements(clock: StatementClock) -> Iterator[None]:
    """aiosqlite runs each call as a function, queued to its thread or (`InlineSqlite`) called
    at once: time the function where it runs."""
    originals = {cls: cls._execute for cls in (aiosqlite.Connection, InlineSqlite)}

    def timing(original: Callable[..., Any]) -> Callable[..., Any]:
        async def _execute(self: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if kwargs:
                return await original(self, fn, *args, **kwargs)
            return await original(self, clock.wrap(fn, args))

        return _execute

    for cls, original in originals.items():
        cls._execute = timing(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls._execute = original  # type: ignore[method-assign]


async def intake_all(intake: MessageIntake, messages: list[dict[str, Any]], group: int) -> None:
    """`group` submissions at a time, as that many concurrent requests would arrive."""
    for start in range(0, len(messages), group):
        pending = [parse_message(document) for document in messages[start : start + group]]
        await intake.submit_many(pending, "http")


async def alternate(
    intake: MessageIntake, processor: MessageProcessor, messages: list[dict[str, Any]], group: int
) -> dict[str, float]:
    """One intake commit of `group` messages, then one batch, in turn, as a node taking a
    message or two at a time runs them: the fixed costs of a commit and of a batch."""
    intake_cpu = processing_cpu = 0.0
    cycles = 0
    for start in range(0, len(messages), group):
        pending = [parse_message(document) for document in messages[start : start + group]]
        started = time.process_time()
        await intake.submit_many(pending, "http")
        committed = time.process_time()
        await processor.process_ready_batch()
        intake_cpu += committed - started
        processing_cpu += time.process_time() - committed
        cycles += 1
    return {
        "intake_ms_per_commit": round(1e3 * intake_cpu / cycles, 2),
        "processing_ms_per_batch": round(1e3 * processing_cpu / cycles, 2),
    }


async def process_all(processor: MessageProcessor) -> int:
    handled = 0
    while count := await processor.process_ready_batch():
        handled += count
    return handled


async def measured(work: Callable[[], Any], clock: StatementClock, count: int) -> dict[str, Any]:
    clock.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    await work()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    statements = clock.report(count)
    sql_us = sum(entry["us_per_msg"] for entry in statements.values())
    return {
        "cpu_ms_per_msg": round(1e3 * cpu / count, 3),
        "sql_thread_ms_per_msg": round(sql_us / 1e3, 3),
        "msg_per_s_wall": round(count / wall),
        "statements": statements,
    }


async def run(
    count: int, group: int, batch: int, sqlite_thread: bool, cycles: bool = False
) -> dict[str, Any]:
    messages = presigned_posts(count)
    clock = StatementClock()
    with tempfile.TemporaryDirectory() as folder, clocked_statements(clock):
        async with fresh_database_url(Path(folder)) as url:
            engine = create_engine(url, sqlite_inline=not sqlite_thread)
            await upgrade_to_head(engine)
            sessions = create_session_factory(engine)
            gate = WriteGate(exclusive=True)
            intake = MessageIntake(sessions, gate)
            processor = _processor(sessions, Path(folder), intake, gate, batch)
            intake.start()
            try:
                if cycles:
                    return await alternate(intake, processor, messages, group)
                intake_result = await measured(
                    lambda: intake_all(intake, messages, group), clock, count
                )
                processing_result = await measured(lambda: process_all(processor), clock, count)
            finally:
                await intake.stop()
                await engine.dispose()
    return {
        "messages": count,
        "group": group,
        "batch": batch,
        "sqlite_thread": sqlite_thread,
        "database": engine.dialect.name,
        "intake": intake_result,
        "processing": processing_result,
    }


def _processor(
    sessions: SessionFactory, folder: Path, intake: MessageIntake, gate: WriteGate, batch: int
) -> MessageProcessor:
    settings = CcnSettings(data_dir=folder)
    files, content = content_sources(settings, FileStore(settings.files_dir), network_clients)
    return MessageProcessor(
        sessions,
        build_handlers(files, settings.grace_period_seconds),
        MessageEvents(),
        content,
        Unmetered(),
        intake.queued,
        gate,
        intake.has_waiting,
        ProcessorSettings(batch_size=batch),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--group", type=int, default=64)
    parser.add_argument(
        "--batch", type=int, default=500, help="the processor's largest batch (the node's default)"
    )
    parser.add_argument(
        "--sqlite-thread",
        action="store_true",
        help="SQLite calls in aiosqlite's thread, as the node's own process makes them (by "
        "default they are made inline, as the processing worker makes them)",
    )
    parser.add_argument(
        "--cycles",
        action="store_true",
        help="alternate one intake commit of --group messages and one batch, and report the "
        "CPU of each (their fixed costs, with --group 1)",
    )
    arguments = parser.parse_args()
    result = uvloop.run(
        run(
            arguments.messages,
            arguments.group,
            arguments.batch,
            arguments.sqlite_thread,
            arguments.cycles,
        )
    )
    if arguments.cycles:
        print(json.dumps(result))
    else:
        _print_phases(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "processing", "results": result}, indent=2))


def _print_phases(result: dict[str, Any]) -> None:
    for phase in ("intake", "processing"):
        figures = result[phase]
        print(
            f"{phase}: {figures['cpu_ms_per_msg']} ms CPU per message, "
            f"{figures['sql_thread_ms_per_msg']} ms of it in SQL, "
            f"{figures['msg_per_s_wall']} msg/s"
        )
        for statement, entry in figures["statements"].items():
            print(f"  {entry['us_per_msg']:7.1f} us/msg {entry['calls']:6} x  {statement}")


if __name__ == "__main__":
    main()
