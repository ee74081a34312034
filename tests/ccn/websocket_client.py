"""A WebSocket client that speaks ASGI to an app in the test's own event loop.

Starlette's TestClient runs the app in a thread with a loop of its own (and warns about its
httpx use); this client needs neither, and every wait has a timeout, so a broken stream fails a
test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Message

from alephnet.ccn.api.app import create_app
from alephnet.ccn.settings import CcnSettings

TIMEOUT = 10.0


@asynccontextmanager
async def running_app(settings: CcnSettings) -> AsyncIterator[ASGIApp]:
    """A node's app, started: what both HTTP and WebSocket clients of a test talk to."""
    async with LifespanManager(create_app(settings)) as manager:
        yield manager.app


class WebSocketClosed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class AsgiWebSocket:
    def __init__(self, app: ASGIApp, path: str, **params: Any) -> None:
        self._app = app
        self._scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "server": ("ccn.test", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": urlencode(params).encode(),
            "headers": [(b"host", b"ccn.test")],
            "subprotocols": [],
        }
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiWebSocket:
        self._task = asyncio.create_task(
            self._app(self._scope, self._to_app.get, self._from_app.put)
        )
        await self._to_app.put({"type": "websocket.connect"})
        first = await self._next()
        if first["type"] == "websocket.close":
            raise WebSocketClosed(first.get("code", 1000), first.get("reason", ""))
        assert first["type"] == "websocket.accept", first
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        await asyncio.wait_for(self._task, TIMEOUT)

    async def receive_json(self, timeout: float = TIMEOUT) -> Any:
        message = await self._next(timeout)
        if message["type"] == "websocket.close":
            raise WebSocketClosed(message.get("code", 1000), message.get("reason", ""))
        return json.loads(message["text"])

    async def until_closed(self) -> WebSocketClosed:
        """Read (and drop) frames until the server closes the connection."""
        while True:
            message = await self._next()
            if message["type"] == "websocket.close":
                return WebSocketClosed(message.get("code", 1000), message.get("reason", ""))

    async def assert_silent(self, seconds: float = 0.3) -> None:
        """Nothing arrives for a while (what a filtered-out message looks like)."""
        try:
            message = await asyncio.wait_for(self._from_app.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {message}")

    async def _next(self, timeout: float = TIMEOUT) -> Message:
        return await asyncio.wait_for(self._from_app.get(), timeout)
