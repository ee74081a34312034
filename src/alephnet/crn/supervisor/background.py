"""The tasks a supervisor's manager starts and does not await (watching a VM end, its
readiness, a replacement).

asyncio keeps only weak references to tasks: one nobody holds may be dropped mid-way. They
are held here until done, and cancelled together when the CRN stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        """Cancel every task still running and wait until each has ended."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
