"""The execution pool: at most one execution per program hash, started on demand.

- Creation is serialised per hash, so concurrent first requests start one guest; programs of
  other hashes start in parallel.
- Admission: an execution's memory and vCPUs are reserved from the moment it is admitted
  (`capacity`), before its guest starts, so concurrent starts cannot over-commit the node.
- On-demand programs stop `reuse_timeout` seconds after their last request ends.
- Persistent programs (allocated through `/control/allocations`) never expire; when their guest
  ends by itself they are restarted after a pause that doubles with each quick crash. The
  allocated set is kept in `allocations.json`, and a CRN that starts again restarts them.
- A program whose message was forgotten on the CCN is stopped and de-allocated, and refused
  from then on (`Forgotten`, 410): when the message feed says so (`reactor`), or when a start
  finds the message gone and the CCN's status says forgotten.
- An execution whose files were amended (`use_latest`) is retired: it takes no new request,
  stops once its requests in flight end, and the next request (or, for a persistent program,
  the restart) starts on the new files.
- `close()` refuses new work and stops every guest: nothing is left running.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from alephnet.crn.executors.base import (
    Execution,
    ExecutionSpec,
    Executor,
    ExecutorError,
    ExitReason,
    VolumeKind,
)
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.allocation_file import AllocationFile
from alephnet.crn.supervisor.background import BackgroundTasks
from alephnet.crn.supervisor.capacity import Capacity, Usage, check_admission
from alephnet.crn.supervisor.errors import (
    Draining,
    Forgotten,
    ProgramNotFound,
    StartFailed,
    SupervisorError,
    TooBusy,
)
from alephnet.crn.supervisor.execution import ProgramExecution
from alephnet.crn.supervisor.logs import LogEntry, ProgramLog
from alephnet.crn.supervisor.metrics import CrnMetrics
from alephnet.crn.supervisor.program_spec import PreparedProgram
from alephnet.crn.supervisor.restarts import Restarts
from alephnet.crn.supervisor.vm_history import VmHistory
from alephnet.protocol.enums import MessageStatus

logger = logging.getLogger(__name__)

Preparer = Callable[[str], Awaitable[PreparedProgram]]
StatusLookup = Callable[[str], Awaitable[str | None]]
STOP_GRACE_SECONDS = 5.0


async def _status_unknown(_vm_hash: str) -> str | None:
    return None


@dataclass
class AllocationResult:
    successful: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class ExecutionPool:
    def __init__(
        self,
        executor: Executor,
        prepare: Preparer,
        settings: CrnSettings,
        metrics: CrnMetrics,
        message_status: StatusLookup = _status_unknown,
    ) -> None:
        """`message_status`: a message's status on the CCN (None when unknown), asked when a
        program's message is not found, to tell a forgotten program (410) from an unknown one."""
        self._executor = executor
        self._prepare = prepare
        self._message_status = message_status
        self._settings = settings
        self.metrics = metrics
        self._capacity = Capacity(settings.memory_mib, settings.vcpus)
        self.executions: dict[str, ProgramExecution] = {}
        self.history: VmHistory[ProgramExecution] = VmHistory()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._logs: dict[str, ProgramLog] = {}
        self._allocated: set[str] = set()
        self._allocations_file = AllocationFile(settings.data_dir / "allocations.json")
        self._background = BackgroundTasks()
        self._restarts = Restarts(
            self.start,
            lambda vm_hash: vm_hash in self._allocated and not self._draining,
            settings.restart_backoff_max,
            "persistent program",
        )
        self._draining = False
        self._usage_elsewhere: list[Callable[[], Usage]] = []
        self._forgotten: dict[str, str] = {}
        self._retired: set[ProgramExecution] = set()
        metrics.count_executions_with(self.running_count)

    # --- queries ----------------------------------------------------------------------

    def running_count(self) -> int:
        return sum(1 for record in self.executions.values() if record.running)

    def usage(self) -> Usage:
        """What the node's programs, and whatever else shares its capacity (instances),
        hold now."""
        programs = Usage.of(
            record.resources for record in self.executions.values() if record.resources is not None
        )
        return sum((held() for held in self._usage_elsewhere), programs)

    def share_capacity(self, held: Callable[[], Usage]) -> None:
        """Count what `held` reports against the same capacity (the instances do)."""
        self._usage_elsewhere.append(held)

    @property
    def capacity(self) -> Capacity:
        return self._capacity

    def programs(self) -> set[str]:
        """The programs that run or are allocated here (what a FORGET must reach)."""
        return {*self.executions, *self._allocated}

    def concerns(self, vm_hash: str) -> bool:
        return vm_hash in self.executions or vm_hash in self._allocated

    def log_of(self, vm_hash: str) -> ProgramLog:
        if vm_hash not in self._logs:
            path = self._settings.logs_dir / f"{vm_hash}.log"
            self._logs[vm_hash] = ProgramLog(path, self._settings.log_lines_per_execution)
        return self._logs[vm_hash]

    # --- starting and serving ---------------------------------------------------------

    async def start(self, vm_hash: str) -> ProgramExecution:
        """The running execution of `vm_hash`, started if there is none."""
        if self._draining:
            raise Draining()
        self._refuse_forgotten(vm_hash)
        current = self.executions.get(vm_hash)
        if current is not None and self._serves(current):
            return current
        async with self._locks[vm_hash]:
            current = self.executions.get(vm_hash)
            if current is not None:
                if self._serves(current):
                    return current
                # A stop under way (or a retired execution finishing its requests): start
                # its successor after it.
                await current.stopped.wait()
            self._refuse_forgotten(vm_hash)
            return await self._create(vm_hash)

    def _serves(self, record: ProgramExecution) -> bool:
        return record.running and record not in self._retired

    @asynccontextmanager
    async def serving(self, vm_hash: str) -> AsyncIterator[ProgramExecution]:
        """The execution, held for one request: it cannot expire meanwhile, and at most
        `max_concurrent_requests` hold it at once (others wait, up to the time limit)."""
        record = await self.start(vm_hash)
        limit = record.resources.seconds if record.resources else 1.0
        try:
            await asyncio.wait_for(record.slots.acquire(), limit)
        except TimeoutError as error:
            raise TooBusy(f"program {vm_hash} is serving its maximum of requests") from error
        record.begin_request()
        try:
            yield record
        finally:
            record.slots.release()
            record.end_request()
            if record in self._retired:
                self._replace_when_idle(record)
            elif record.active_requests == 0 and record.running and not record.persistent:
                self._arm_expiry(record)

    async def _create(self, vm_hash: str) -> ProgramExecution:
        record = ProgramExecution(
            vm_hash,
            vm_hash in self._allocated,
            self._settings.max_concurrent_requests,
            self.log_of(vm_hash),
        )
        clock = time.monotonic()
        record.times.mark("preparing_at")
        try:
            prepared = await self._prepare(vm_hash)
        except SupervisorError as error:
            self.metrics.failures.labels("prepare").inc()
            if isinstance(error, ProgramNotFound):
                await self._check_forgotten(vm_hash)
            raise
        record.prepared = prepared
        record.times.mark("prepared_at")
        prepared_after = time.monotonic() - clock
        # No await between the check and the insertion: concurrent starts see the reservation.
        check_admission(self._capacity, self.usage(), prepared.spec.resources)
        self.executions[vm_hash] = record
        record.times.mark("starting_at")
        try:
            execution = await self._launch(prepared.spec)
        except ExecutorError as error:
            self.executions.pop(vm_hash, None)
            self.metrics.failures.labels("start").inc()
            record.log.append("stderr", f"the program failed to start: {error}")
            raise StartFailed(f"program {vm_hash} failed to start: {error}") from error
        except BaseException:
            self.executions.pop(vm_hash, None)
            raise
        record.attach(execution)
        self.metrics.cold_starts.inc()
        self.metrics.start_seconds.observe(time.monotonic() - clock)
        self._background.spawn(self._watch(record, clock))
        logger.info(
            "started program %s (%s) in %.3f s, %.3f s of it fetching",
            vm_hash,
            "persistent" if record.persistent else "on demand",
            time.monotonic() - clock,
            prepared_after,
        )
        if self._draining:
            await self._stop(record)
            raise Draining()
        return record

    async def _launch(self, spec: ExecutionSpec) -> Execution:
        shutil.rmtree(spec.work_dir, ignore_errors=True)
        spec.work_dir.mkdir(parents=True)
        for volume in spec.volumes:
            if volume.host_path is not None and volume.kind is VolumeKind.PERSISTENT:
                volume.host_path.mkdir(parents=True, exist_ok=True)
        return await self._executor.start(spec)

    # --- stopping ---------------------------------------------------------------------

    async def stop(self, vm_hash: str, grace_seconds: float = STOP_GRACE_SECONDS) -> bool:
        """Stop the execution of `vm_hash`; False if there was none. A guest that is stuck
        (past its time limit) or gone gets no grace: it could not halt politely anyway."""
        record = self.executions.get(vm_hash)
        if record is None or not record.started:
            return False
        await self._stop(record, grace_seconds)
        return True

    def journal(self, vm_hash: str) -> list[LogEntry]:
        """The program's latest LOG lines (of its current or past executions)."""
        return self.log_of(vm_hash).entries()

    async def erase(self, vm_hash: str) -> None:
        """Stop the program and delete its persistent volumes."""
        await self.stop(vm_hash)
        shutil.rmtree(self._settings.volumes_dir / vm_hash, ignore_errors=True)

    async def reboot(self, vm_hash: str) -> ProgramExecution:
        await self.stop(vm_hash)
        return await self.start(vm_hash)

    # --- forgotten and amended programs -----------------------------------------------

    async def forget(self, vm_hash: str, reason: str) -> bool:
        """The program's message was forgotten: stop it, de-allocate it, and refuse it from
        now on with `reason` (a 410). True if an execution was stopped."""
        self._forgotten[vm_hash] = reason
        self._deallocate(vm_hash)
        # Logged before the stop, which takes a while: requests are refused from now on.
        logger.info("program %s de-allocated and stopping: %s", vm_hash, reason)
        return await self.stop(vm_hash)

    def retire(self, record: ProgramExecution, reason: str) -> None:
        """The execution runs on files that were amended since it started: it takes no new
        request, and stops once its requests in flight end; the next request starts on the
        new files, and a persistent program is restarted on them straight away."""
        if record in self._retired or not record.running:
            return
        self._retired.add(record)
        logger.info(
            "program %s: %s; %s once idle",
            record.vm_hash,
            reason,
            "restarting it" if record.persistent else "stopping it",
        )
        self._replace_when_idle(record)

    def _replace_when_idle(self, record: ProgramExecution) -> None:
        if record.active_requests == 0 and not record.stop_requested:
            self._background.spawn(self._replace(record))

    async def _replace(self, record: ProgramExecution) -> None:
        await self._stop(record)
        if record.vm_hash in self._allocated and not self._draining:
            self._restarts.schedule(record.vm_hash, 0.0)

    def _refuse_forgotten(self, vm_hash: str) -> None:
        reason = self._forgotten.get(vm_hash)
        if reason is not None:
            raise Forgotten(reason)

    async def _check_forgotten(self, vm_hash: str) -> None:
        """The message is not served: if the CCN says it was forgotten, remember it and say
        so (410) rather than 'not found'."""
        if await self._message_status(vm_hash) != MessageStatus.FORGOTTEN:
            return
        await self.forget(vm_hash, f"program {vm_hash} was forgotten on the CCN")
        self._refuse_forgotten(vm_hash)

    async def close(self) -> None:
        """Refuse new work, stop every guest and wait until each is gone."""
        self._draining = True
        self._restarts.cancel_all()
        records = [record for record in self.executions.values() if record.started]
        await asyncio.gather(*(self._stop(record) for record in records), return_exceptions=True)
        await self._background.cancel_all()

    async def _stop(
        self, record: ProgramExecution, grace_seconds: float = STOP_GRACE_SECONDS
    ) -> None:
        if not record.stop_requested:
            record.stop_requested = True
            record.times.mark("stopping_at")
            record.cancel_expiry()
            with suppress(Exception):
                await record.execution.stop(grace_seconds)
        await record.stopped.wait()

    def _arm_expiry(self, record: ProgramExecution) -> None:
        record.cancel_expiry()
        record.expiry = asyncio.create_task(self._expire(record), name=f"expiry-{record.vm_hash}")

    async def _expire(self, record: ProgramExecution) -> None:
        await asyncio.sleep(self._settings.reuse_timeout)
        logger.info(
            "program %s idle for %s s: stopping it", record.vm_hash, self._settings.reuse_timeout
        )
        await self._stop(record)

    async def _watch(self, record: ProgramExecution, started: float) -> None:
        """Waits for the guest to end, however it ends, and clears up after it."""
        try:
            reason = await record.execution.wait()
        except Exception:
            logger.exception("waiting for program %s failed", record.vm_hash)
            reason = ExitReason.EXITED
        record.times.mark("stopped_at")
        record.cancel_expiry()
        self._retired.discard(record)
        if self.executions.get(record.vm_hash) is record:
            del self.executions[record.vm_hash]
        self.history.remember(record)
        if record.prepared is not None:
            shutil.rmtree(record.prepared.spec.work_dir, ignore_errors=True)
        record.stopped.set()
        if record.stop_requested:
            return
        self.metrics.failures.labels("crash").inc()
        record.log.append("stderr", f"the program ended by itself ({reason})")
        logger.warning("program %s ended by itself: %s", record.vm_hash, reason)
        if record.vm_hash in self._allocated and not self._draining:
            self._restarts.after_crash(record.vm_hash, time.monotonic() - started)

    # --- persistent programs ----------------------------------------------------------

    async def allocate(self, persistent: Iterable[str]) -> AllocationResult:
        """Make the persistent programs exactly `persistent`: stop the others, start these."""
        wanted = list(dict.fromkeys(persistent))
        result = AllocationResult()
        for vm_hash in self._allocated - set(wanted):
            self._allocated.discard(vm_hash)
            self._restarts.cancel(vm_hash)
            if await self.stop(vm_hash):
                result.stopped.append(vm_hash)
        self._allocated.update(wanted)
        self._allocations_file.save(self._allocated)
        for vm_hash in wanted:
            try:
                record = await self.start(vm_hash)
            except SupervisorError as error:
                result.failing.append(vm_hash)
                result.errors[vm_hash] = error.message
                if isinstance(error, Forgotten):
                    self._deallocate(vm_hash)
                continue
            record.persistent = True
            record.cancel_expiry()
            result.successful.append(vm_hash)
        return result

    def _deallocate(self, vm_hash: str) -> None:
        self._restarts.cancel(vm_hash)
        if vm_hash in self._allocated:
            self._allocated.discard(vm_hash)
            self._allocations_file.save(self._allocated)

    def resume_allocations(self) -> None:
        """Start again, in the background, the persistent programs allocated before the CRN
        last stopped (as the reference reloads its persistent VMs at start)."""
        for vm_hash in self._allocations_file.load():
            self._allocated.add(vm_hash)
            self._restarts.schedule(vm_hash, 0.0)
