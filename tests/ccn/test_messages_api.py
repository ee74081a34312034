"""Submitting and reading messages over the HTTP API."""

from __future__ import annotations

import json

import httpx

from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message, publish, wait_for_status
from tests.conftest import load_vector


async def test_sync_post_is_processed(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    message = post_message(signer)
    response = await publish(client, message)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "publication_status": {"status": "success", "failed": []},
        "message_status": "processed",
    }
    body = (await client.get(f"/api/v0/messages/{message['item_hash']}")).json()
    assert body["status"] == "processed"
    assert body["message"]["item_content"] == message["item_content"]
    assert body["message"]["content"]["content"] == {"text": "hello"}


async def test_async_post_is_accepted_then_processed(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    message = post_message(signer)
    response = await publish(client, message, sync=False)
    assert response.status_code in (200, 202)
    await wait_for_status(client, message["item_hash"], "processed")


async def test_same_message_twice_is_not_an_error(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    message = post_message(signer)
    assert (await publish(client, message)).status_code == 200
    again = await publish(client, message)
    assert again.status_code == 200
    assert again.json()["message_status"] == "processed"


async def test_bad_signature_is_rejected_with_its_code(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    message = post_message(signer)
    message["signature"] = post_message(EvmSigner(bytes(32 * [7])))["signature"]
    response = await publish(client, message)
    assert response.status_code == 422
    body = (await client.get(f"/api/v0/messages/{message['item_hash']}")).json()
    assert body["status"] == "rejected"
    assert body["error_code"] == 1


async def test_invalid_format_is_refused_at_once(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    message = post_message(signer)
    message["item_hash"] = "0" * 64
    response = await publish(client, message)
    assert response.status_code == 422
    assert "does not match" in response.json()["error"]
    status = await client.get(f"/api/v0/messages/{'0' * 64}")
    assert status.status_code == 404


async def test_pyaleph_post_vectors_amend(client: httpx.AsyncClient) -> None:
    original, amend = load_vector("pyaleph/test-data-posts.json")
    assert (await publish(client, original)).status_code == 200
    assert (await publish(client, amend)).status_code == 200
    content = await client.get(f"/api/v0/messages/{amend['item_hash']}/content")
    assert content.status_code == 200


async def test_amend_before_its_original_waits_for_it(client: httpx.AsyncClient) -> None:
    original, amend = load_vector("pyaleph/test-data-posts.json")
    assert (await publish(client, amend, sync=False)).status_code == 202
    assert (await publish(client, original)).status_code == 200
    await wait_for_status(client, amend["item_hash"], "processed", timeout=15)


async def test_unknown_and_malformed_hashes(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/api/v0/messages/{'a' * 64}")).status_code == 404
    assert (await client.get("/api/v0/messages/not-a-hash")).status_code == 400
    assert (await client.get(f"/api/v0/messages/{'a' * 64}/status")).status_code == 404


async def test_requests_off_the_fast_path_get_the_same_answers(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    """A charset in the content type, `sync` as a string or a query string take FastAPI's
    validated path instead of the plain one: same statuses, same bodies."""
    plain, charset, lax = (post_message(signer, {"n": n}) for n in range(3))
    expected = {
        "publication_status": {"status": "success", "failed": []},
        "message_status": "processed",
    }
    answers = [
        await publish(client, plain),
        await client.post(
            "/api/v0/messages",
            content=json.dumps({"message": charset, "sync": True}),
            headers={"content-type": "application/json; charset=utf-8"},
        ),
        await client.post("/api/v0/messages?x=1", json={"message": lax, "sync": "true"}),
    ]
    for answer in answers:
        assert (answer.status_code, answer.json()) == (200, expected), answer.text
    not_an_object = await client.post("/api/v0/messages", json={"message": [1], "sync": True})
    assert not_an_object.status_code == 422


async def test_an_invalid_envelope_on_the_fast_path_gets_the_standard_refusal(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    """A plain request whose message fails validation is handed on to FastAPI with its body:
    the usual 422 with an error code, counted once in the metrics."""
    message = post_message(signer)
    message["item_hash"] = "not a hash"
    response = await publish(client, message, sync=False)
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == 0, body  # INVALID_FORMAT
    assert "item_hash" in body["error"]
    metrics = (await client.get("/metrics.json")).json()["alephnet_http_requests_total"]
    counted = [
        entry["value"]
        for entry in metrics
        if (entry["method"], entry["route"], entry["status"]) == ("POST", "/api/v0/messages", "422")
    ]
    assert counted == [1.0]


async def test_malformed_json_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v0/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]


async def test_oversize_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v0/messages",
        content=b"x" * (3 << 20),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_nul_in_an_envelope_field_is_refused(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    message = post_message(signer)
    message["channel"] = "a\u0000b"
    response = await publish(client, message)
    assert response.status_code == 422
    assert "NUL" in response.json()["error"]


async def test_long_post_type_and_ref_are_stored(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    """Free-text fields have no length limit in the protocol, so none in the database."""
    message = post_message(signer, post_type="t" * 1000, ref="r" * 1000)
    response = await publish(client, message)
    assert response.status_code == 200, response.text
    follower = await publish(client, post_message(signer))
    assert follower.status_code == 200
