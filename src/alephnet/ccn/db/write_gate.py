"""One writer at a time, decided in-process rather than by SQLite's lock.

SQLite allows one write transaction at a time; a second writer waits in SQLite's busy handler,
which sleeps in growing steps (up to 100 ms). The intake's commits and the processor's batches
would then delay each other by whole sleep steps, and acknowledgements crawl. Taking an asyncio
lock before writing makes them alternate instead, with no sleeping. PostgreSQL locks rows, not
the database, so there the gate lets everyone through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriteGate:
    def __init__(self, exclusive: bool) -> None:
        self._lock = asyncio.Lock() if exclusive else None

    @classmethod
    def for_dialect(cls, dialect_name: str) -> WriteGate:
        return cls(exclusive=dialect_name == "sqlite")

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield
