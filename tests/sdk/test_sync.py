"""The blocking facade drives the async client: calls, iterators, and closing."""

from __future__ import annotations

import httpx
import pytest

from alephnet.sdk import FunctionTransport, NotFound, SyncAlephClient

MESSAGE = {"chain": "ETH", "sender": "0x1", "type": "POST", "item_type": "inline", "time": 1.0}


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/balance"):
        return httpx.Response(200, json={"address": "0x1", "balance": 7})
    if request.url.path == "/api/v0/messages.json":
        cursor = request.url.params["cursor"]
        return httpx.Response(
            200,
            json={
                "messages": [MESSAGE | {"item_hash": f"h{cursor or 0}"}],
                "pagination_per_page": 1,
                "next_cursor": None if cursor == "2" else str(int(cursor or 0) + 1),
            },
        )
    return httpx.Response(404, json={"error": "nothing here"})


def test_calls_block_and_errors_stay_typed() -> None:
    with SyncAlephClient(transport=FunctionTransport(handler)) as client:
        assert client.get_balance("0x1").balance == 7
        with pytest.raises(NotFound):
            client.get_message("a" * 64)


def test_async_iterators_become_iterators() -> None:
    with SyncAlephClient(transport=FunctionTransport(handler)) as client:
        assert [message.item_hash for message in client.iter_messages()] == ["h0", "h1", "h2"]


def test_private_and_unknown_names_are_not_wrapped() -> None:
    with SyncAlephClient(transport=FunctionTransport(handler)) as client:
        with pytest.raises(AttributeError):
            client._get  # noqa: B018
        with pytest.raises(AttributeError):
            client.no_such_method  # noqa: B018
        assert client.api_url == "http://127.0.0.1:4024"
