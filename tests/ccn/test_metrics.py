"""`/metrics` and `/metrics.json`: build, pipeline, HTTP and WebSocket figures."""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from alephnet import __version__
from alephnet.ccn.api.metrics import samples_as_json
from alephnet.ccn.api.telemetry import ApiTelemetry
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message, publish
from tests.ccn.websocket_client import AsgiWebSocket, running_app


async def metrics(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/metrics.json")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def requests_to(body: dict[str, Any], route: str, status: str) -> float:
    series = body.get("alephnet_http_requests_total", [])
    return sum(
        entry["value"] for entry in series if (entry["route"], entry["status"]) == (route, status)
    )


async def test_prometheus_text(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    assert (await publish(client, post_message(signer))).status_code == 200
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    build = (
        f'alephnet_build_info{{python_version="{platform.python_version()}",'
        f'version="{__version__}"}} 1.0'
    )
    assert build in text
    assert "alephnet_messages_processed_total 1.0" in text
    assert "alephnet_messages_rejected_total 0.0" in text
    assert "alephnet_pending_messages 0.0" in text
    assert "# TYPE alephnet_http_requests_total counter" in text
    assert "alephnet_websocket_connections 0.0" in text


async def test_json_counts_requests_by_route_template_and_status(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    message = post_message(signer)
    message["signature"] = post_message(EvmSigner(bytes(32 * [7])))["signature"]
    assert (await publish(client, message)).status_code == 422
    for item_hash in ("a" * 64, "b" * 64):
        assert (await client.get(f"/api/v0/messages/{item_hash}")).status_code == 404
    assert (await client.get("/no/such/route")).status_code == 404
    body = await metrics(client)
    assert body["alephnet_messages_rejected_total"] == 1
    assert body["alephnet_messages_processed_total"] == 0
    assert requests_to(body, "/api/v0/messages", "422") == 1
    assert requests_to(body, "/api/v0/messages/{item_hash}", "404") == 2
    assert requests_to(body, "unmatched", "404") == 1
    assert body["alephnet_build_info"] == [
        {"python_version": platform.python_version(), "version": __version__, "value": 1}
    ]
    assert not any(name.endswith("_created") for name in body)


@pytest.fixture
async def app(settings: CcnSettings) -> AsyncIterator[ASGIApp]:
    async with running_app(settings) as app:
        yield app


async def test_open_websockets_are_counted(app: ASGIApp) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ccn.test") as http:
        async with AsgiWebSocket(app, "/api/ws0/messages", history=0):
            assert (await metrics(http))["alephnet_websocket_connections"] == 1
        assert (await metrics(http))["alephnet_websocket_connections"] == 0


def test_each_app_has_its_own_registry() -> None:
    """Two apps in one process (as in the tests) neither share nor refuse metrics."""
    first, second = ApiTelemetry(), ApiTelemetry()
    first.count_request("GET", "/x", 200)
    assert requests_to(samples_as_json(first.registry), "/x", "200") == 1
    assert requests_to(samples_as_json(second.registry), "/x", "200") == 0
