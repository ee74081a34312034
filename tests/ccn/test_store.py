"""STORE processing: waiting for the file, versions through refs and tags, forgetting, and the
garbage collector that deletes what nothing keeps (driven one pass at a time, on a fake clock)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage.gc import CollectionReport, GarbageCollector
from alephnet.protocol import EvmSigner, ItemType, MessageType, build_message
from alephnet.protocol.content import ForgetContent
from tests.ccn.conftest import publish, wait_for_status
from tests.ccn.storage_helpers import node_files, sha256_hex, store_message, upload

DAY = 24 * 3600.0
HELLO_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
OTHER_KEY = bytes(32 * [9])


@pytest.fixture
def settings(settings: CcnSettings) -> CcnSettings:
    """Quick retries, so that a STORE waiting for its file is tried again within the test, and
    many of them, so that it is still waiting when the test looks."""
    return settings.model_copy(update={"retry_cap_seconds": 0.2, "max_retries": 1000})


async def status_of(client: httpx.AsyncClient, item_hash: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/v0/messages/{item_hash}")).json()
    return body


async def stored(
    client: httpx.AsyncClient, signer: EvmSigner, data: bytes, **fields: Any
) -> dict[str, Any]:
    """Upload `data` with a signed STORE; the message, as sent."""
    message = store_message(signer, sha256_hex(data), **fields)
    response = await upload(client, data, message)
    assert response.status_code in (200, 422), response.text
    return message


async def collect(settings: CcnSettings, at: float) -> CollectionReport:
    """One garbage collection pass as if the clock showed `at`."""
    async with node_files(settings) as (sessions, store):
        collector = GarbageCollector(sessions, store, interval=3600, clock=lambda: at)
        return await collector.collect_once()


# --- the file ------------------------------------------------------------------------------


async def test_store_waits_for_its_file(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    data = b"uploaded after its message"
    message = store_message(signer, sha256_hex(data))
    assert (await publish(client, message, sync=False)).status_code == 202
    await asyncio.sleep(0.5)
    assert (await status_of(client, message["item_hash"]))["status"] == "pending"

    assert (await client.post("/api/v0/storage/add_file", content=data)).status_code == 200
    await wait_for_status(client, message["item_hash"], "processed")
    pins = await client.get(f"/api/v0/storage/count/{sha256_hex(data)}")
    assert pins.json() == 2, "the upload's grace pin and the STORE's pin"


async def test_file_hash_must_match_the_engine(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    for message in (
        store_message(signer, HELLO_CID, item_type=ItemType.STORAGE),
        store_message(signer, sha256_hex(b"x"), item_type=ItemType.IPFS),
    ):
        assert (await publish(client, message)).status_code == 422
        assert (await status_of(client, message["item_hash"]))["error_code"] == 0


async def test_a_ref_must_fit_its_column(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    message = await stored(client, signer, b"long ref", ref="r" * 257)
    assert (await status_of(client, message["item_hash"]))["error_code"] == 0


# --- refs and tags -------------------------------------------------------------------------


async def test_owner_updates_a_file_and_the_tag_follows_the_newest(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    original = await stored(client, signer, b"version 1", content_time=1000.0)
    ref = original["item_hash"]
    await stored(client, signer, b"version 3", ref=ref, content_time=3000.0)
    older = await stored(client, signer, b"version 2", ref=ref, content_time=2000.0)
    assert (await status_of(client, older["item_hash"]))["status"] == "processed"

    latest = (await client.get(f"/api/v0/storage/by-ref/{ref}")).json()
    assert latest["file_hash"] == sha256_hex(b"version 3")
    assert latest["owner"] == signer.address
    by_owner = await client.get(f"/api/v0/storage/by-ref/{signer.address}/{ref}")
    assert by_owner.json()["file_hash"] == sha256_hex(b"version 3")


async def test_free_text_refs_are_per_owner(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    other = EvmSigner(OTHER_KEY)
    await stored(client, signer, b"mine", ref="app-bundle")
    await stored(client, other, b"theirs", ref="app-bundle")
    mine = await client.get(f"/api/v0/storage/by-ref/{signer.address}/app-bundle")
    theirs = await client.get(f"/api/v0/storage/by-ref/{other.address}/app-bundle")
    assert mine.json()["file_hash"] == sha256_hex(b"mine")
    assert theirs.json()["file_hash"] == sha256_hex(b"theirs")


async def test_another_address_may_not_update_a_file(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    original = await stored(client, signer, b"owned")
    intruder = await stored(client, EvmSigner(OTHER_KEY), b"hijack", ref=original["item_hash"])
    body = await status_of(client, intruder["item_hash"])
    assert (body["status"], body["error_code"]) == ("rejected", 2)


async def test_a_ref_must_name_an_original(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    original = await stored(client, signer, b"v1")
    update = await stored(client, signer, b"v2", ref=original["item_hash"])
    update_of_update = await stored(client, signer, b"v3", ref=update["item_hash"])
    body = await status_of(client, update_of_update["item_hash"])
    assert (body["status"], body["error_code"]) == ("rejected", 201)


async def test_a_ref_to_an_unknown_store_waits(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    data = b"early update"
    assert (await client.post("/api/v0/storage/add_file", content=data)).status_code == 200
    waiting = store_message(signer, sha256_hex(data), ref="ab" * 32)
    assert (await publish(client, waiting, sync=False)).status_code == 202
    await asyncio.sleep(0.5)
    assert (await status_of(client, waiting["item_hash"]))["status"] == "pending"


# --- forgetting and garbage collection -----------------------------------------------------


def forget_message(signer: EvmSigner, *hashes: str) -> dict[str, Any]:
    content = ForgetContent(address=signer.address, time=time.time(), hashes=list(hashes))
    return build_message(signer, MessageType.FORGET, content, channel="TEST").message


async def test_forget_leaves_a_grace_period_then_the_collector_deletes_the_file(
    client: httpx.AsyncClient, signer: EvmSigner, settings: CcnSettings
) -> None:
    data = b"short-lived"
    file_hash = sha256_hex(data)
    message = await stored(client, signer, data)
    count_url = f"/api/v0/storage/count/{file_hash}"
    raw_url = f"/api/v0/storage/raw/{file_hash}"

    report = await collect(settings, at=time.time() + DAY + 3600)
    assert (report.expired_pins, report.deleted_files) == (1, 0), "the STORE still holds it"
    assert (await client.get(count_url)).json() == 1

    assert (await publish(client, forget_message(signer, message["item_hash"]))).status_code == 200
    assert (await status_of(client, message["item_hash"]))["status"] == "forgotten"
    assert (await client.get(count_url)).json() == 1, "the forget's grace pin"

    assert (await collect(settings, at=time.time() + 3600)).deleted_files == 0
    assert (await client.get(raw_url)).status_code == 200

    report = await collect(settings, at=time.time() + DAY + 3600)
    assert report == CollectionReport(expired_pins=1, deleted_files=1, freed_bytes=len(data))
    assert (await client.get(raw_url)).status_code == 404
    assert (await client.get(f"/api/v0/storage/metadata/{file_hash}")).status_code == 404


async def test_bytes_stay_while_another_name_holds_them(
    client: httpx.AsyncClient, signer: EvmSigner, settings: CcnSettings
) -> None:
    data = b"hello world\n"
    cid = HELLO_CID
    assert (await client.post("/api/v0/storage/add_file", content=data)).status_code == 200
    ipfs_store = store_message(signer, cid, item_type=ItemType.IPFS)
    assert (await upload(client, data, ipfs_store, engine="ipfs")).status_code == 200

    report = await collect(settings, at=time.time() + DAY + 3600)
    assert (report.deleted_files, report.freed_bytes) == (1, 0), (
        "the sha256 name goes, not the bytes"
    )
    assert (await client.get(f"/api/v0/storage/metadata/{sha256_hex(data)}")).status_code == 404
    assert (await client.get(f"/api/v0/storage/raw/{cid}")).content == data
