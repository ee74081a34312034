"""`/api/ws0/messages`: recent messages, then every message processed from now on.

A client first gets the `history` most recent matching messages, oldest first, then each newly
processed message that matches its filters (the query parameters of `messages.json`, without
paging or statuses), one JSON text frame per message. The subscription to new messages is taken
before the history is read, so nothing processed in between is missed; a message found in both
is sent once.

Each client has a bounded queue (`pipeline/events.py`). Rather than buffer without limit for a
client too slow to keep up, the node closes it with 1013 (try again later) once its queue has
overflowed: it has lost messages, and can reconnect with a `history` to catch up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from alephnet.ccn.api.deps import NodeDep
from alephnet.ccn.api.message_params import (
    ContentFormat,
    ContentFormatDep,
    MessageFiltersDep,
    shape_content,
)
from alephnet.ccn.api.telemetry import TelemetryDep
from alephnet.ccn.db.accessors.message_queries import list_messages
from alephnet.ccn.message_filters import MessageFilters, matches
from alephnet.ccn.node import Node
from alephnet.ccn.pipeline.events import Subscription
from alephnet.ccn.serialization import message_to_dict

router = APIRouter(tags=["messages"])

TRY_AGAIN_LATER = 1013
MAX_HISTORY = 199

SendMessage = Callable[[dict[str, Any]], Awaitable[None]]


@router.websocket("/api/ws0/messages")
async def message_stream(
    websocket: WebSocket,
    node: NodeDep,
    telemetry: TelemetryDep,
    filters: MessageFiltersDep,
    content: ContentFormatDep,
    history: Annotated[int, Query(ge=0, le=MAX_HISTORY)] = 10,
) -> None:
    await websocket.accept()
    if telemetry.open_websockets >= node.settings.max_message_websockets:
        await websocket.close(TRY_AGAIN_LATER, "Too many connections")
        return
    with telemetry.websocket_open():
        try:
            async with node.events.subscribe() as subscription:
                sent = await _send_history(websocket, node, filters, content, history)
                fell_behind = await _serve_until_closed(
                    websocket, subscription, filters, content, sent
                )
            if fell_behind:
                await websocket.close(TRY_AGAIN_LATER, "Too slow: messages were lost")
        except WebSocketDisconnect:
            return


async def relay_live(
    subscription: Subscription,
    filters: MessageFilters,
    content: ContentFormat,
    already_sent: set[str],
    send: SendMessage,
) -> None:
    """Send every newly processed message that matches; return once the subscription has
    overflowed (events were lost, and the client must be told)."""
    while not subscription.overflowed:
        result = await subscription.queue.get()
        message = result.message
        if message is None or result.item_hash in already_sent or not matches(filters, message):
            continue
        await send(shape_content(message, content))


async def _send_history(
    websocket: WebSocket, node: Node, filters: MessageFilters, content: ContentFormat, count: int
) -> set[str]:
    """Send the `count` most recent matching messages, oldest first; return their hashes.
    The session is closed before streaming: a connection may stay open for days."""
    if count == 0:
        return set()
    async with node.sessions() as session:
        rows = await list_messages(session, filters, descending=True, per_page=count)
    messages = [message_to_dict(row) for row in reversed(rows)]
    for message in messages:
        await websocket.send_json(shape_content(message, content))
    return {message["item_hash"] for message in messages}


async def _serve_until_closed(
    websocket: WebSocket,
    subscription: Subscription,
    filters: MessageFilters,
    content: ContentFormat,
    already_sent: set[str],
) -> bool:
    """Relay messages until the client leaves (False) or falls behind (True). The client's own
    frames are read and ignored: reading is how a departure is noticed."""
    relay = asyncio.create_task(
        relay_live(subscription, filters, content, already_sent, websocket.send_json)
    )
    departure = asyncio.create_task(_until_disconnected(websocket))
    try:
        done, _ = await asyncio.wait({relay, departure}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relay, departure):
            task.cancel()
        await asyncio.gather(relay, departure, return_exceptions=True)
    if relay not in done:
        return False
    relay.result()
    return True


async def _until_disconnected(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
