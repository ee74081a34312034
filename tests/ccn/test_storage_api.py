"""The storage and IPFS routes: uploads (JSON, raw, multipart with a signed STORE), downloads
with byte ranges, and the metadata routes. Limits are small here so that 413s are cheap."""

from __future__ import annotations

import base64
import hashlib
import json
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest

from alephnet.ccn.settings import MIB, CcnSettings
from alephnet.protocol import EvmSigner, ItemType
from alephnet.protocol.cid import ipfs_cid_v0_of_chunks
from tests.ccn.conftest import publish, wait_for_status
from tests.ccn.storage_helpers import sha256_hex, store_message, upload

UNAUTHENTICATED_LIMIT = 4096
FILE_LIMIT = 16384
HELLO_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
"""`hello world\\n` as kubo's `ipfs add` names it (checked with `ipfs_cid`)."""


@pytest.fixture
def settings(settings: CcnSettings) -> CcnSettings:
    """Small storage limits; the IPFS limit stays large for the memory test."""
    return settings.model_copy(
        update={"max_unauthenticated_upload": UNAUTHENTICATED_LIMIT, "max_file_size": FILE_LIMIT}
    )


# --- add_json ------------------------------------------------------------------------------


async def test_add_json_then_store_then_download(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    document = b'{"b": 1, "a": [1.0, "\\u00e9"]}'
    added = await client.post(
        "/api/v0/storage/add_json", content=document, headers={"content-type": "application/json"}
    )
    assert added.status_code == 200, added.text
    file_hash = added.json()["hash"]
    assert added.json() == {"status": "success", "hash": sha256_hex(document)}

    store = store_message(signer, file_hash)
    assert (await publish(client, store)).status_code == 200
    raw = await client.get(f"/api/v0/storage/raw/{file_hash}")
    assert raw.status_code == 200
    assert raw.content == document
    assert raw.headers["accept-ranges"] == "bytes"


async def test_add_json_refuses_what_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v0/storage/add_json", content=b"{not json")
    assert response.status_code == 422


async def test_ipfs_add_json_answers_the_cid(client: httpx.AsyncClient) -> None:
    document = b'{"hello": "world"}'
    response = await client.post("/api/v0/ipfs/add_json", content=document)
    assert response.status_code == 200
    assert response.json() == {"status": "success", "hash": ipfs_cid_v0_of_chunks([document])}


# --- add_file ------------------------------------------------------------------------------


async def test_authenticated_upload_processes_the_store(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    data = b"some file content\n" * 100
    message = store_message(signer, sha256_hex(data))
    response = await upload(client, data, message)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "hash": sha256_hex(data)}
    body = (await client.get(f"/api/v0/messages/{message['item_hash']}")).json()
    assert body["status"] == "processed"
    assert body["message"]["content"]["item_hash"] == sha256_hex(data)
    assert (await client.get(f"/api/v0/storage/raw/{sha256_hex(data)}")).content == data


async def test_metadata_after_the_file_is_accepted(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    data = b"file first"
    message = store_message(signer, sha256_hex(data))
    response = await upload(client, data, message, metadata_first=False)
    assert response.status_code == 200, response.text
    await wait_for_status(client, message["item_hash"], "processed")


async def test_anonymous_raw_and_multipart_uploads(client: httpx.AsyncClient) -> None:
    raw = await client.post("/api/v0/storage/add_file", content=b"raw body")
    assert raw.json() == {"status": "success", "hash": sha256_hex(b"raw body")}
    form = await upload(client, b"form body")
    assert form.json() == {"status": "success", "hash": sha256_hex(b"form body")}
    count = await client.get(f"/api/v0/storage/count/{sha256_hex(b'form body')}")
    assert count.json() == 1, "an anonymous upload is kept by its grace pin"


@pytest.mark.parametrize("metadata_first", [True, False])
async def test_hash_mismatch_is_422_and_keeps_nothing(
    client: httpx.AsyncClient, signer: EvmSigner, metadata_first: bool
) -> None:
    message = store_message(signer, sha256_hex(b"announced"))
    response = await upload(client, b"something else", message, metadata_first=metadata_first)
    assert response.status_code == 422, response.text
    assert (
        await client.get(f"/api/v0/storage/raw/{sha256_hex(b'something else')}")
    ).status_code == 404
    assert (await client.get(f"/api/v0/messages/{message['item_hash']}")).status_code == 404


@pytest.mark.parametrize("metadata_first", [True, False])
async def test_bad_signature_is_403_and_keeps_nothing(
    client: httpx.AsyncClient, signer: EvmSigner, metadata_first: bool
) -> None:
    data = b"signed by someone else"
    message = store_message(signer, sha256_hex(data))
    message["signature"] = store_message(EvmSigner(bytes(32 * [7])), sha256_hex(data))["signature"]
    response = await upload(client, data, message, metadata_first=metadata_first)
    assert response.status_code == 403, response.text
    assert (await client.get(f"/api/v0/storage/raw/{sha256_hex(data)}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary at all",
        b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nunfinished',
        b"--xyz\r\nContent-Type: text/plain\r\n\r\nnameless\r\n--xyz--\r\n",
    ],
)
async def test_malformed_forms_are_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/api/v0/storage/add_file",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400, response.text


async def test_a_form_without_file_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v0/storage/add_file", files={"other": (None, b"x")})
    assert response.status_code == 422


async def test_metadata_must_be_a_store_of_this_engine(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    data = b"hello world\n"
    ipfs_store = store_message(signer, HELLO_CID, item_type=ItemType.IPFS)
    response = await upload(client, data, ipfs_store, engine="storage")
    assert response.status_code == 422


async def test_oversize_uploads_are_413(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    too_big_anonymous = b"a" * (UNAUTHENTICATED_LIMIT + 1)
    raw = await client.post("/api/v0/storage/add_file", content=too_big_anonymous)
    assert raw.status_code == 413
    form = await upload(client, too_big_anonymous)
    assert form.status_code == 413
    assert (
        await client.get(f"/api/v0/storage/raw/{sha256_hex(too_big_anonymous)}")
    ).status_code == 404

    signed_ok = b"b" * (UNAUTHENTICATED_LIMIT + 1)
    response = await upload(client, signed_ok, store_message(signer, sha256_hex(signed_ok)))
    assert response.status_code == 200, "a signed upload has the larger limit"

    too_big = b"c" * (FILE_LIMIT + 1)
    response = await upload(client, too_big, store_message(signer, sha256_hex(too_big)))
    assert response.status_code == 413
    json_document = json.dumps({"x": "d" * UNAUTHENTICATED_LIMIT}).encode()
    assert (await client.post("/api/v0/storage/add_json", content=json_document)).status_code == 413


async def test_ipfs_add_file_gives_the_kubo_cid(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    anonymous = await upload(client, b"hello world\n", engine="ipfs")
    assert anonymous.json() == {"status": "success", "hash": HELLO_CID, "name": "file", "size": 12}

    message = store_message(signer, HELLO_CID, item_type=ItemType.IPFS)
    signed = await upload(client, b"hello world\n", message, engine="ipfs")
    assert signed.status_code == 200, signed.text
    body = (await client.get(f"/api/v0/messages/{message['item_hash']}")).json()
    assert body["status"] == "processed"
    by_message = await client.get(f"/api/v0/storage/by-message-hash/{message['item_hash']}")
    assert by_message.json()["file_hash"] == HELLO_CID
    assert (await client.get(f"/api/v0/storage/raw/{HELLO_CID}")).content == b"hello world\n"


# --- downloads -----------------------------------------------------------------------------


@pytest.fixture
async def stored_digits(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v0/storage/add_file", content=b"0123456789")
    return str(response.json()["hash"])


async def test_range_requests(client: httpx.AsyncClient, stored_digits: str) -> None:
    url = f"/api/v0/storage/raw/{stored_digits}"
    span = await client.get(url, headers={"range": "bytes=2-5"})
    assert span.status_code == 206
    assert span.content == b"2345"
    assert span.headers["content-range"] == "bytes 2-5/10"
    assert span.headers["content-length"] == "4"

    suffix = await client.get(url, headers={"range": "bytes=-3"})
    assert (suffix.status_code, suffix.content) == (206, b"789")

    outside = await client.get(url, headers={"range": "bytes=10-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == "bytes */10"


async def test_head_gives_the_headers_only(client: httpx.AsyncClient, stored_digits: str) -> None:
    url = f"/api/v0/storage/raw/{stored_digits}"
    whole = await client.head(url)
    assert (whole.status_code, whole.headers["content-length"], whole.content) == (200, "10", b"")
    span = await client.head(url, headers={"range": "bytes=0-0"})
    assert (span.status_code, span.headers["content-range"]) == (206, "bytes 0-0/10")


async def test_unknown_and_invalid_hashes(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/api/v0/storage/raw/{'0' * 64}")).status_code == 404
    assert (await client.get("/api/v0/storage/raw/not-a-hash")).status_code == 400
    assert (await client.get(f"/api/v0/storage/{'0' * 64}")).status_code == 404
    assert (await client.get("/api/v0/storage/metadata/nope")).status_code == 400
    assert (await client.get("/api/v0/storage/by-ref/free-text")).status_code == 400


async def test_base64_metadata_count_and_limits(
    client: httpx.AsyncClient, stored_digits: str
) -> None:
    content = (await client.get(f"/api/v0/storage/{stored_digits}")).json()
    assert content["engine"] == "storage"
    assert base64.b64decode(content["content"]) == b"0123456789"
    metadata = (await client.get(f"/api/v0/storage/metadata/{stored_digits}")).json()
    assert metadata == {
        "file_hash": stored_digits,
        "type": "file",
        "size": 10,
        "download_url": f"/api/v0/storage/raw/{stored_digits}",
    }
    assert (await client.get(f"/api/v0/storage/count/{stored_digits}")).json() == 1
    limits = (await client.get("/api/v0/storage/limits.json")).json()
    assert limits["storage"]["max_file_size"] == FILE_LIMIT
    assert limits["ipfs"]["max_unauthenticated_upload_file_size"] == UNAUTHENTICATED_LIMIT


async def test_files_of_an_address(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    assert (await client.get(f"/api/v0/addresses/{signer.address}/files")).status_code == 404
    hashes = []
    for index, data in enumerate([b"first", b"second!", b"third.."]):
        message = store_message(signer, sha256_hex(data), content_time=1_700_000_000 + index)
        assert (await upload(client, data, message)).status_code == 200
        hashes.append(sha256_hex(data))
    response = await client.get(
        f"/api/v0/addresses/{signer.address}/files", params={"pagination": 2, "sort_order": 1}
    )
    body = response.json()
    assert body["address"] == signer.address
    assert body["total_size"] == 5 + 7 + 7
    assert [item["file_hash"] for item in body["files"]] == hashes[:2]
    assert body["files"][0]["created"].startswith("2023-11-14T22:13:20")
    assert (body["pagination_total"], body["pagination_item"]) == (3, "files")


# --- memory ----------------------------------------------------------------------------------


UPLOAD_SIZE = 200 * MIB
NETWORK_CHUNK = 64 * 1024


async def _multipart_stream(
    boundary: str, metadata: bytes, chunk: bytes, count: int
) -> AsyncIterator[bytes]:
    """A form streamed the way a socket delivers it: the file is never whole in memory."""
    yield (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'
            f"Content-Type: application/json\r\n\r\n"
        ).encode()
        + metadata
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    for _ in range(count):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.slow
async def test_large_upload_streams_in_bounded_memory(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    chunk = hashlib.sha256(b"seed").digest() * (NETWORK_CHUNK // 32)
    count = UPLOAD_SIZE // NETWORK_CHUNK
    cid = ipfs_cid_v0_of_chunks(chunk for _ in range(count))
    message = store_message(signer, cid, item_type=ItemType.IPFS)
    metadata = json.dumps({"message": message, "sync": True}).encode()
    boundary = "alephnet-memory-test"
    tracemalloc.start()
    try:
        response = await client.post(
            "/api/v0/ipfs/add_file",
            content=_multipart_stream(boundary, metadata, chunk, count),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    assert response.json()["size"] == UPLOAD_SIZE
    assert peak < 16 * MIB, f"peak traced memory {peak / MIB:.1f} MiB for a 200 MiB upload"
