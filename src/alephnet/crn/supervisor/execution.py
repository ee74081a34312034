"""One execution of a program: its spec, its guest, its timeline, its requests in flight."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from alephnet.crn.executors.base import Execution, Resources
from alephnet.crn.supervisor.guest_api import GuestApiProxy
from alephnet.crn.supervisor.logs import ProgramLog
from alephnet.crn.supervisor.program_spec import PreparedProgram

ExecutionT = TypeVar("ExecutionT")


@dataclass
class Timeline:
    """The reference's lifecycle timestamps, as `/v2/about/executions/list` reports them."""

    defined_at: datetime | None = None
    preparing_at: datetime | None = None
    prepared_at: datetime | None = None
    starting_at: datetime | None = None
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    stopped_at: datetime | None = None

    def mark(self, moment: str) -> None:
        setattr(self, moment, datetime.now(UTC))

    def as_json(self) -> dict[str, str | None]:
        return {
            item.name: value.isoformat() if (value := getattr(self, item.name)) else None
            for item in fields(self)
        }


class VmLifecycle(Generic[ExecutionT]):
    """What a program's and an instance's record share, from being asked for to their VM's
    end: the supervisor reads `running` the same way for both (lists, stops, allocations)."""

    def __init__(self, vm_hash: str) -> None:
        self.vm_hash = vm_hash
        self.times = Timeline()
        self.times.mark("defined_at")
        self.stop_requested = False
        self.stopped = asyncio.Event()
        self._execution: ExecutionT | None = None

    @property
    def execution(self) -> ExecutionT:
        assert self._execution is not None, f"{self.vm_hash} has not started"
        return self._execution

    @property
    def started(self) -> bool:
        return self._execution is not None

    @property
    def running(self) -> bool:
        return self._execution is not None and not self.stop_requested and not self.stopped.is_set()


class ProgramExecution(VmLifecycle[Execution]):
    """Created when a program is asked for; in the pool from preparation until its guest ends."""

    def __init__(
        self, vm_hash: str, persistent: bool, max_concurrent: int, log: ProgramLog
    ) -> None:
        super().__init__(vm_hash)
        self.persistent = persistent
        self.log = log
        self.prepared: PreparedProgram | None = None
        self.slots = asyncio.Semaphore(max_concurrent)
        self.active_requests = 0
        self.expiry: asyncio.Task[None] | None = None

    @property
    def resources(self) -> Resources | None:
        return self.prepared.spec.resources if self.prepared is not None else None

    @property
    def vm_type(self) -> str:
        """The reference's names: on-demand programs are `microvm`s whatever runs them."""
        return "persistent_program" if self.persistent else "microvm"

    @property
    def mapped_ports(self) -> dict[str, dict[str, Any]]:
        """Programs are reached through the CRN's HTTP front, never on ports of their own."""
        return {}

    def attach(self, execution: Execution) -> None:
        self._execution = execution
        execution.link.set_log_callback(self.log.append)
        if self.prepared is not None and self.prepared.spec.api_host:
            execution.link.set_api_handler(GuestApiProxy(self.prepared.spec.api_host).handle)
        self.times.mark("started_at")

    def begin_request(self) -> None:
        self.active_requests += 1
        self.cancel_expiry()

    def end_request(self) -> None:
        self.active_requests -= 1

    def cancel_expiry(self) -> None:
        if self.expiry is not None and self.expiry is not asyncio.current_task():
            self.expiry.cancel()
        self.expiry = None
