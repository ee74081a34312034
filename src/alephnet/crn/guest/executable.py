"""Serving an executable program: a child process that listens on a local port.

Each request is replayed to `127.0.0.1:<port>` over HTTP/1.1. Right after start the program
is usually still booting, so refused connections are retried with a growing pause until
`BOOT_TIMEOUT`; after that the caller gets a 503. `http.client` (blocking) runs in a thread
pool of its own: the standard library has no asyncio HTTP client, and one thread per request
in flight is cheap next to the program behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alephnet.crn.guest.asgi import HttpResponse

BOOT_TIMEOUT = 30.0
REQUEST_TIMEOUT = 300.0
TERMINATE_TIMEOUT = 10.0
# Headers that describe the hop, not the content; http.client sets its own. The client's
# `Host` is passed on: programs build links from it.
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class ExecutableProgram:
    def __init__(self, command: list[str], cwd: Path, port: int) -> None:
        self._command = command
        self._cwd = cwd
        self._port = port
        self._process: asyncio.subprocess.Process | None = None
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="proxy")
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None

    async def start(self, on_exit: Callable[[int], None]) -> None:
        """Start the process (its output goes to the guest's captured fds 1 and 2)."""
        self._process = await asyncio.create_subprocess_exec(
            *self._command, cwd=self._cwd, start_new_session=True
        )
        self._watcher = asyncio.create_task(self._watch(on_exit), name="executable-watch")

    async def _watch(self, on_exit: Callable[[int], None]) -> None:
        assert self._process is not None
        code = await self._process.wait()
        if not self._stopping:
            on_exit(code)

    async def handle(self, scope: dict[str, Any], body: bytes) -> HttpResponse:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + BOOT_TIMEOUT
        attempt = 0
        while True:
            try:
                return await loop.run_in_executor(self._pool, self._forward, scope, body)
            except ConnectionRefusedError:
                attempt += 1
                if time.monotonic() > deadline:
                    return HttpResponse(503, [["content-type", "text/plain"]], b"booting\n")
                await asyncio.sleep(min(0.05 * attempt, 0.5))

    def _forward(self, scope: dict[str, Any], body: bytes) -> HttpResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=REQUEST_TIMEOUT)
        try:
            headers = without_hop_headers(scope.get("headers", []))
            connection.putrequest(
                str(scope.get("method", "GET")),
                request_target(scope),
                skip_host=any(name.lower() == "host" for name, _ in headers),
                skip_accept_encoding=True,
            )
            for name, value in headers:
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            content = answer.read()
            headers = [[name, value] for name, value in answer.getheaders()]
            return HttpResponse(answer.status, without_hop_headers(headers), content)
        finally:
            connection.close()

    async def stop(self) -> None:
        """SIGTERM the program's process group, SIGKILL it after `TERMINATE_TIMEOUT`."""
        self._stopping = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._process is None or self._process.returncode is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._process.wait(), TERMINATE_TIMEOUT)
        except TimeoutError:
            self._signal_group(signal.SIGKILL)
            await self._process.wait()

    def _signal_group(self, signum: int) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signum)


def request_target(scope: dict[str, Any]) -> str:
    """The path as the client sent it (`raw_path`), else the decoded path quoted again."""
    path = scope.get("raw_path") or quote(str(scope.get("path", "/")), safe="/%:@!$&'()*+,;=~")
    query = scope.get("query_string") or ""
    return str(path) + (f"?{query}" if query else "")


def without_hop_headers(headers: list[list[str]]) -> list[list[str]]:
    return [[str(name), str(value)] for name, value in headers if str(name).lower() not in HOP]
