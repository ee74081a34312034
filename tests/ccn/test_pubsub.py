"""The legacy publication routes: a message as a JSON string on the node's topic."""

from __future__ import annotations

import json

import httpx
import pytest

from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message, wait_for_status

ROUTES = ["/api/v0/ipfs/pubsub/pub", "/api/v0/p2p/pubsub/pub"]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_message_on_the_topic_is_processed(
    client: httpx.AsyncClient, settings: CcnSettings, signer: EvmSigner, route: str
) -> None:
    message = post_message(signer)
    body = {"topic": settings.queue_topic, "data": json.dumps(message)}
    response = await client.post(route, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "failed": []}
    await wait_for_status(client, message["item_hash"], "processed")


async def test_another_topic_is_forbidden(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    body = {"topic": "SOMEWHERE-ELSE", "data": json.dumps(post_message(signer))}
    assert (await client.post(ROUTES[0], json=body)).status_code == 403


@pytest.mark.parametrize(
    "data",
    ["{not json", json.dumps(["a", "list"]), {"an": "object, not a string"}],
)
async def test_data_must_be_the_json_text_of_a_message_object(
    client: httpx.AsyncClient, settings: CcnSettings, data: object
) -> None:
    response = await client.post(ROUTES[1], json={"topic": settings.queue_topic, "data": data})
    assert response.status_code == 422, response.text


async def test_an_invalid_message_is_refused_like_on_post_messages(
    client: httpx.AsyncClient, settings: CcnSettings, signer: EvmSigner
) -> None:
    message = post_message(signer) | {"item_hash": "0" * 64}
    body = {"topic": settings.queue_topic, "data": json.dumps(message)}
    response = await client.post(ROUTES[0], json=body)
    assert response.status_code == 422
    assert "does not match" in response.json()["error"]
