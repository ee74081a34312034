"""The state file of a running devnet (`DIR/devnet.json`), for the commands of other terminals.

`devnet up` writes it once its nodes are launched and removes it when it has stopped them;
`devnet status` and `devnet down` read it. It names every process with its start time (see
`processes.ProcessId`), so a state file left by a crash or a reboot is recognised as stale.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from alephnet.devnet.processes import ProcessId


class ProcessRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    pid: int
    started: int

    @classmethod
    def of(cls, process: ProcessId) -> ProcessRecord:
        return cls(pid=process.pid, started=process.started)

    @property
    def process(self) -> ProcessId:
        return ProcessId(self.pid, self.started)


class NodeRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    url: str
    port: int
    process: ProcessRecord
    data_dir: Path
    log_file: Path


class WalletRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    key_file: Path


class DevnetState(BaseModel):
    """What `up` started: its own process (the supervisor), the nodes (CCNs, then compute
    nodes), the dev wallet."""

    model_config = ConfigDict(frozen=True)

    supervisor: ProcessRecord
    nodes: list[NodeRecord]
    wallet: WalletRecord
    crns: list[NodeRecord] = []

    @property
    def processes(self) -> list[ProcessId]:
        nodes = [*self.nodes, *self.crns]
        return [self.supervisor.process, *(node.process.process for node in nodes)]

    def running(self) -> list[ProcessId]:
        return [process for process in self.processes if process.alive()]


def read_state(path: Path) -> DevnetState | None:
    """The state in `path`, or None when there is none."""
    try:
        return DevnetState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None


def write_state(path: Path, state: DevnetState) -> None:
    """Written to a temporary file then renamed: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(state.model_dump_json(indent=2) + "\n")
    os.replace(temporary, path)


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
