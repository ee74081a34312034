"""watch_messages: live messages from the node's WebSocket, across reconnections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from alephnet.sdk import AuthenticatedAlephClient, MessageSocket, NodeUnreachable
from alephnet.sdk._watch import watch
from tests.ccn.websocket_client import AsgiWebSocket


def frame(item_hash: str) -> str:
    return json.dumps(
        {"chain": "ETH", "sender": "0x1", "type": "POST", "item_hash": item_hash,
         "item_type": "inline", "time": 1.0}
    )  # fmt: skip


class ScriptedSocket:
    def __init__(self, frames: list[str]) -> None:
        self._frames = frames

    async def recv(self) -> str:
        if not self._frames:
            raise NodeUnreachable("ws://node", "the WebSocket was closed")
        return self._frames.pop(0)


async def test_a_dropped_connection_resumes_without_duplicates() -> None:
    connections = [["a", "b"], ["b", "c"]]
    urls: list[str] = []

    @asynccontextmanager
    async def connector(url: str) -> AsyncIterator[MessageSocket]:
        urls.append(url)
        yield ScriptedSocket([frame(h) for h in connections.pop(0)] if connections else [])

    stream = watch(connector, "ws://node/api/ws0/messages", {"channels": "X"}, reconnect_delay=0)
    received = [(await anext(stream)).item_hash for _ in range(3)]
    await stream.aclose()
    assert received == ["a", "b", "c"]
    queries = [parse_qs(urlsplit(url).query) for url in urls]
    assert queries[0] == {"channels": ["X"], "history": ["0"]}
    assert queries[1]["history"] == ["199"]


async def test_watch_gives_up_after_consecutive_failures() -> None:
    attempts = 0

    @asynccontextmanager
    async def connector(url: str) -> AsyncIterator[MessageSocket]:
        nonlocal attempts
        attempts += 1
        raise NodeUnreachable(url)
        yield ScriptedSocket([])  # pragma: no cover

    stream = watch(connector, "ws://node", {}, reconnect_delay=0, max_reconnects=2)
    with pytest.raises(NodeUnreachable):
        await anext(stream)
    assert attempts == 3


class AsgiSocket:
    def __init__(self, websocket: AsgiWebSocket) -> None:
        self._websocket = websocket

    async def recv(self) -> str:
        return json.dumps(await self._websocket.receive_json())


def asgi_connector(app: Any) -> Any:
    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[MessageSocket]:
        parts = urlsplit(url)
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        async with AsgiWebSocket(app, parts.path, **params) as websocket:
            yield AsgiSocket(websocket)

    return connect


async def test_watch_an_in_process_node(app: object, writer: AuthenticatedAlephClient) -> None:
    writer.websocket_connector = asgi_connector(app)
    stream = writer.watch_messages(channels=["LIVE"])
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.2)  # the subscription is open before the message is sent
    published = await writer.create_post({"live": True}, "note", channel="LIVE")
    message = await asyncio.wait_for(first, 10)
    assert message.item_hash == published.item_hash
    await stream.aclose()
