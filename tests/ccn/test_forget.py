"""FORGET: what it erases (posts, amends, aggregate revisions and keys), who may send it, what
stops it, and what remains of a forgotten message."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.messages import get_rejected
from alephnet.ccn.db.accessors.pending import pending_for
from alephnet.ccn.db.engine import SessionFactory, create_engine, create_session_factory
from alephnet.ccn.db.models import PendingMessageRow, VmRow
from alephnet.ccn.handlers.forget import store_used_by_vm
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner, ItemType, MessageType, build_message
from tests.ccn.conftest import post_message, publish, wait_for_status
from tests.ccn.message_builders import (
    DELEGATE,
    OWNER,
    STRANGER,
    aggregate_message,
    forget_message,
    grant,
)
from tests.ccn.storage_helpers import sha256_hex, store_message, upload
from tests.conftest import load_vector

T = TypeVar("T")

KEY = hashlib.sha256(b"a key shaped like a hash").hexdigest()
"""FORGET content types aggregate keys as item hashes (see `ForgetContent`)."""


@pytest.fixture
async def sessions(settings: CcnSettings) -> AsyncIterator[SessionFactory]:
    """A second connection to the node's database, to seed rows the API cannot make."""
    engine = create_engine(settings.resolved_database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def publish_all(client: httpx.AsyncClient, *messages: dict[str, Any]) -> None:
    for message in messages:
        response = await publish(client, message)
        assert response.status_code == 200, response.text


async def message_body(client: httpx.AsyncClient, item_hash: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/v0/messages/{item_hash}")).json()
    return body


async def listed_posts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = (await client.get("/api/v0/posts.json")).json()["posts"]
    return posts


async def aggregates_of(client: httpx.AsyncClient, address: str) -> dict[str, Any] | None:
    response = await client.get(f"/api/v0/aggregates/{address}.json")
    return response.json()["data"] if response.status_code == 200 else None


async def expect_rejected(
    client: httpx.AsyncClient, message: dict[str, Any], error_code: int
) -> None:
    response = await publish(client, message)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == error_code


async def test_a_forgotten_post_leaves_only_a_skeleton(client: httpx.AsyncClient) -> None:
    post = post_message(OWNER)
    amend = post_message(OWNER, {"v": 2}, post_type="amend", ref=post["item_hash"])
    forget = forget_message(OWNER, hashes=[post["item_hash"]])
    await publish_all(client, post, amend, forget)

    body = await message_body(client, post["item_hash"])
    assert body["status"] == "forgotten"
    assert body["forgotten_by"] == [forget["item_hash"]]
    skeleton = body["message"]
    assert "content" not in skeleton
    assert "item_content" not in skeleton
    assert (skeleton["owner"], skeleton["payment_type"]) == (OWNER.address, "hold")
    assert skeleton["size"] == len(post["item_content"])
    assert skeleton["forgotten_at"] == json.loads(forget["item_content"])["time"]
    assert await listed_posts(client) == [], "the original and its amends are gone"
    amend_body = await message_body(client, amend["item_hash"])
    assert (amend_body["status"], amend_body["forgotten_by"]) == (
        "forgotten",
        [forget["item_hash"]],
    )
    assert (await client.get(f"/api/v0/messages/{post['item_hash']}/content")).status_code == 422


async def test_forgetting_amends_brings_back_the_previous_version(
    client: httpx.AsyncClient,
) -> None:
    post = post_message(OWNER, {"v": 0}, time=100.0)
    first = post_message(OWNER, {"v": 1}, post_type="amend", ref=post["item_hash"], time=200.0)
    second = post_message(OWNER, {"v": 2}, post_type="amend", ref=post["item_hash"], time=300.0)
    await publish_all(client, post, first, second)

    await publish_all(client, forget_message(OWNER, hashes=[second["item_hash"]]))
    (listed,) = await listed_posts(client)
    assert (listed["item_hash"], listed["content"]) == (first["item_hash"], {"v": 1})

    await publish_all(client, forget_message(OWNER, hashes=[first["item_hash"]]))
    (listed,) = await listed_posts(client)
    assert (listed["item_hash"], listed["content"]) == (post["item_hash"], {"v": 0})


async def test_forgetting_a_revision_recomputes_the_aggregate(client: httpx.AsyncClient) -> None:
    revisions = [
        aggregate_message(OWNER, "doc", {"a": 1, "b": 1}, content_time=1.0),
        aggregate_message(OWNER, "doc", {"a": 2, "c": 2}, content_time=2.0),
        aggregate_message(OWNER, "doc", {"b": 3}, content_time=3.0),
    ]
    await publish_all(client, *revisions)
    await publish_all(client, forget_message(OWNER, hashes=[revisions[1]["item_hash"]]))
    assert await aggregates_of(client, OWNER.address) == {"doc": {"a": 1, "b": 3}}

    others = [revisions[0]["item_hash"], revisions[2]["item_hash"]]
    await publish_all(client, forget_message(OWNER, hashes=others))
    assert await aggregates_of(client, OWNER.address) is None


async def test_forgetting_an_aggregate_key_forgets_every_revision(
    client: httpx.AsyncClient,
) -> None:
    revisions = [aggregate_message(OWNER, KEY, {"n": n}) for n in range(3)]
    kept = aggregate_message(OWNER, "kept", {"k": True})
    await publish_all(client, *revisions, kept)
    forget = forget_message(OWNER, aggregates=[KEY])
    await publish_all(client, forget)

    assert await aggregates_of(client, OWNER.address) == {"kept": {"k": True}}
    for revision in revisions:
        body = await message_body(client, revision["item_hash"])
        assert (body["status"], body["forgotten_by"]) == ("forgotten", [forget["item_hash"]])


async def test_a_stranger_cannot_forget(client: httpx.AsyncClient) -> None:
    post = post_message(OWNER)
    await publish_all(client, post)
    await expect_rejected(client, forget_message(STRANGER, hashes=[post["item_hash"]]), 2)
    revision = aggregate_message(OWNER, KEY, {"x": 1})
    await publish_all(client, revision)
    on_behalf = forget_message(STRANGER, aggregates=[KEY], address=OWNER.address)
    await expect_rejected(client, on_behalf, 2)
    assert len(await listed_posts(client)) == 1
    assert await aggregates_of(client, OWNER.address) == {KEY: {"x": 1}}


async def test_a_delegate_forgets_what_it_could_have_written(client: httpx.AsyncClient) -> None:
    post = post_message(OWNER, post_type="note")
    revision = aggregate_message(OWNER, "profile", {"x": 1})
    await publish_all(client, post, revision)
    await grant(client, OWNER, DELEGATE, types=["POST"], post_types=["note"])

    await expect_rejected(client, forget_message(DELEGATE, hashes=[revision["item_hash"]]), 2)
    await publish_all(client, forget_message(DELEGATE, hashes=[post["item_hash"]]))
    assert (await message_body(client, post["item_hash"]))["status"] == "forgotten"


async def test_a_forget_needs_a_target_and_cannot_target_a_forget(
    client: httpx.AsyncClient,
) -> None:
    await expect_rejected(client, forget_message(OWNER), 500)
    post = post_message(OWNER)
    forget = forget_message(OWNER, hashes=[post["item_hash"]])
    await publish_all(client, post, forget)
    await expect_rejected(client, forget_message(OWNER, hashes=[forget["item_hash"]]), 502)


async def test_a_forget_waits_for_its_target(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    post = post_message(OWNER)
    forget = forget_message(OWNER, hashes=[post["item_hash"]])
    assert (await publish(client, forget, sync=False)).status_code == 202
    await wait_for_retry(sessions, forget["item_hash"])
    await publish_all(client, post)
    await wait_for_status(client, forget["item_hash"], "processed", timeout=20)
    assert (await message_body(client, post["item_hash"]))["status"] == "forgotten"


async def eventually(
    sessions: SessionFactory, read: Callable[[AsyncSession], Awaitable[T | None]], what: str
) -> T:
    """Poll the node's database until `read` finds something; fail after ten seconds."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        async with sessions() as session:
            found = await read(session)
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    pytest.fail(f"never happened: {what}")


async def wait_for_retry(sessions: SessionFactory, item_hash: str) -> None:
    """Until the processor has tried `item_hash` once and put it back for later."""

    async def retried(session: AsyncSession) -> bool | None:
        return any(row.retries for row in await pending_for(session, item_hash)) or None

    await eventually(sessions, retried, f"{item_hash} retried")


async def test_forgetting_again_signs_the_skeleton_again(client: httpx.AsyncClient) -> None:
    post = post_message(OWNER)
    first = forget_message(OWNER, hashes=[post["item_hash"]])
    second = forget_message(OWNER, hashes=[post["item_hash"]])
    await publish_all(client, post, first, second)
    body = await message_body(client, post["item_hash"])
    assert body["forgotten_by"] == [first["item_hash"], second["item_hash"]]


async def test_pyaleph_forgotten_messages_vectors(client: httpx.AsyncClient) -> None:
    """The vector's FORGET has an item hash that is not the sha256 of its content: refused at
    submission, never queued, so the post it names stays."""
    post, forget, post_again = load_vector("pyaleph/test-data-forgotten-messages.json")
    await publish_all(client, post)
    refused = await publish(client, forget)
    assert refused.status_code == 422
    assert (await client.get(f"/api/v0/messages/{forget['item_hash']}")).status_code == 404
    assert (await publish(client, post_again)).status_code == 200
    assert [listed["item_hash"] for listed in await listed_posts(client)] == [post["item_hash"]]
    assert (await message_body(client, post["item_hash"]))["status"] == "processed"


async def test_a_forgotten_message_never_comes_back(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """Sent again, it is answered `forgotten` (410) and not queued; a copy that was already
    queued when it was forgotten is rejected by the processor as FORGOTTEN_DUPLICATE (504)."""
    post = post_message(OWNER)
    await publish_all(client, post, forget_message(OWNER, hashes=[post["item_hash"]]))
    again = await publish(client, post)
    assert (again.status_code, again.json()["message_status"]) == (410, "forgotten")

    async with sessions() as session, session.begin():
        session.add(queued_copy(post))
    rejected = await wait_for_rejection(sessions, post["item_hash"])
    assert rejected == 504
    assert (await message_body(client, post["item_hash"]))["status"] == "forgotten"
    assert await listed_posts(client) == []


def queued_copy(message: dict[str, Any]) -> PendingMessageRow:
    now = time.time()
    return PendingMessageRow(
        item_hash=message["item_hash"],
        sender=message["sender"],
        signature=message["signature"],
        message=message,
        origin="p2p",
        reception_time=now,
        next_attempt=now,
        retries=0,
    )


async def wait_for_rejection(sessions: SessionFactory, item_hash: str) -> int:
    async def error_code(session: AsyncSession) -> int | None:
        rejected = await get_rejected(session, item_hash)
        return rejected.error_code if rejected is not None else None

    return await eventually(sessions, error_code, f"{item_hash} rejected")


async def test_a_store_mounted_by_a_vm_cannot_be_forgotten(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    mounted, mentioned = (
        store_message(OWNER, sha256_hex(data)) for data in (b"a runtime", b"mentioned")
    )
    for data, store in ((b"a runtime", mounted), (b"mentioned", mentioned)):
        assert (await upload(client, data, store)).status_code == 200
    code_and_comment = {
        "code": {"ref": mounted["item_hash"]},
        "volumes": [{"ephemeral": True, "size_mib": 1, "comment": mentioned["item_hash"]}],
    }
    await seed_vm(sessions, code_and_comment)

    await expect_rejected(client, forget_message(OWNER, hashes=[mounted["item_hash"]]), 503)
    await publish_all(client, forget_message(OWNER, hashes=[mentioned["item_hash"]]))


MOUNT = "b" * 64


@pytest.mark.parametrize(
    "content",
    [
        {"code": {"ref": MOUNT}},
        {"runtime": {"ref": MOUNT}},
        {"data": {"ref": MOUNT}},
        {"rootfs": {"parent": {"ref": MOUNT}}},
        {"volumes": [{"ephemeral": True}, {"ref": MOUNT}]},
        {"volumes": [{"parent": {"ref": MOUNT}, "size_mib": 10}]},
    ],
    ids=["code", "runtime", "data", "rootfs", "immutable", "persistent"],
)
async def test_every_kind_of_mount_counts(
    client: httpx.AsyncClient, sessions: SessionFactory, content: dict[str, Any]
) -> None:
    """(`client` runs the node, whose start migrates the database `sessions` reaches.)"""
    await seed_vm(sessions, content)
    async with sessions() as session:
        assert await store_used_by_vm(session, MOUNT)
        assert not await store_used_by_vm(session, "c" * 64)


async def seed_vm(sessions: SessionFactory, content: dict[str, Any]) -> None:
    """A PROGRAM row as the VM handler would leave it, with only the fields that matter here."""
    vm_hash = hashlib.sha256(json.dumps(content).encode()).hexdigest()
    async with sessions() as session, session.begin():
        session.add(
            VmRow(
                item_hash=vm_hash,
                owner=OWNER.address,
                type="PROGRAM",
                allow_amend=False,
                replaces=None,
                current_version=vm_hash,
                content=content,
                time=time.time(),
            )
        )


async def test_forgetting_a_storage_message_releases_its_content(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    content = {"address": signer.address, "time": 1.0, "content": {"big": 1}, "type": "note"}
    built = build_message(
        signer, MessageType.POST, content, channel="TEST", item_type=ItemType.STORAGE
    )
    stored = await client.post(
        "/api/v0/storage/add_json",
        content=built.item_content,
        headers={"content-type": "application/json"},
    )
    assert stored.json()["hash"] == built.item_hash
    assert (await publish(client, built.message)).status_code == 200
    pins_before = (await client.get(f"/api/v0/storage/count/{built.item_hash}")).json()
    forget = build_message(
        signer,
        MessageType.FORGET,
        {"address": signer.address, "time": 2.0, "hashes": [built.item_hash]},
        channel="TEST",
    )
    assert (await publish(client, forget.message)).status_code == 200
    pins_after = (await client.get(f"/api/v0/storage/count/{built.item_hash}")).json()
    assert pins_after == pins_before - 1
