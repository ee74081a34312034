"""The instances a CRN runs: at most one VM per INSTANCE hash, booted by the micro-VM executor.

- Started by the scheduler (`/control/allocations`, its `instances`: the set is exactly that
  list, others stop) or by anyone through `/control/allocation/notify` (the reference's way for
  pay-as-you-go instances; `/control/allocations` never stops those).
- Admission against the same memory and vCPUs as programs (`ExecutionPool.share_capacity`).
- Never expire. A VM that ends by itself is restarted with the persistent programs' backoff
  (`restarts`); both sets are kept in the data dir and a CRN that starts again restarts them.
- The owner's stop keeps it stopped (until notified or allocated again); erase also deletes its
  disk and volumes (`volumes/<vm_hash>/`).
- An instance whose message was forgotten on the CCN is stopped and its disk erased: when a
  start, an owner call or the periodic check (`instance_check_interval`) finds out.
- A node whose executor cannot boot instances (the sandbox) refuses them: `InstancesUnsupported`.
- `close()` refuses new work and stops every VM: nothing is left running.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from typing import TypeGuard

from alephnet.crn.executors.base import (
    Executor,
    ExecutorError,
    ExitReason,
    InstanceExecution,
    InstanceExecutor,
    InstanceSpec,
    VolumeKind,
)
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.allocation_file import AllocationFile
from alephnet.crn.supervisor.background import BackgroundTasks
from alephnet.crn.supervisor.capacity import Usage, check_admission
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.errors import (
    Draining,
    Forgotten,
    InstancesUnsupported,
    ProgramNotFound,
    StartFailed,
    SupervisorError,
)
from alephnet.crn.supervisor.instance_execution import InstanceRecord
from alephnet.crn.supervisor.instance_spec import ROOTFS_NAME, PreparedInstance
from alephnet.crn.supervisor.logs import LogEntry
from alephnet.crn.supervisor.metrics import CrnMetrics
from alephnet.crn.supervisor.pool import AllocationResult, ExecutionPool
from alephnet.crn.supervisor.restarts import Restarts
from alephnet.crn.supervisor.vm_history import VmHistory

logger = logging.getLogger(__name__)

InstancePreparerFn = Callable[[str], Awaitable[PreparedInstance]]
# ACPI power-off of a Debian guest under TCG takes 10-20 s: an owner's stop waits that long
# before the VM is killed; a CRN shutting down waits less (its own stop is bounded, 30 s in a
# devnet), and a journaled disk survives the kill.
STOP_GRACE_SECONDS = 30.0
SHUTDOWN_GRACE_SECONDS = 10.0
READY_POLL_SECONDS = 0.5
FORGOTTEN = "forgotten"


def boots_instances(executor: Executor) -> TypeGuard[InstanceExecutor]:
    """Executors declare what they can do by their methods (protocols, no registry)."""
    return callable(getattr(executor, "start_instance", None))


class InstanceManager:
    def __init__(
        self,
        executor: Executor,
        prepare: InstancePreparerFn,
        source: CcnSource,
        pool: ExecutionPool,
        settings: CrnSettings,
        metrics: CrnMetrics,
    ) -> None:
        self._executor = executor if boots_instances(executor) else None
        self._executor_name = getattr(executor, "name", type(executor).__name__)
        self._prepare = prepare
        self._source = source
        self._pool = pool
        self._settings = settings
        self._metrics = metrics
        self.instances: dict[str, InstanceRecord] = {}
        self.history: VmHistory[InstanceRecord] = VmHistory()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._allocated: set[str] = set()
        self._notified: set[str] = set()
        self._allocated_file = AllocationFile(settings.data_dir / "instances-allocated.json")
        self._notified_file = AllocationFile(settings.data_dir / "instances-notified.json")
        self._restarts = Restarts(
            self.start, self._keep_running, settings.restart_backoff_max, "instance"
        )
        self._background = BackgroundTasks()
        self._draining = False
        pool.share_capacity(self.usage)
        metrics.count_instances_with(self.running_count)

    # --- queries ----------------------------------------------------------------------

    @property
    def supported(self) -> bool:
        """Whether this node's executor boots instances (the micro-VM does, the sandbox not)."""
        return self._executor is not None

    def running_count(self) -> int:
        return sum(1 for record in self.instances.values() if record.running)

    def usage(self) -> Usage:
        return Usage.of(
            record.resources for record in self.instances.values() if record.resources is not None
        )

    def knows(self, vm_hash: str) -> bool:
        """Whether this node runs or ran the instance, or keeps its disk."""
        return (
            vm_hash in self.instances
            or vm_hash in self.history
            or self._wanted(vm_hash)
            or vm_hash in self._disks()
        )

    def _disks(self) -> set[str]:
        """The instances whose disk is kept here (stopped ones too, until erased)."""
        return {disk.parent.name for disk in self._settings.volumes_dir.glob(f"*/{ROOTFS_NAME}")}

    def journal(self, vm_hash: str) -> list[LogEntry]:
        """The console output of its current (or last) VM, as text."""
        record = self.instances.get(vm_hash) or self.history.get(vm_hash)
        if record is None:
            return []
        lines = record.console(self._settings.log_lines_per_execution)
        return [entry.without_terminal_codes() for entry in lines]

    def _wanted(self, vm_hash: str) -> bool:
        return vm_hash in self._allocated or vm_hash in self._notified

    def _keep_running(self, vm_hash: str) -> bool:
        return self._wanted(vm_hash) and not self._draining

    # --- starting ---------------------------------------------------------------------

    async def notify(self, vm_hash: str) -> InstanceRecord:
        """Start the instance and keep it running until its owner stops it (the reference's
        notify, for instances no scheduler allocates)."""
        record = await self.start(vm_hash)
        self._notified.add(vm_hash)
        self._notified_file.save(self._notified)
        return record

    async def allocate(self, instances: Iterable[str]) -> AllocationResult:
        """Make the scheduler's instances exactly `instances`: stop the others (unless their
        owner notified them), start these."""
        wanted = list(dict.fromkeys(instances))
        result = AllocationResult()
        dropped = sorted(self._allocated - set(wanted) - self._notified)
        self._allocated.intersection_update(wanted)
        for vm_hash in dropped:
            self._restarts.cancel(vm_hash)
        # Powered off together: each may take its whole grace.
        stopped = await asyncio.gather(*(self._stop_vm(vm_hash) for vm_hash in dropped))
        result.stopped += [vm_hash for vm_hash, done in zip(dropped, stopped, strict=True) if done]
        for vm_hash in wanted:
            try:
                await self.start(vm_hash)
            except SupervisorError as error:
                result.failing.append(vm_hash)
                result.errors[vm_hash] = error.message
                continue
            self._allocated.add(vm_hash)
            result.successful.append(vm_hash)
        self._allocated_file.save(self._allocated)
        return result

    async def start(self, vm_hash: str) -> InstanceRecord:
        """The running VM of `vm_hash`, booted if there is none."""
        executor = self._instance_executor()
        if self._draining:
            raise Draining()
        current = self.instances.get(vm_hash)
        if current is not None and current.running:
            return current
        async with self._locks[vm_hash]:
            current = self.instances.get(vm_hash)
            if current is not None:
                if current.running:
                    return current
                await current.stopped.wait()
            return await self._create(vm_hash, executor)

    def _instance_executor(self) -> InstanceExecutor:
        if self._executor is None:
            raise InstancesUnsupported(
                f"instances are not supported by this node: its {self._executor_name} executor "
                "cannot boot a VM (run the CRN with --executor microvm)"
            )
        return self._executor

    async def _create(self, vm_hash: str, executor: InstanceExecutor) -> InstanceRecord:
        record = InstanceRecord(vm_hash)
        clock = time.monotonic()
        record.times.mark("preparing_at")
        prepared = await self._prepared(vm_hash)
        record.prepared = prepared
        record.times.mark("prepared_at")
        # No await between the check and the insertion: concurrent starts see the reservation.
        check_admission(self._pool.capacity, self._pool.usage(), prepared.resources)
        self.instances[vm_hash] = record
        record.times.mark("starting_at")
        try:
            execution = await self._launch(executor, prepared.spec)
        except ExecutorError as error:
            self.instances.pop(vm_hash, None)
            self._metrics.failures.labels("instance_start").inc()
            raise StartFailed(f"instance {vm_hash} failed to start: {error}") from error
        except BaseException:
            self.instances.pop(vm_hash, None)
            raise
        record.attach(execution)
        self._background.spawn(self._watch(record, clock))
        self._background.spawn(self._mark_ready(record))
        logger.info(
            "instance %s booting, SSH on 127.0.0.1:%s",
            vm_hash,
            prepared.spec.forwarded_ports[22].host,
        )
        if self._draining:
            await self._stop_vm(vm_hash)
            raise Draining()
        return record

    async def _prepared(self, vm_hash: str) -> PreparedInstance:
        try:
            return await self._prepare(vm_hash)
        except ProgramNotFound:
            await self.forget_if_forgotten(vm_hash)
            raise
        except SupervisorError:
            self._metrics.failures.labels("prepare").inc()
            raise

    async def _launch(self, executor: InstanceExecutor, spec: InstanceSpec) -> InstanceExecution:
        shutil.rmtree(spec.work_dir, ignore_errors=True)
        spec.work_dir.mkdir(parents=True)
        spec.disk_path.parent.mkdir(parents=True, exist_ok=True)
        for volume in spec.volumes:
            if volume.host_path is not None and volume.kind is VolumeKind.PERSISTENT:
                volume.host_path.mkdir(parents=True, exist_ok=True)
        return await executor.start_instance(spec)

    async def _mark_ready(self, record: InstanceRecord) -> None:
        """`started_at` once the VM answers on its SSH port."""
        while record.running:
            if record.execution.ready:
                record.times.mark("started_at")
                logger.info("instance %s is up (SSH answers)", record.vm_hash)
                return
            await asyncio.sleep(READY_POLL_SECONDS)

    async def _watch(self, record: InstanceRecord, started: float) -> None:
        """Waits for the VM to end, however it ends. Its work folder stays until its next
        start: the console output in it is what its owner reads as logs."""
        try:
            reason = await record.execution.wait()
        except Exception:
            logger.exception("waiting for instance %s failed", record.vm_hash)
            reason = ExitReason.EXITED
        record.times.mark("stopped_at")
        if self.instances.get(record.vm_hash) is record:
            del self.instances[record.vm_hash]
        self.history.remember(record)
        record.stopped.set()
        if record.stop_requested:
            return
        self._metrics.failures.labels("instance_crash").inc()
        logger.warning("instance %s ended by itself: %s", record.vm_hash, reason)
        if self._keep_running(record.vm_hash):
            self._restarts.after_crash(record.vm_hash, time.monotonic() - started)

    # --- the owner's operations -------------------------------------------------------

    async def stop(self, vm_hash: str) -> bool:
        """Stop the VM and keep it stopped (it is no longer restarted, nor started again with
        the CRN) until it is notified or allocated again; False if it was not running."""
        self._release(vm_hash)
        return await self._stop_vm(vm_hash)

    async def reboot(self, vm_hash: str) -> InstanceRecord:
        """Power the VM off and boot it again, on the same disk."""
        self._instance_executor()
        self._restarts.cancel(vm_hash)
        await self._stop_vm(vm_hash)
        return await self.start(vm_hash)

    async def erase(self, vm_hash: str) -> None:
        """Stop the VM and delete its disk and volumes."""
        await self.stop(vm_hash)
        shutil.rmtree(self._settings.volumes_dir / vm_hash, ignore_errors=True)
        logger.info("instance %s erased: its disk and volumes are deleted", vm_hash)

    async def forget_if_forgotten(self, vm_hash: str) -> None:
        """Stop and erase the instance if the CCN says its message was forgotten; then
        `Forgotten` (410) says so to whoever asked."""
        if await self._source.status(vm_hash) != FORGOTTEN:
            return
        await self.erase(vm_hash)
        raise Forgotten(f"{vm_hash} was forgotten on the CCN: its VM is stopped, its disk erased")

    async def check_forgotten(self) -> None:
        """Every `instance_check_interval` seconds, erase what was forgotten since: running
        or not, as long as its disk is here."""
        while True:
            await asyncio.sleep(self._settings.instance_check_interval)
            for vm_hash in {*self.instances, *self._allocated, *self._notified, *self._disks()}:
                with suppress(Forgotten):
                    await self.forget_if_forgotten(vm_hash)

    def _release(self, vm_hash: str) -> None:
        self._restarts.cancel(vm_hash)
        if vm_hash in self._notified:
            self._notified.discard(vm_hash)
            self._notified_file.save(self._notified)
        if vm_hash in self._allocated:
            self._allocated.discard(vm_hash)
            self._allocated_file.save(self._allocated)

    async def _stop_vm(self, vm_hash: str, grace_seconds: float = STOP_GRACE_SECONDS) -> bool:
        record = self.instances.get(vm_hash)
        if record is None or not record.started:
            return False
        if not record.stop_requested:
            record.stop_requested = True
            record.times.mark("stopping_at")
            with suppress(Exception):
                await record.execution.stop(grace_seconds)
        await record.stopped.wait()
        return True

    # --- the node's life --------------------------------------------------------------

    def resume(self) -> None:
        """Boot again, in the background, the instances the CRN ran before it last stopped."""
        self._allocated.update(self._allocated_file.load())
        self._notified.update(self._notified_file.load())
        wanted = self._allocated | self._notified
        if wanted and not self.supported:
            logger.warning(
                "%d instances were allocated here, but the %s executor cannot boot them",
                len(wanted),
                self._executor_name,
            )
            return
        for vm_hash in wanted:
            self._restarts.schedule(vm_hash, 0.0)

    async def close(self) -> None:
        """Refuse new work, power every VM off and wait until each is gone."""
        self._draining = True
        self._restarts.cancel_all()
        await asyncio.gather(
            *(self._stop_vm(vm_hash, SHUTDOWN_GRACE_SECONDS) for vm_hash in list(self.instances)),
            return_exceptions=True,
        )
        await self._background.cancel_all()
