"""One execution of an instance: its spec, its VM, its timeline and where its console goes.

`started_at` is marked when the VM answers on its SSH port (`InstanceExecution.ready`), not
when QEMU starts: that is when its owner can log in.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from alephnet.crn.executors.base import InstanceExecution, Resources
from alephnet.crn.supervisor.execution import VmLifecycle
from alephnet.crn.supervisor.instance_spec import PreparedInstance
from alephnet.crn.supervisor.logs import LogEntry


class InstanceRecord(VmLifecycle[InstanceExecution]):
    """Created when an instance is asked for; in the manager from preparation until its VM
    ends, then in the history."""

    vm_type = "instance"

    def __init__(self, vm_hash: str) -> None:
        super().__init__(vm_hash)
        self.prepared: PreparedInstance | None = None
        self.console_path: Path | None = None

    @property
    def ready(self) -> bool:
        return self.running and self.execution.ready

    @property
    def resources(self) -> Resources | None:
        return self.prepared.resources if self.prepared is not None else None

    @property
    def mapped_ports(self) -> dict[str, dict[str, Any]]:
        """Guest port -> host port on the CRN and its protocols, as
        `/v2/about/executions/list` shows them."""
        if self.prepared is None or not self.running:
            return {}
        forwarded = self.prepared.spec.forwarded_ports
        return {
            str(guest): {"host": forward.host, "tcp": forward.tcp, "udp": forward.udp}
            for guest, forward in sorted(forwarded.items())
        }

    def attach(self, execution: InstanceExecution) -> None:
        self._execution = execution
        self.console_path = execution.console_path

    def console(self, max_lines: int) -> list[LogEntry]:
        """The console's last lines, as the owner's logs; dated by the file's last write."""
        path = self.console_path
        if path is None or not path.exists():
            return []
        written = path.stat().st_mtime
        with path.open(encoding="utf-8", errors="replace", newline="") as console:
            lines = deque((line.rstrip("\r\n").replace("\r", "") for line in console), max_lines)
        return [LogEntry(written, "stdout", line) for line in lines]
