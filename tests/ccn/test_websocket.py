"""`/api/ws0/messages`: history, then the live stream, filtered; limits and slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from alephnet.ccn.api.message_params import ContentFormat
from alephnet.ccn.api.websocket import relay_live
from alephnet.ccn.message_filters import MessageFilters
from alephnet.ccn.pipeline import events
from alephnet.ccn.pipeline.events import MessageEvents, ProcessingResult
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner, MessageStatus
from tests.ccn.conftest import post_message, publish
from tests.ccn.websocket_client import AsgiWebSocket, WebSocketClosed, running_app

STREAM = "/api/ws0/messages"


@pytest.fixture
async def app(settings: CcnSettings) -> AsyncIterator[ASGIApp]:
    async with running_app(settings) as app:
        yield app


@pytest.fixture
async def http(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ccn.test") as client:
        yield client


async def published(http: httpx.AsyncClient, message: dict[str, Any]) -> str:
    response = await publish(http, message)
    assert response.status_code == 200, response.text
    return str(message["item_hash"])


async def test_history_oldest_first_then_live(
    app: ASGIApp, http: httpx.AsyncClient, signer: EvmSigner
) -> None:
    _first, second, third = [await published(http, post_message(signer)) for _ in range(3)]
    async with AsgiWebSocket(app, STREAM, history=2) as socket:
        assert (await socket.receive_json())["item_hash"] == second
        assert (await socket.receive_json())["item_hash"] == third
        fourth = await published(http, post_message(signer, {"n": 4}))
        live = await socket.receive_json()
        assert live["item_hash"] == fourth
        assert live["content"]["content"] == {"n": 4}
        assert set(live) >= {"signature", "item_content", "confirmed", "confirmations"}
        await socket.assert_silent()


async def test_live_messages_are_filtered(
    app: ASGIApp, http: httpx.AsyncClient, signer: EvmSigner
) -> None:
    async with AsgiWebSocket(
        app, STREAM, history=0, contentTypes="wanted", contentFormat="headers"
    ) as socket:
        await published(http, post_message(signer, post_type="unwanted"))
        wanted = await published(http, post_message(signer, post_type="wanted"))
        live = await socket.receive_json()
        assert live["item_hash"] == wanted
        assert live["content"] == {"address": signer.address, "type": "wanted", "ref": None}
        await socket.assert_silent()


async def test_history_is_filtered_and_empty_history_sends_nothing(
    app: ASGIApp, http: httpx.AsyncClient, signer: EvmSigner
) -> None:
    await published(http, post_message(signer, post_type="a"))
    wanted = await published(http, post_message(signer, post_type="b"))
    async with AsgiWebSocket(app, STREAM, contentTypes="b") as socket:
        assert (await socket.receive_json())["item_hash"] == wanted
        await socket.assert_silent()
    async with AsgiWebSocket(app, STREAM, history=0) as socket:
        await socket.assert_silent()


@pytest.mark.parametrize("params", [{"history": 200}, {"history": -1}, {"msgTypes": "NOPE"}])
async def test_bad_parameters_close_before_accepting(app: ASGIApp, params: dict[str, Any]) -> None:
    with pytest.raises(WebSocketClosed) as closed:
        async with AsgiWebSocket(app, STREAM, **params):
            pass
    assert closed.value.code == 1008


async def test_connections_over_the_limit_are_told_to_come_back(settings: CcnSettings) -> None:
    async with running_app(settings.model_copy(update={"max_message_websockets": 1})) as app:
        async with AsgiWebSocket(app, STREAM, history=0) as first:
            async with AsgiWebSocket(app, STREAM, history=0) as second:
                with pytest.raises(WebSocketClosed) as closed:
                    await second.receive_json()
            assert (closed.value.code, closed.value.reason) == (1013, "Too many connections")
            await first.assert_silent()
        async with AsgiWebSocket(app, STREAM, history=0) as again:
            await again.assert_silent()


async def test_a_client_that_falls_behind_is_closed_with_1013(
    app: ASGIApp, http: httpx.AsyncClient, signer: EvmSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages processed in one batch are published at once: a queue of one overflows."""
    monkeypatch.setattr(events, "SUBSCRIBER_QUEUE_SIZE", 1)
    async with AsgiWebSocket(app, STREAM, history=0) as socket:
        messages = [post_message(signer, {"n": n}) for n in range(5)]
        await asyncio.gather(*(publish(http, message, sync=False) for message in messages))
        closed = await socket.until_closed()
        assert closed.code == 1013


def processed(item_hash: str, channel: str = "TEST") -> ProcessingResult:
    message = {"item_hash": item_hash, "type": "POST", "channel": channel, "content": {}}
    return ProcessingResult(item_hash, MessageStatus.PROCESSED, message=message)


async def test_relay_skips_what_was_sent_and_what_does_not_match() -> None:
    sent: list[dict[str, Any]] = []
    node_events = MessageEvents()
    async with node_events.subscribe() as subscription:
        for result in (
            processed("old"),
            processed("elsewhere", channel="OTHER"),
            ProcessingResult("bad", MessageStatus.REJECTED, error_code=1),
            processed("new"),
        ):
            node_events.publish(result)
        filters = MessageFilters(channels=frozenset({"TEST"}))
        relay = asyncio.create_task(
            relay_live(subscription, filters, ContentFormat.FULL, {"old"}, _append_to(sent))
        )
        await asyncio.sleep(0.05)
        relay.cancel()
    assert [message["item_hash"] for message in sent] == ["new"]


async def test_relay_stops_once_events_were_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "SUBSCRIBER_QUEUE_SIZE", 1)
    sent: list[dict[str, Any]] = []
    node_events = MessageEvents()
    async with node_events.subscribe() as subscription:
        node_events.publish(processed("kept"))
        node_events.publish(processed("lost"))
        await asyncio.wait_for(
            relay_live(subscription, MessageFilters(), ContentFormat.FULL, set(), _append_to(sent)),
            timeout=1,
        )
    assert sent == []


def _append_to(sent: list[dict[str, Any]]) -> Any:
    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    return send
