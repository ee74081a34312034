"""The official Python SDK (aleph-sdk-python) against a real alephnet node.

Every answer is parsed by the SDK's own models with `ignore_invalid_messages=False`, so that a
record of the wrong shape fails here instead of being dropped silently, as the SDK does by
default.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.client import AuthenticatedAlephHttpClient
from aleph.sdk.exceptions import ForgottenMessageError, MessageNotFoundError
from aleph.sdk.query.filters import MessageFilter, PostFilter
from aleph.sdk.types import StorageEnum
from aleph_message.models import ItemHash, MessageType
from aleph_message.status import MessageStatus

from tests.acceptance.conftest import ADDRESS, PRIVATE_KEY
from tests.ccn.node_process import NodeProcess

pytestmark = pytest.mark.slow

WATCH_TIMEOUT = 15.0
UNKNOWN_HASH = "0" * 64

Client = AuthenticatedAlephHttpClient


@pytest.fixture
async def sdk(node: NodeProcess) -> AsyncIterator[Client]:
    account = ETHAccount(bytes.fromhex(PRIVATE_KEY))
    assert account.get_address() == ADDRESS
    async with AuthenticatedAlephHttpClient(account, api_server=node.url) as client:
        yield client


def unique(prefix: str) -> str:
    """A channel or type of its own, so that each test finds only what it made."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def processed_post(sdk: Client, content: dict[str, Any], **options: Any) -> ItemHash:
    message, status = await sdk.create_post(content, options.pop("post_type", "note"), **options)
    assert status == MessageStatus.PROCESSED
    return message.item_hash


async def posts_with_hash(sdk: Client, item_hash: str) -> list[Any]:
    response = await sdk.get_posts(
        post_filter=PostFilter(hashes=[item_hash]), ignore_invalid_messages=False
    )
    return list(response.posts)


# --- posts -----------------------------------------------------------------------------------


async def test_create_post_sync_is_processed(sdk: Client) -> None:
    message, status = await sdk.create_post({"text": "hello"}, "note", sync=True)
    assert status == MessageStatus.PROCESSED
    assert message.sender == ADDRESS


async def test_get_posts_returns_the_post(sdk: Client) -> None:
    channel = unique("posts")
    item_hash = await processed_post(sdk, {"text": "listed"}, channel=channel, sync=True)
    [post] = await posts_with_hash(sdk, item_hash)
    assert (post.item_hash, post.content, post.channel) == (item_hash, {"text": "listed"}, channel)
    by_channel = await sdk.get_posts(
        post_filter=PostFilter(channels=[channel]), ignore_invalid_messages=False
    )
    assert [post.item_hash for post in by_channel.posts] == [item_hash]


async def test_an_amend_replaces_the_posts_content(sdk: Client) -> None:
    original = await processed_post(sdk, {"text": "draft"}, sync=True)
    amend = await processed_post(sdk, {"text": "final"}, post_type="amend", ref=original, sync=True)
    [post] = await posts_with_hash(sdk, original)
    assert (post.content, post.item_hash, post.original_item_hash) == (
        {"text": "final"},
        amend,
        original,
    )


# --- aggregates ------------------------------------------------------------------------------


async def test_aggregate_revisions_are_merged(sdk: Client) -> None:
    key = unique("profile")
    for content in ({"name": "alice", "age": 30}, {"age": 31}):
        _, status = await sdk.create_aggregate(key, content, sync=True)
        assert status == MessageStatus.PROCESSED
    assert await sdk.fetch_aggregate(ADDRESS, key) == {"name": "alice", "age": 31}
    aggregates = await sdk.fetch_aggregates(ADDRESS)
    assert aggregates[key] == {"name": "alice", "age": 31}


# --- files -----------------------------------------------------------------------------------


async def stored_file(sdk: Client, data: bytes) -> ItemHash:
    message, status = await sdk.create_store(
        file_content=data, storage_engine=StorageEnum.storage, sync=True
    )
    assert status == MessageStatus.PROCESSED
    assert message.content.item_hash == hashlib.sha256(data).hexdigest()
    return message.item_hash


