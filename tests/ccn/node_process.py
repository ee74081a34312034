"""A CCN in its own process, started with the command an operator runs.

The in-process app of `conftest.py` cannot be killed or sent a signal: the tests of crashes and
stops need a real process, a real socket and the real command line. The process handling is the
devnet's (`alephnet.devnet.processes`); tests add a fresh port per start and shutdown probes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alephnet.devnet.layout import port_is_free
from alephnet.devnet.processes import CcnProcess

EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_TEST_PORT = 10_000
PORT_DRAWS = 1_000


def free_port() -> int:
    """A loopback port free now, below the kernel's range of ephemeral ports. A port of that
    range (what binding port 0 gives) is also the source port of outgoing connections: a
    node's client could take it between the test's choice and the server's bind, even by
    connecting to that very port before anything listens there (TCP's self-connect). A
    devnet test failed so in CI, its second node's port already in use."""
    below = int(EPHEMERAL_PORTS.read_text().split()[0])
    for _ in range(PORT_DRAWS):
        port = random.randrange(LOWEST_TEST_PORT, below)
        if port_is_free(port):
            return port
    raise AssertionError(f"no free port between {LOWEST_TEST_PORT} and {below}")


@asynccontextmanager
async def node_process(data_dir: Path, database_url: str) -> AsyncIterator[NodeProcess]:
    """A node (not started yet) that is killed at the end if a test left it running."""
    node = NodeProcess(data_dir, database_url)
    try:
        yield node
    finally:
        if node.running:
            node.kill()


class NodeProcess(CcnProcess):
    """One node's data (dir and database), which outlives the processes that serve it: the node
    can be killed and started again on the same data."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        super().__init__(data_dir, database_url=database_url)

    def launch(self) -> None:
        self.port = free_port()  # a new one each time: nothing may answer on a stale port
        super().launch()

    async def wait_until_refusing(self, timeout: float) -> None:
        """Return once the node refuses new connections: it has begun its shutdown. A
        connection reset while connecting says the same: the node closed its listening socket
        with that connection still in its backlog."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except (ConnectionRefusedError, ConnectionResetError):
                return
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.02)
        raise AssertionError(f"the node still accepts connections after {timeout} s")
