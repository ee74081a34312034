"""Servers for real on loopback, for tests whose client is another process or a real HTTP stack
(the CLI in a subprocess, a node syncing from a fake peer): ASGI stand-ins served in a thread,
and a CCN in its own process.

The port and URL plumbing lives here once: a stand-in subclasses `LoopbackApp` (a fresh port,
its URL), and a test that needs an address where nothing answers asks `unused_loopback_url`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import uvicorn

from tests.ccn.node_process import NodeProcess, free_port

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def loopback_url(port: int) -> str:
    """The HTTP root of whatever a test serves on `port`; tests never leave loopback."""
    return f"http://127.0.0.1:{port}"


def unused_loopback_url() -> str:
    """An address where nothing answers, for the tests of unreachable nodes."""
    return loopback_url(free_port())


@dataclass
class LoopbackApp:
    """The base of a stand-in served by `serving`: its port (a free one unless given, keyword
    only so that subclasses keep their own positional fields) and its URL."""

    port: int = field(default_factory=free_port, kw_only=True)

    @property
    def url(self) -> str:
        return loopback_url(self.port)


class LoopbackServer(Protocol):
    """A test's stand-in for a node: an ASGI app and the loopback port to serve it on."""

    @property
    def port(self) -> int: ...

    def app(self) -> Any: ...


S = TypeVar("S", bound=LoopbackServer)


@contextmanager
def serving_app(
    app: Any, port: int, name: str, server_class: type[uvicorn.Server] = uvicorn.Server
) -> Iterator[None]:
    """`app` served by uvicorn (or `server_class`, a subclass of its server) on
    127.0.0.1:`port`, in a thread of the test process, from the moment it accepts connections
    until the block ends. `name` says which server failed."""
    server = server_class(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive(), f"the {name} exited at start"
        assert time.monotonic() < deadline, f"the {name} did not start within {START_TIMEOUT} s"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)


@contextmanager
def serving(server: S) -> Iterator[S]:
    """`server`'s app served on its port for the duration of the block."""
    with serving_app(server.app(), server.port, type(server).__name__):
        yield server


@contextmanager
def ccn_process(data_dir: Path) -> Iterator[NodeProcess]:
    """A CCN on SQLite in `data_dir`, started with the operator's command (`alephnet ccn run`)
    in its own process, and stopped with SIGTERM at the end: it must then exit 0, or the test
    fails with the node's log."""
    process = NodeProcess(data_dir, f"sqlite+aiosqlite:///{data_dir / 'ccn.sqlite3'}")
    asyncio.run(process.start())
    try:
        yield process
    finally:
        exit_code = asyncio.run(process.terminate(STOP_TIMEOUT))
    if exit_code != 0:
        pytest.fail(
            f"the node did not stop cleanly on SIGTERM (exit code {exit_code}):\n"
            f"{process.log_tail()}"
        )
