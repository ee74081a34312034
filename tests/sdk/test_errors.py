"""Every failure is a typed SDK error: the transport edge and the node's error answers."""

from __future__ import annotations

import httpx
import pytest

from alephnet.sdk import (
    AlephClient,
    AuthenticatedAlephClient,
    FunctionTransport,
    InsufficientBalance,
    InvalidContent,
    InvalidResponse,
    MessageRejected,
    NodeUnreachable,
    NotFound,
    RequestTimeout,
    ResponseError,
    generate_account,
)
from tests.servers import unused_loopback_url

HASH = "a" * 64


async def test_an_unreachable_node_is_named_in_the_error() -> None:
    url = unused_loopback_url()
    async with AlephClient(url) as client:
        with pytest.raises(NodeUnreachable, match=f"{url}/api/v0/messages/{HASH}") as caught:
            await client.get_message(HASH)
    assert caught.value.url.startswith(url)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_timeout_is_a_request_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with AlephClient(transport=FunctionTransport(handler)) as client:
        with pytest.raises(RequestTimeout):
            await client.get_balance("0xabc")


def answering(status: int, body: object = None, text: str | None = None) -> FunctionTransport:
    def handler(_request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body)

    return FunctionTransport(handler)


async def test_404_is_not_found() -> None:
    async with AlephClient(transport=answering(404, {"error": "no such thing"})) as client:
        with pytest.raises(NotFound, match="no such thing"):
            await client.get_message(HASH)


async def test_a_body_that_is_not_json_is_an_invalid_response() -> None:
    async with AlephClient(transport=answering(200, text="<html>")) as client:
        with pytest.raises(InvalidResponse):
            await client.get_balance("0xabc")


async def test_a_body_of_the_wrong_shape_is_an_invalid_response() -> None:
    async with AlephClient(transport=answering(200, {"unexpected": 1})) as client:
        with pytest.raises(InvalidResponse):
            await client.get_messages()


async def test_a_server_error_keeps_its_status() -> None:
    async with AlephClient(transport=answering(500, {"error": "boom"})) as client:
        with pytest.raises(ResponseError, match="boom") as caught:
            await client.get_balance("0xabc")
    assert caught.value.status_code == 500


async def test_a_422_on_submission_is_message_rejected_with_its_code() -> None:
    transport = answering(422, {"error_code": 2, "details": {"errors": ["not allowed"]}})
    async with AuthenticatedAlephClient(generate_account(), transport=transport) as client:
        with pytest.raises(MessageRejected) as caught:
            await client.create_post({"a": 1}, "note")
    assert caught.value.error_code == 2
    assert caught.value.details == {"errors": ["not allowed"]}
    assert caught.value.item_hash is not None


async def test_error_code_5_says_how_much_is_missing() -> None:
    details = {"errors": [{"required_balance": 200, "account_balance": 3.5}]}
    transport = answering(422, {"error_code": 5, "details": details})
    async with AuthenticatedAlephClient(generate_account(), transport=transport) as client:
        with pytest.raises(InsufficientBalance) as caught:
            await client.create_aggregate("k", {"v": 1})
    assert (caught.value.required, caught.value.available) == (200.0, 3.5)


async def test_unknown_filters_are_refused() -> None:
    async with AlephClient(transport=answering(200, {})) as client:
        with pytest.raises(TypeError, match="unknown filter"):
            await client.get_messages(colour=["red"])  # type: ignore[call-arg]


async def test_a_client_is_opened_once() -> None:
    client = AlephClient(transport=answering(200, {}))
    async with client:
        pass
    with pytest.raises(RuntimeError, match="opened once"):
        await client.__aenter__()


async def test_content_that_breaks_the_schema_is_a_typed_error(
    writer: AuthenticatedAlephClient,
) -> None:
    """Aggregate keys to forget must be hash-shaped (the reference's rule): nothing is sent."""
    with pytest.raises(InvalidContent, match=r"invalid FORGET content: aggregates\.0"):
        await writer.forget([], aggregates=["profile"])
    with pytest.raises(InvalidContent, match="invalid POST content"):
        await writer.create_post({"a": 1}, "amend")
