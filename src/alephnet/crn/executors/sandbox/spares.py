"""Sandboxes started ahead of demand: the cold start of a program minus the interpreter.

Most of a sandbox's cold start is spent before the program matters: bubblewrap, the Python
interpreter, the guest runtime's imports, READY. A spare has done all that in a generic shape
(code tmpfs, no volumes, no network, default limits) and waits for CONFIGURE. A program of the
same shape takes it, gets its own limits written to the spare's cgroup, and is configured
right away; the pool refills in the background. A spare serves one program only, once: it is
never handed back, so programs share nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from alephnet.crn.executors.base import ExitReason
from alephnet.crn.executors.sandbox.execution import SandboxExecution

logger = logging.getLogger(__name__)


class SparePool:
    def __init__(self, size: int, launch: Callable[[], Awaitable[SandboxExecution]]) -> None:
        self._size = size
        self._launch = launch
        self._ready: list[SandboxExecution] = []
        self._filling: asyncio.Task[None] | None = None
        self._discarding: set[asyncio.Task[None]] = set()
        self._closed = False

    def take(self) -> SandboxExecution | None:
        """A live spare, if one is ready; the pool starts refilling either way."""
        spare = None
        while self._ready and spare is None:
            candidate = self._ready.pop(0)
            if candidate.exit_reason is ExitReason.RUNNING and not candidate.link.closed:
                spare = candidate
        self._refill()
        return spare

    def discard(self, spare: SandboxExecution) -> None:
        """A taken spare that does not fit after all: stop it in the background."""
        task = asyncio.create_task(spare.stop(grace_seconds=0))
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)

    async def fill(self) -> None:
        while len(self._ready) < self._size and not self._closed:
            try:
                spare = await self._launch()
            except Exception:
                logger.exception("starting a spare sandbox failed")
                return
            if self._closed:  # closed while this one was starting
                await spare.stop(grace_seconds=0)
                return
            self._ready.append(spare)

    async def close(self) -> None:
        """Stop the spares; the pool stays empty from now on."""
        self._closed = True
        if self._filling is not None:
            self._filling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filling
        spares, self._ready = self._ready, []
        stopping = [spare.stop(grace_seconds=0) for spare in spares]
        await asyncio.gather(*stopping, *self._discarding)

    def _refill(self) -> None:
        if self._size and not self._closed and (self._filling is None or self._filling.done()):
            self._filling = asyncio.create_task(self.fill(), name="sandbox-spares")
