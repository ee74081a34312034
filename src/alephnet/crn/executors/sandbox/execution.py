"""One sandboxed guest: its process tree, its link, and why it ended."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from alephnet.crn.executors.base import ExitReason
from alephnet.crn.executors.guest_link import GuestFailure, GuestLink
from alephnet.crn.executors.sandbox.cgroups import Cgroup, destroy, kill_all
from alephnet.crn.executors.sandbox.network import UserModeNetwork

STDERR_TAIL_BYTES = 16 * 1024


class SandboxExecution:
    def __init__(
        self,
        vm_hash: str,
        process: asyncio.subprocess.Process,
        link: GuestLink,
        cgroup: Cgroup,
        network: UserModeNetwork | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        self.vm_hash = vm_hash
        self._process = process
        self._link = link
        self._cgroup = cgroup
        self._network = network
        self._release = release
        self._reason = ExitReason.RUNNING
        self._stopping = False
        self._stderr: deque[bytes] = deque()
        self._stderr_task = asyncio.create_task(self._keep_stderr(), name="sandbox-stderr")
        self._monitor = asyncio.create_task(self._watch(), name=f"sandbox-{vm_hash[:12]}")

    @property
    def link(self) -> GuestLink:
        return self._link

    @property
    def exit_reason(self) -> ExitReason:
        return self._reason

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def cgroup(self) -> Cgroup:
        return self._cgroup

    def stderr_tail(self) -> str:
        """What bwrap or the interpreter printed before the guest took over its output."""
        return b"".join(self._stderr).decode(errors="replace").strip()

    async def wait(self) -> ExitReason:
        await asyncio.shield(self._monitor)
        return self._reason

    async def stop(self, grace_seconds: float = 5.0) -> None:
        if not self._monitor.done():
            self._stopping = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt(grace_seconds), grace_seconds)
            await kill_all(self._cgroup)  # then the watcher removes the emptied group
        await self.wait()

    async def _halt(self, timeout: float) -> None:
        if await self._link.halt(timeout):
            await self._process.wait()

    async def _watch(self) -> None:
        """Wait for the tree's first process to end, say why, and leave nothing behind."""
        await self._process.wait()
        oom = self._cgroup.oom_killed()
        with contextlib.suppress(OSError):
            await destroy(self._cgroup)
        if self._release is not None:
            self._release()  # the host mounts of its volumes: no process uses them now
        if self._network is not None:
            await self._network.close()
        await self._link.close()
        await self._stderr_task
        if oom:
            self._reason = ExitReason.OUT_OF_MEMORY
        elif self._stopping:
            self._reason = ExitReason.STOPPED
        else:
            self._reason = ExitReason.EXITED

    async def _keep_stderr(self) -> None:
        assert self._process.stderr is not None
        size = 0
        while chunk := await self._process.stderr.read(4096):
            self._stderr.append(chunk)
            size += len(chunk)
            while size > STDERR_TAIL_BYTES:
                size -= len(self._stderr.popleft())


def start_failure(error: BaseException, execution: SandboxExecution) -> str:
    """Why a start failed, with the guest's traceback or the sandbox's own error output."""
    if isinstance(error, GuestFailure):
        return f"the program failed to start: {error.error}\n{error.traceback}".strip()
    if isinstance(error, TimeoutError):
        reason = "the guest did not answer in time"
    elif execution.exit_reason is ExitReason.OUT_OF_MEMORY:
        reason = "the program ran out of memory while starting"
    else:
        reason = f"the guest ended before it was configured ({error})"
    tail = execution.stderr_tail()
    return f"{reason}: {tail}" if tail else reason
