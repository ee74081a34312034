"""Following new messages over the node's WebSocket, across dropped connections.

On each reconnection the node is asked for its latest matching messages again (`history`), to
fill the gap while the client was away; hashes already delivered are skipped, so the caller
sees every message once. The memory of delivered hashes is bounded (`SEEN_LIMIT`, oldest
forgotten first): far more than one history replay can repeat.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol
from urllib.parse import urlencode

import websockets
from pydantic import ValidationError

from alephnet.sdk.exceptions import NodeUnreachable, TransportError
from alephnet.sdk.models import Message

WATCH_PATH = "/api/ws0/messages"
RESUME_HISTORY = 199
"""The most the node replays (its `history` maximum)."""
SEEN_LIMIT = 10_000
DEFAULT_RECONNECT_DELAY = 1.0
MAX_RECONNECT_DELAY = 30.0
DEFAULT_MAX_RECONNECTS = 10
"""Consecutive failed connections before giving up; a connection that delivers resets it."""


class MessageSocket(Protocol):
    async def recv(self) -> str | bytes:
        """The next frame; raises `TransportError` when the connection ends."""


Connector = Callable[[str], AbstractAsyncContextManager[MessageSocket]]
"""Opens a WebSocket to a full `ws://` URL (query included)."""


class _WebsocketsSocket:
    def __init__(self, connection: websockets.ClientConnection, url: str) -> None:
        self._connection = connection
        self._url = url

    async def recv(self) -> str | bytes:
        try:
            return await self._connection.recv()
        except websockets.ConnectionClosed as error:
            raise NodeUnreachable(self._url, "the WebSocket was closed") from error


@asynccontextmanager
async def connect_websocket(url: str) -> AsyncIterator[MessageSocket]:
    """The default connector, on the `websockets` package."""
    try:
        connection = await websockets.connect(url)
    except (OSError, websockets.InvalidHandshake, TimeoutError) as error:
        raise NodeUnreachable(url, f"cannot open the WebSocket ({error})") from error
    try:
        yield _WebsocketsSocket(connection, url)
    finally:
        await connection.close()


def websocket_url(api_url: str) -> str:
    scheme, _, rest = api_url.partition("://")
    return ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + WATCH_PATH


class SeenHashes:
    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        self._hashes: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, item_hash: str) -> bool:
        """Remember the hash; False when it was already there."""
        if item_hash in self._hashes:
            return False
        self._hashes[item_hash] = None
        if len(self._hashes) > self._limit:
            self._hashes.popitem(last=False)
        return True


async def watch(
    connector: Connector,
    base_url: str,
    params: Mapping[str, str | int | float],
    *,
    reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
) -> AsyncIterator[Message]:
    """Each new matching message, once; raise the last `TransportError` after `max_reconnects`
    consecutive connections that delivered nothing."""
    seen = SeenHashes()
    history = 0  # the first connection only wants what comes next
    failures = 0
    while True:
        url = f"{base_url}?{urlencode({**params, 'history': history})}"
        try:
            async with connector(url) as socket:
                while True:
                    message = _decode(await socket.recv())
                    failures = 0
                    if message is not None and seen.add(message.item_hash):
                        yield message
        except TransportError:
            failures += 1
            if failures > max_reconnects:
                raise
        history = RESUME_HISTORY
        await asyncio.sleep(min(reconnect_delay * 2 ** max(failures - 1, 0), MAX_RECONNECT_DELAY))


def _decode(frame: str | bytes) -> Message | None:
    """A message, or None for frames that are not one (the reference's "close cmd" text)."""
    try:
        return Message.model_validate(json.loads(frame))
    except (ValueError, ValidationError):
        return None
