"""Posts, aggregates, message queries, forget and delegation against an in-process node."""

from __future__ import annotations

import pytest

from alephnet.protocol import MessageStatus, validate_message
from alephnet.sdk import (
    AlephClient,
    AuthenticatedAlephClient,
    ForgottenMessage,
    MessageRejected,
    NotFound,
    generate_account,
)


async def test_post_then_read_it_back(writer: AuthenticatedAlephClient) -> None:
    published = await writer.create_post({"text": "hello"}, "note", channel="TEST")
    assert published.status == MessageStatus.PROCESSED
    info = await writer.get_message(published.item_hash)
    assert info.message is not None
    assert info.message.content["content"] == {"text": "hello"}
    validate_message(info.message.envelope())
    assert await writer.get_message_status(published.item_hash) == MessageStatus.PROCESSED


async def test_amend_replaces_the_posts_content(writer: AuthenticatedAlephClient) -> None:
    original = await writer.create_post({"v": 1}, "note")
    await writer.amend(original.item_hash, {"v": 2})
    page = await writer.get_posts(hashes=[original.item_hash])
    assert page.total == 1
    assert page.posts[0].original_item_hash == original.item_hash
    assert page.posts[0].content == {"v": 2}


async def test_messages_filter_and_page(writer: AuthenticatedAlephClient) -> None:
    for number in range(3):
        await writer.create_post({"n": number}, "counted")
    await writer.create_aggregate("profile", {"name": "me"})
    page = await writer.get_messages(
        message_types=["POST"], content_types=["counted"], pagination=2
    )
    assert (page.total, len(page.messages)) == (3, 2)
    every = [message async for message in writer.iter_messages(addresses=[writer.address])]
    assert len(every) == 4
    assert len({message.item_hash for message in every}) == 4


async def test_iter_messages_follows_cursors_across_pages(
    writer: AuthenticatedAlephClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("alephnet.sdk.client.CURSOR_PAGE_SIZE", 2)
    hashes = {(await writer.create_post({"n": n}, "note")).item_hash for n in range(5)}
    seen = [message.item_hash async for message in writer.iter_messages(content_types=["note"])]
    assert sorted(seen) == sorted(hashes)


async def test_aggregates_merge_and_read(writer: AuthenticatedAlephClient) -> None:
    await writer.create_aggregate("profile", {"name": "me", "age": 1})
    await writer.create_aggregate("profile", {"age": 2})
    assert await writer.fetch_aggregate(writer.address, "profile") == {"name": "me", "age": 2}
    assert set(await writer.fetch_aggregates(writer.address)) == {"profile"}
    with pytest.raises(NotFound):
        await writer.fetch_aggregate(writer.address, "missing")
    with pytest.raises(NotFound):
        await writer.fetch_aggregates(generate_account().address)


async def test_large_content_goes_through_add_json(writer: AuthenticatedAlephClient) -> None:
    published = await writer.create_post({"blob": "x" * 60_000}, "big")
    assert published.message["item_type"] == "storage"
    assert published.message["item_content"] is None
    info = await writer.get_message(published.item_hash)
    assert info.message is not None
    assert info.message.content["content"]["blob"] == "x" * 60_000


async def test_forget_makes_get_message_raise(writer: AuthenticatedAlephClient) -> None:
    post = await writer.create_post({"secret": 1}, "note")
    forget = await writer.forget([post.item_hash], reason="oops")
    with pytest.raises(ForgottenMessage) as caught:
        await writer.get_message(post.item_hash)
    assert caught.value.forgotten_by == [forget.item_hash]


async def test_an_unknown_hash_is_not_found(reader: AlephClient) -> None:
    with pytest.raises(NotFound):
        await reader.get_message("b" * 64)


async def test_a_rejected_message_raises_with_its_code(
    app: object, writer: AuthenticatedAlephClient
) -> None:
    stranger = generate_account()
    async with AuthenticatedAlephClient.for_app(app, account=stranger) as intruder:
        with pytest.raises(MessageRejected) as caught:
            await intruder.create_post({"x": 1}, "note", address=writer.address)
        assert caught.value.error_code == 2  # PERMISSION_DENIED
        with pytest.raises(MessageRejected):
            await intruder.get_message(str(caught.value.item_hash))


async def test_grant_lets_a_delegate_write_and_revoke_stops_it(
    app: object, writer: AuthenticatedAlephClient
) -> None:
    delegate = generate_account()
    await writer.grant(delegate.address, types=["POST"])
    security = await writer.fetch_aggregate(writer.address, "security")
    assert [entry["address"] for entry in security["authorizations"]] == [delegate.address]
    async with AuthenticatedAlephClient.for_app(app, account=delegate) as helper:
        allowed = await helper.create_post({"for": "owner"}, "note", address=writer.address)
        assert allowed.status == MessageStatus.PROCESSED
        await writer.revoke(delegate.address)
        with pytest.raises(MessageRejected):
            await helper.create_post({"again": 1}, "note", address=writer.address)


async def test_balance_and_price(writer: AuthenticatedAlephClient) -> None:
    balance = await writer.get_balance(writer.address)
    assert balance.address == writer.address
    post = await writer.create_post({}, "note")
    estimate = await writer.estimate_price(post.message)
    assert estimate.required_tokens == 0
