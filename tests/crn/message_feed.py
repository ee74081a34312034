"""The CCN's `/api/ws0/messages` as a test double, served for real on loopback (the `websockets`
server), so that the CRN follows it with the SDK's own watcher: on each connection the latest
`history` published messages of the asked types, then each one published from then on.
`down()` stops it as a CCN restart would (connections dropped, port closed) until the block
ends."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve

FEED_PATH = "/api/ws0/messages"


def envelope(message_type: str, item_hash: str, content: dict[str, Any]) -> dict[str, Any]:
    """A message as the feed carries it (the SDK's `Message` needs the envelope fields)."""
    return {
        "chain": "ETH",
        "sender": content.get("address", ""),
        "type": message_type,
        "item_hash": item_hash,
        "item_type": "inline",
        "time": time.time(),
        "content": content,
    }


class MessageFeed:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.connections = 0
        self._listeners: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._server: Server | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """The CCN's URL (http), as the CRN's `ccn_url` names it."""
        return f"http://127.0.0.1:{self._port}"

    def publish(self, message: dict[str, Any]) -> None:
        self.published.append(message)
        for listener in self._listeners:
            listener.put_nowait(message)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        await self._start()
        try:
            yield self.url
        finally:
            await self._stop()

    @asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        await self._stop()
        try:
            yield
        finally:
            await self._start()

    async def _start(self) -> None:
        self._server = await serve(self._serve, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        for listener in self._listeners:
            listener.put_nowait(None)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        url = urlsplit(request.path)
        assert url.path == FEED_PATH, url.path
        query = parse_qs(url.query)
        types = set(",".join(query.get("msgTypes", [])).split(",")) - {""}
        history = int(query.get("history", ["10"])[0])
        self.connections += 1
        listener: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._listeners.add(listener)
        try:
            wanted = [m for m in self.published if not types or m["type"] in types]
            for message in wanted[len(wanted) - history :] if history else []:
                await connection.send(json.dumps(message))
            while (message := await listener.get()) is not None:
                if not types or message["type"] in types:
                    await connection.send(json.dumps(message))
        finally:
            self._listeners.discard(listener)
