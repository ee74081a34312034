"""Node processes: start a CCN with the operator's command, wait until it answers, stop it.

Two kinds of callers share this: the process that started a node holds its `CcnProcess` (the
`devnet up` supervisor, the tests, the benchmarks); another process (`devnet down`) only has the
pids of the state file, so stopping also works from a `ProcessId` alone.

A pid alone does not name a process for long: once it exits, the kernel may give its number to
an unrelated program. A `ProcessId` therefore also records the process's start time (Linux
`/proc/<pid>/stat`), and a process only counts as alive when both match, so a stale state file
never makes us signal a stranger. A zombie (exited, not yet reaped) counts as gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LOG_TAIL = 4000
POLL_INTERVAL = 0.1
VERSION_PATH = "/api/v0/version"


class NodeStartError(RuntimeError):
    """A node exited during start-up, or did not answer in time (the message holds its log)."""


@dataclass(frozen=True, slots=True)
class ProcessId:
    """A pid and the start time of the process that had it (clock ticks since boot)."""

    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        stat = _read_stat(pid)
        if stat is None:
            raise ProcessLookupError(pid)
        return cls(pid, stat[1])

    def alive(self) -> bool:
        stat = _read_stat(self.pid)
        return stat is not None and stat[0] not in "ZX" and stat[1] == self.started

    def signal(self, signum: signal.Signals) -> None:
        """Send `signum` if the process is still this one; a process just gone is fine."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) from /proc, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def stop_processes(processes: Sequence[ProcessId], timeout: float = STOP_TIMEOUT) -> list[int]:
    """SIGTERM every process (a node then finishes its requests and commits its queue), wait
    up to `timeout` for all of them, SIGKILL the leftovers. Returns the pids that were killed."""
    for process in processes:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(process.alive() for process in processes) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    leftovers = [process for process in processes if process.alive()]
    for process in leftovers:
        process.signal(signal.SIGKILL)
    return [process.pid for process in leftovers]


class CcnProcess:
    """One CCN started with `alephnet ccn run` in a session of its own, so a Ctrl-C in the
    terminal reaches its owner only, which then stops it cleanly with SIGTERM. Its output goes
    to `log_file`, beside its data dir."""

    health_path = VERSION_PATH

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        config: Path | None = None,
        database_url: str | None = None,
        log_level: str = "WARNING",
        peers: Sequence[str] = (),
        p2p_port: int | None = None,
        bootstrap: Sequence[str] = (),
    ) -> None:
        """With a `p2p_port`, the node gossips over libp2p with its `bootstrap` peers."""
        self.data_dir = data_dir
        self.peers = list(peers)
        self.p2p_port = p2p_port
        self.bootstrap = list(bootstrap)
        self.port = port
        self.config = config
        self.database_url = database_url
        self.log_level = log_level
        self.log_file = data_dir.parent / f"{data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def multiaddr(self) -> str:
        """Where peers reach the node's gossip (its key is created now if it has none yet)."""
        from alephnet.ccn.p2p.node_key import peer_id_of

        assert self.p2p_port, "the node has no fixed libp2p port"
        return f"/ip4/127.0.0.1/tcp/{self.p2p_port}/p2p/{peer_id_of(self.data_dir)}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def process_id(self) -> ProcessId:
        return ProcessId.of(self._require_process().pid)

    def launch(self) -> None:
        """Start the process and return at once (see `wait_until_up`)."""
        assert not self.running, "the node is already running"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def start(self) -> None:
        """Start the node and return once it answers: migrations are done, the API is up."""
        self.launch()
        await self.wait_until_up()

    async def wait_until_up(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the API answers; raise `NodeStartError` (and kill the node if it still
        runs) when it exits first or stays silent for `timeout` seconds."""
        process = self._require_process()
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise NodeStartError(
                        f"node exited with {process.returncode} at start:\n{self.log_tail()}"
                    )
                if await answers(client, self.health_path):
                    return
                await asyncio.sleep(POLL_INTERVAL)
        self.kill()
        raise NodeStartError(f"node did not answer within {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the node gets no chance to finish anything, as in a crash."""
        process = self._require_process()
        process.kill()
        process.wait()

    def send_signal(self, signum: signal.Signals) -> None:
        self._require_process().send_signal(signum)

    async def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the node still runs after `timeout` (it is then killed,
        so that no node is left behind)."""
        process = self._require_process()
        try:
            return await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    async def terminate(self, timeout: float) -> int | None:
        """SIGTERM, the way supervisors stop a node, then the exit status (see `wait`)."""
        self.send_signal(signal.SIGTERM)
        return await self.wait(timeout)

    def reap(self) -> int | None:
        """The exit status of a node that was stopped by pid (`stop_processes`), collected so
        that it leaves no zombie; None if it was never started."""
        return None if self._process is None else self._process.wait()

    def log_tail(self) -> str:
        """The end of the node's output, to put in error messages."""
        return self.log_file.read_text(errors="replace")[-LOG_TAIL:]

    def _command(self) -> list[str]:
        command = [
            sys.executable, "-m", "alephnet", "ccn", "run", "--data-dir", str(self.data_dir),
            "--port", str(self.port), "--log-level", self.log_level,
        ]  # fmt: skip
        if self.config is not None:
            command += ["--config", str(self.config)]
        if self.database_url is not None:
            command += ["--database-url", self.database_url]
        for peer in self.peers:
            command += ["--peer", peer]
        if self.p2p_port is not None:
            command += ["--p2p-port", str(self.p2p_port)]
        for address in self.bootstrap:
            command += ["--bootstrap", address]
        return command

    def _require_process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "the node was never started"
        return self._process


async def answers(client: httpx.AsyncClient, path: str) -> bool:
    """Whether the node behind `client` answers `path` with 200 (False when unreachable)."""
    try:
        return (await client.get(path)).status_code == 200
    except httpx.TransportError:
        return False


class CrnProcess(CcnProcess):
    """One CRN started with `alephnet crn run`, linked to the CCN at `ccn_url`; handled like a
    CCN (own session, log beside its data dir, SIGTERM to stop)."""

    health_path = "/status/config"

    def __init__(
        self,
        data_dir: Path,
        ccn_url: str,
        *,
        port: int = 0,
        executor: str = "sandbox",
        config: Path | None = None,
        log_level: str = "WARNING",
    ) -> None:
        super().__init__(data_dir, port=port, config=config, log_level=log_level)
        self.ccn_url = ccn_url
        self.executor = executor

    def _command(self) -> list[str]:
        command = [
            sys.executable, "-m", "alephnet", "crn", "run", "--data-dir", str(self.data_dir),
            "--port", str(self.port), "--ccn", self.ccn_url, "--executor", self.executor,
            "--log-level", self.log_level,
        ]  # fmt: skip
        if self.config is not None:
            command += ["--config", str(self.config)]
        return command
