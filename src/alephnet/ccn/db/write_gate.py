"""One writer at a time, decided by the node rather than by SQLite's lock.

SQLite allows one write transaction at a time; a second writer waits in SQLite's busy handler,
which sleeps in growing steps (up to 100 ms). The intake's commits and the processor's batches
would then delay each other by whole sleep steps, and acknowledgements crawl. Taking a lock
before writing makes them alternate instead, with no sleeping. PostgreSQL locks rows, not the
database, so there the gate lets everyone through.

Within one process the gate is an asyncio lock, which serves waiters in order. When the
processor runs in a worker process, the processes also take an advisory file lock (`flock`),
whose waiter the kernel wakes as soon as it is released. `flock` is not fair, though: the
worker, which writes batch after batch, would take it again before the node's waiting thread
even runs, and acknowledgements would wait for many batches. So a writer about to wait
announces itself with a shared lock on a second file; the processor, a bulk writer, takes
that file exclusively (waits until no one is announced) before each batch, and cuts a batch
short when someone is announced (`others_waiting`).

A writer whose reads need not be ordered with the other writers' commits can take the gate
at its first write instead (`from_first_write`): Python's sqlite3 begins a transaction only
before a write, so until then each read sees the latest commit, and the other writers go on
meanwhile. The engine's `take_gate_before_writes` hook takes the gate there.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

LOCK_FILE = "write.lock"
ANNOUNCE_SUFFIX = ".waiting"


class WriteGate:
    def __init__(self, exclusive: bool, lock_path: Path | None = None) -> None:
        """`lock_path`: the file that processes sharing the database lock (SQLite only)."""
        self._lock = asyncio.Lock() if exclusive else None
        self._files = _GateFiles(lock_path) if exclusive and lock_path is not None else None

    @classmethod
    def for_dialect(cls, dialect_name: str, lock_path: Path | None = None) -> WriteGate:
        return cls(exclusive=dialect_name == "sqlite", lock_path=lock_path)

    @asynccontextmanager
    async def writing(self, yielding: bool = False) -> AsyncIterator[None]:
        """`yielding`: a bulk writer, which lets the writers of other processes that are
        already waiting go first."""
        if self._lock is None:
            yield
            return
        async with self._lock:
            if self._files is None:
                yield
                return
            descriptor = await self._files.enter(yielding)
            try:
                yield
            finally:
                os.close(descriptor)  # closing the file releases its lock

    @asynccontextmanager
    async def from_first_write(self, yielding: bool = False) -> AsyncIterator[None]:
        """The gate, held from the block's first write statement (if any) to its end.

        For a writer whose reads do not depend on what the other writers commit meanwhile
        (the processor's, when no message of its batch reads files: only it writes what they
        read). Its reads then run while another writer holds the gate; only its writes and
        its commit are ordered."""
        if self._lock is None:
            yield
            return
        async with AsyncExitStack() as held:
            first_write = _FirstWrite(lambda: held.enter_async_context(self.writing(yielding)))
            token = _first_write.set(first_write)
            try:
                yield
            finally:
                _first_write.reset(token)

    def others_waiting(self) -> bool:
        """Whether a writer of another process waits for the gate."""
        return self._files is not None and self._files.announced()


class _FirstWrite:
    """The gate a `from_first_write` block takes at its first write."""

    def __init__(self, enter: Callable[[], Awaitable[None]]) -> None:
        self._enter = enter
        self.taken = False

    async def take(self) -> None:
        await self._enter()
        self.taken = True


_first_write: ContextVar[_FirstWrite | None] = ContextVar("write_gate_first_write", default=None)


def take_gate_before_writes(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
    """`before_cursor_execute` hook of the node's engines: in a `from_first_write` block, any
    statement but a SELECT first takes the gate. The hook runs in SQLAlchemy's greenlet, which
    shares the calling task's context; `run_async` awaits the gate from there."""
    first_write = _first_write.get()
    if first_write is None or first_write.taken or statement.lstrip()[:6].upper() == "SELECT":
        return
    connection.connection.dbapi_connection.run_async(lambda _: first_write.take())


class _GateFiles:
    def __init__(self, lock_path: Path) -> None:
        self._gate = lock_path
        self._announce = lock_path.with_name(lock_path.name + ANNOUNCE_SUFFIX)

    async def enter(self, yielding: bool) -> int:
        """A descriptor of the gate file holding its exclusive lock."""
        announce = _open(self._announce)
        try:
            if yielding:
                await _flock(announce, fcntl.LOCK_EX)  # until no one else is announced
                fcntl.flock(announce, fcntl.LOCK_UN)
                return await _locked(self._gate)
            await _flock(announce, fcntl.LOCK_SH)
            return await _locked(self._gate)
        finally:
            os.close(announce)

    def announced(self) -> bool:
        announce = _open(self._announce)
        try:
            fcntl.flock(announce, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(announce)
        return False


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


async def _locked(path: Path) -> int:
    descriptor = _open(path)
    try:
        await _flock(descriptor, fcntl.LOCK_EX)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


async def _flock(descriptor: int, operation: int) -> None:
    """Take a lock, without a thread when it is free at once.

    Otherwise the blocking `flock` waits in a worker thread. A thread cannot be interrupted:
    if the caller is cancelled meanwhile, the thread still gets the lock, which is released
    as soon as it does (the lock goes with a duplicate of the descriptor, closed then)."""
    try:
        fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    duplicate = os.dup(descriptor)
    waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, duplicate, operation))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(lambda _: os.close(duplicate))
        raise
    os.close(duplicate)
