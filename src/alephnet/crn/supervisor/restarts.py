"""Restarting the VMs that must keep running (persistent programs, instances) when they end by
themselves, or when the CRN starts again.

After a crash the VM starts again after 1 s, then 2, 4... up to `backoff_max` while it keeps
crashing quickly (a VM that lived longer than `backoff_max` starts over at 1 s); a start that
fails is retried with the same doubling. A restart is given up as soon as the VM need not run
any more (`keep_running` says no: deallocated, stopped by its owner, the node draining).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from alephnet.crn.supervisor.errors import SupervisorError

logger = logging.getLogger(__name__)

RESTART_BASE_SECONDS = 1.0


class Restarts:
    def __init__(
        self,
        start: Callable[[str], Awaitable[object]],
        keep_running: Callable[[str], bool],
        backoff_max: float,
        kind: str,
    ) -> None:
        self._start = start
        self._keep_running = keep_running
        self._backoff_max = backoff_max
        self._kind = kind
        self._quick_crashes: defaultdict[str, int] = defaultdict(int)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def after_crash(self, vm_hash: str, lived_seconds: float) -> None:
        crashes = 0 if lived_seconds > self._backoff_max else self._quick_crashes[vm_hash] + 1
        self._quick_crashes[vm_hash] = crashes
        self.schedule(vm_hash, RESTART_BASE_SECONDS * 2 ** (crashes - 1))

    def schedule(self, vm_hash: str, delay: float) -> None:
        self.cancel(vm_hash)
        self._tasks[vm_hash] = asyncio.create_task(
            self._restart(vm_hash, delay), name=f"restart-{vm_hash}"
        )

    def cancel(self, vm_hash: str) -> None:
        task = self._tasks.pop(vm_hash, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def cancel_all(self) -> None:
        for vm_hash in list(self._tasks):
            self.cancel(vm_hash)

    async def _restart(self, vm_hash: str, delay: float) -> None:
        while self._keep_running(vm_hash):
            await asyncio.sleep(delay)
            if not self._keep_running(vm_hash):
                return
            try:
                await self._start(vm_hash)
            except SupervisorError as error:
                logger.warning("restarting %s %s failed: %s", self._kind, vm_hash, error)
                delay = min(max(delay, RESTART_BASE_SECONDS) * 2, self._backoff_max)
                continue
            logger.info("%s %s restarted", self._kind, vm_hash)
            return
