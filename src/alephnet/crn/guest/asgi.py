"""Serving an ASGI app in the guest's own process: lifespan, and one call per request.

The app is imported in-process rather than run behind a server: no HTTP parsing, no extra
process, a faster cold start. A request is one `app(scope, receive, send)` call with the body
already complete; the response is collected and returned whole.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0

Message = dict[str, Any]


class LifespanError(Exception):
    """The app's lifespan startup failed or did not finish in time."""


@dataclass
class HttpResponse:
    status: int = 0
    headers: list[list[str]] = field(default_factory=list)
    body: bytes = b""


def latin1(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")


def http_scope(header_scope: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """An ASGI http scope from the REQUEST header's JSON scope (strings where ASGI has bytes)."""
    scope = dict(header_scope)
    scope.update(
        type="http",
        asgi={"version": "3.0", "spec_version": "2.3"},
        http_version=str(scope.get("http_version", "1.1")),
        method=str(scope.get("method", "GET")).upper(),
        scheme=str(scope.get("scheme", "http")),
        path=str(scope.get("path", "/")),
        root_path=str(scope.get("root_path", "")),
        query_string=latin1(scope.get("query_string", b"")),
        headers=[(latin1(name).lower(), latin1(value)) for name, value in scope.get("headers", [])],
        state=dict(state),
    )
    scope["raw_path"] = latin1(scope.get("raw_path", scope["path"]))
    for key in ("client", "server"):
        if isinstance(scope.get(key), list):
            scope[key] = tuple(scope[key])
    return scope


class AsgiProgram:
    def __init__(self, app: Any) -> None:
        self._app = app
        self._state: dict[str, Any] = {}
        self._lifespan: Lifespan | None = None

    async def start(self) -> None:
        lifespan = Lifespan(self._app, self._state)
        if await lifespan.startup(STARTUP_TIMEOUT):
            self._lifespan = lifespan

    async def handle(self, header_scope: dict[str, Any], body: bytes) -> HttpResponse:
        response = HttpResponse()
        chunks: list[bytes] = []
        request: Message = {"type": "http.request", "body": body, "more_body": False}
        responded = asyncio.Event()

        async def receive() -> Message:
            nonlocal request
            message, request = request, {}
            if message:
                return message
            await responded.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = int(message["status"])
                response.headers = [
                    [latin1(name).decode("latin-1"), latin1(value).decode("latin-1")]
                    for name, value in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    responded.set()

        try:
            await self._app(http_scope(header_scope, self._state), receive, send)
        finally:
            responded.set()
        if not response.status:
            raise RuntimeError("the app returned without sending a response")
        response.body = b"".join(chunks)
        return response

    async def stop(self) -> None:
        if self._lifespan is not None:
            await self._lifespan.shutdown(SHUTDOWN_TIMEOUT)


class Lifespan:
    """The ASGI lifespan conversation, run as one task for the life of the app.

    An app that raises before answering `lifespan.startup` does not support lifespan (as
    uvicorn's "auto" mode assumes); it is served without it.
    """

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self._app = app
        self._state = state
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self, timeout: float) -> bool:
        """True when the app ran its startup; False when it has no lifespan support."""
        self._task = asyncio.create_task(self._run(), name="asgi-lifespan")
        await self._inbox.put({"type": "lifespan.startup"})
        try:
            answer = await asyncio.wait_for(self._outbox.get(), timeout)
        except TimeoutError as error:
            self._task.cancel()
            raise LifespanError(f"lifespan startup took more than {timeout:g} s") from error
        if answer["type"] == "lifespan.startup.failed":
            raise LifespanError(f"lifespan startup failed: {answer.get('message', '')}")
        return bool(answer["type"] == "lifespan.startup.complete")

    async def shutdown(self, timeout: float) -> None:
        assert self._task is not None
        await self._inbox.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.get(), timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self._state}
        # Returning or raising without an answer both mean "no lifespan here"; Starlette
        # raises after sending `startup.failed`, which was already read.
        with contextlib.suppress(Exception):
            await self._app(scope, self._inbox.get, self._outbox.put)
        await self._outbox.put({"type": "lifespan.ended"})
