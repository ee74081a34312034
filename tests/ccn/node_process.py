"""A CCN in its own process, started with the command an operator runs.

The in-process app of `conftest.py` cannot be killed or sent a signal: the tests of crashes and
stops need a real process, a real socket and the real command line.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

START_TIMEOUT = 30.0
LOG_TAIL = 4000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def node_process(data_dir: Path, database_url: str) -> AsyncIterator[NodeProcess]:
    """A node (not started yet) that is killed at the end if a test left it running."""
    node = NodeProcess(data_dir, database_url)
    try:
        yield node
    finally:
        if node.running:
            node.kill()


class NodeProcess:
    """One node's data (dir and database), which outlives the processes that serve it: the node
    can be killed and started again on the same data. Its output goes to `log_file`."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.log_file = data_dir.parent / f"{data_dir.name}.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self) -> None:
        """Start the node and return once it answers: migrations are done, the API is up."""
        assert not self.running, "the node is already running"
        self.port = free_port()  # a new one each time: nothing may answer on a stale port
        command = [
            sys.executable, "-m", "alephnet", "ccn", "run", "--data-dir", str(self.data_dir),
            "--port", str(self.port), "--database-url", self.database_url, "--log-level", "WARNING",
        ]  # fmt: skip
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        await self._wait_until_up()

    def kill(self) -> None:
        """SIGKILL: the node gets no chance to finish anything, as in a crash."""
        process = self._require_process()
        process.kill()
        process.wait()

    def send_signal(self, signum: signal.Signals) -> None:
        self._require_process().send_signal(signum)

    async def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the node still runs after `timeout` (it is then killed,
        so that no test leaves a node behind)."""
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

    async def wait_until_refusing(self, timeout: float) -> None:
        """Return once the node refuses new connections: it has begun its shutdown."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except ConnectionRefusedError:
                return
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.02)
        raise AssertionError(f"the node still accepts connections after {timeout} s")

    def log_tail(self) -> str:
        """The end of the node's output, to put in failure messages."""
        return self.log_file.read_text(errors="replace")[-LOG_TAIL:]

    async def _wait_until_up(self) -> None:
        process = self._require_process()
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(base_url=self.url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"node exited with {process.returncode} at start:\n{self.log_tail()}"
                    )
                try:
                    if (await client.get("/api/v0/version")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        self.kill()
        raise RuntimeError(f"node did not answer within {START_TIMEOUT} s:\n{self.log_tail()}")

    def _require_process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "the node was never started"
        return self._process
