"""ASGI apps served for real on loopback, for tests whose client is another process or a real
HTTP stack (the CLI in a subprocess, a node syncing from a fake peer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import uvicorn

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class LoopbackServer(Protocol):
    """A test's stand-in for a node: an ASGI app and the loopback port to serve it on."""

    @property
    def port(self) -> int: ...

    def app(self) -> Any: ...


S = TypeVar("S", bound=LoopbackServer)


@contextmanager
def serving_app(app: Any, port: int, name: str) -> Iterator[None]:
    """`app` served by uvicorn on 127.0.0.1:`port`, in a thread of the test process, from the
    moment it accepts connections until the block ends. `name` says which server failed."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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
