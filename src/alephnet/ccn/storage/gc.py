"""The garbage collector: deletes the files that nothing keeps any more.

Each pass drops the pins whose `delete_by` has passed (grace periods after uploads and forgets),
then the `files` rows that no pin holds, then the bytes that no remaining `files` row names (one
file on disk may be recorded under its sha256 and under its CID).

Uploads race with it: an upload writes its bytes to the store first and records them in the
database afterwards, and a pass running in between would see unrecorded bytes and delete them.
So recording an upload (`protecting`) and a pass exclude each other, and the recording checks
that its bytes are still there. STORE messages processed by the pipeline record their file
without that lock; their window is the one between the file check and the batch commit, and
only for a file whose grace period ends in that very window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from alephnet.ccn.db.accessors import files
from alephnet.ccn.db.engine import SessionFactory
from alephnet.ccn.db.write_gate import WriteGate
from alephnet.ccn.storage.errors import FileNotFound
from alephnet.ccn.storage.filestore import FileStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CollectionReport:
    expired_pins: int
    deleted_files: int
    """`files` rows deleted: names, some of which may share bytes."""
    freed_bytes: int
    """Bytes removed from disk."""


class GarbageCollector:
    def __init__(
        self,
        sessions: SessionFactory,
        store: FileStore,
        interval: float,
        clock: Callable[[], float] = time.time,
        gate: WriteGate | None = None,
    ) -> None:
        self._sessions = sessions
        self._gate = gate or WriteGate(exclusive=False)
        self._store = store
        self._interval = interval
        self._clock = clock
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="garbage-collector")

    async def stop(self) -> None:
        """Cancel the loop. A pass cut short before its commit changes nothing; after it, the
        bytes are deleted anyway, by the worker thread that was already deleting them."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.collect_once()
            except Exception:
                logger.exception("garbage collection failed; next pass in %.0f s", self._interval)

    async def collect_once(self) -> CollectionReport:
        """One pass: expired pins, then unpinned files, then their bytes."""
        async with self._lock:
            async with self._gate.writing(), self._sessions() as session, session.begin():
                expired = await files.delete_expired_pins(session, self._clock())
                freed = await files.delete_unpinned_files(session)
                in_use = await files.sha256_in_use(session, {file.sha256 for file in freed})
            unused = {file.sha256: file.size for file in freed if file.sha256 not in in_use}
            removed = await asyncio.to_thread(self._delete_bytes, unused.keys())
        report = CollectionReport(
            expired_pins=expired,
            deleted_files=len(freed),
            freed_bytes=sum(unused[sha256] for sha256 in removed),
        )
        if expired or freed:
            logger.info(
                "garbage collection: %d expired pin(s), %d file(s) deleted, %d byte(s) freed: %s",
                report.expired_pins,
                report.deleted_files,
                report.freed_bytes,
                ", ".join(file.hash for file in freed),
            )
        return report

    @asynccontextmanager
    async def protecting(self, sha256: str) -> AsyncIterator[None]:
        """Hold passes off while the caller records new references to these bytes.

        Raises FileNotFound when a pass deleted them after they were written: the caller must
        then not record them (its client may simply send the file again)."""
        async with self._lock:
            if not self._store.exists(sha256):
                raise FileNotFound(sha256)
            yield

    async def discard(self, sha256: str) -> None:
        """Delete bytes written for an upload that was then refused, unless recorded already
        (the same file, uploaded before)."""
        async with self._lock:
            async with self._sessions() as session:
                in_use = await files.sha256_in_use(session, [sha256])
            if not in_use:
                await asyncio.to_thread(self._delete_bytes, [sha256])

    def _delete_bytes(self, sha256s: Collection[str]) -> list[str]:
        return [sha256 for sha256 in sha256s if self._store.delete(sha256)]
