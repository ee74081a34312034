"""Round trips with the official aleph-sdk-python through a real node process: what one SDK
writes, the other reads, parses and verifies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.client import AlephHttpClient, AuthenticatedAlephHttpClient
from aleph_message.models import InstanceMessage, PostMessage, ProgramMessage
from aleph_message.status import MessageStatus as TheirStatus

from alephnet.protocol import MessageStatus, validate_message
from alephnet.sdk import AuthenticatedAlephClient, SyncAuthenticatedAlephClient, generate_account
from tests.acceptance.conftest import PRIVATE_KEY
from tests.ccn.node_process import NodeProcess

pytestmark = pytest.mark.slow


@pytest.fixture
async def ours(node: NodeProcess) -> AsyncIterator[AuthenticatedAlephClient]:
    async with AuthenticatedAlephClient(generate_account(), api_url=node.url) as client:
        yield client


async def test_theirs_reads_what_ours_wrote(
    node: NodeProcess, ours: AuthenticatedAlephClient
) -> None:
    published = await ours.create_post({"from": "alephnet"}, "note", channel="ROUNDTRIP")
    async with AlephHttpClient(api_server=node.url) as theirs:
        message = await theirs.get_message(published.item_hash)
    assert isinstance(message, PostMessage)
    assert message.content.content == {"from": "alephnet"}
    assert message.sender == ours.address


async def test_ours_verifies_what_theirs_wrote(
    node: NodeProcess, ours: AuthenticatedAlephClient
) -> None:
    account = ETHAccount(bytes.fromhex(PRIVATE_KEY))
    async with AuthenticatedAlephHttpClient(account, api_server=node.url) as theirs:
        message, status = await theirs.create_post({"from": "official"}, "note", sync=True)
    assert status == TheirStatus.PROCESSED
    info = await ours.get_message(message.item_hash)
    assert info.message is not None
    assert validate_message(info.message.envelope()).sender == account.get_address()
    assert info.message.content["content"] == {"from": "official"}


async def test_watch_over_a_real_websocket(ours: AuthenticatedAlephClient) -> None:
    stream = ours.watch_messages(addresses=[ours.address])
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.5)
    published = await ours.create_post({"live": 1}, "note")
    assert (await asyncio.wait_for(first, 15)).item_hash == published.item_hash
    await stream.aclose()


def test_the_sync_facade_against_a_node(node: NodeProcess) -> None:
    with SyncAuthenticatedAlephClient(generate_account(), api_url=node.url) as client:
        published = client.create_post({"sync": True}, "note")
        assert client.get_message_status(published.item_hash) == MessageStatus.PROCESSED
        assert [m.item_hash for m in client.iter_messages(addresses=[client.address])] == [
            published.item_hash
        ]


async def test_theirs_parses_the_instances_and_programs_ours_publishes(
    node: NodeProcess, ours: AuthenticatedAlephClient
) -> None:
    image = await ours.create_store(b"a root filesystem image")
    instance = await ours.create_instance(
        image.item_hash, rootfs_size=1024, ssh_keys=["ssh-ed25519 AAAA test"], env={"A": "1"}
    )
    runtime = await ours.create_store(b"a runtime")
    program = await ours.create_program(__file__, "main:app", runtime=runtime.item_hash)
    async with AlephHttpClient(api_server=node.url) as theirs:
        their_instance = await theirs.get_message(instance.item_hash)
        their_program = await theirs.get_message(program.item_hash)
    assert isinstance(their_instance, InstanceMessage)
    assert their_instance.content.rootfs.parent.ref == image.item_hash
    assert their_instance.content.authorized_keys == ["ssh-ed25519 AAAA test"]
    assert isinstance(their_program, ProgramMessage)
    assert their_program.content.code.ref == program.code.item_hash