async def test_a_stored_file_downloads_back(sdk: Client) -> None:
    data = f"file {uuid.uuid4()}".encode()
    await stored_file(sdk, data)
    assert await sdk.download_file(hashlib.sha256(data).hexdigest()) == data


# --- programs and instances -------------------------------------------------------------------


def zipped(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


async def test_a_program_on_stored_code_and_runtime_is_processed(sdk: Client) -> None:
    code = await stored_file(sdk, zipped("main.py", f"app = None  # {uuid.uuid4()}"))
    runtime = await stored_file(sdk, f"runtime {uuid.uuid4()}".encode())
    message, status = await sdk.create_program(
        program_ref=code, entrypoint="main:app", runtime=runtime, sync=True
    )
    assert status == MessageStatus.PROCESSED
    fetched = await sdk.get_message(message.item_hash)
    assert fetched.content.code.ref == code


async def test_an_instance_on_a_stored_image_is_processed(sdk: Client) -> None:
    rootfs = await stored_file(sdk, f"disk image {uuid.uuid4()}".encode())
    message, status = await sdk.create_instance(rootfs=rootfs, rootfs_size=1024, sync=True)
    assert status == MessageStatus.PROCESSED
    fetched = await sdk.get_message(message.item_hash)
    assert fetched.content.rootfs.parent.ref == rootfs


# --- reading messages ------------------------------------------------------------------------


async def test_get_messages_filters(sdk: Client) -> None:
    channel = unique("filters")
    post_hash = await processed_post(sdk, {"n": 1}, channel=channel, sync=True)
    _, status = await sdk.create_aggregate(unique("key"), {"n": 2}, channel=channel, sync=True)
    assert status == MessageStatus.PROCESSED

    async def hashes(**filters: Any) -> list[str]:
        response = await sdk.get_messages(
            message_filter=MessageFilter(**filters), ignore_invalid_messages=False
        )
        return [message.item_hash for message in response.messages]

    assert len(await hashes(channels=[channel])) == 2
    assert await hashes(channels=[channel], message_types=[MessageType.post]) == [post_hash]
    assert await hashes(hashes=[post_hash], addresses=[ADDRESS]) == [post_hash]
    assert await hashes(channels=[channel], start_date=time.time() + 3600) == []


async def test_get_message_and_its_status(sdk: Client) -> None:
    item_hash = await processed_post(sdk, {"text": "one"}, sync=True)
    message = await sdk.get_message(item_hash)
    assert (message.item_hash, message.type) == (item_hash, MessageType.post)
    assert await sdk.get_message_status(item_hash) == MessageStatus.PROCESSED
    with pytest.raises(MessageNotFoundError):
        await sdk.get_message(UNKNOWN_HASH)
    with pytest.raises(MessageNotFoundError):
        await sdk.get_message_status(UNKNOWN_HASH)


async def test_forget_erases_a_message(sdk: Client) -> None:
    item_hash = await processed_post(sdk, {"text": "regret"}, sync=True)
    forget, status = await sdk.forget([item_hash], reason="test", sync=True)
    assert status == MessageStatus.PROCESSED
    assert await sdk.get_message_status(item_hash) == MessageStatus.FORGOTTEN
    with pytest.raises(ForgottenMessageError, match=forget.item_hash):
        await sdk.get_message(item_hash)


async def test_watch_messages_receives_a_new_post(sdk: Client) -> None:
    channel = unique("watch")
    watched = sdk.watch_messages(MessageFilter(channels=[channel]))
    first = asyncio.ensure_future(anext(aiter(watched)))
    await asyncio.sleep(0.5)  # let the socket open; a node replaying history needs no wait
    item_hash = await processed_post(sdk, {"text": "live"}, channel=channel, sync=True)
    try:
        message = await asyncio.wait_for(first, WATCH_TIMEOUT)
    except StopAsyncIteration:
        pytest.fail("the node closed the WebSocket without sending the new post")
    finally:
        await watched.aclose()
    assert (message.item_hash, message.channel) == (item_hash, channel)
