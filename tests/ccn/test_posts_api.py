"""The posts lists, v0 (the official SDK's `Post` record) and v1: originals merged with their
latest amend, filters, paging and sorting."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message, publish
from tests.ccn.message_builders import OWNER, STRANGER
from tests.conftest import load_vector

ORIGINAL, AMEND = load_vector("pyaleph/test-data-posts.json")

SDK_POST_KEYS = {
    "chain", "item_hash", "sender", "type", "channel", "confirmed", "content", "item_content",
    "item_type", "signature", "size", "time", "confirmations", "original_item_hash",
    "original_signature", "original_type", "hash", "ref", "address",
}  # fmt: skip
"""Every key of aleph-sdk-python's `Post` model, which forbids any other."""

V1_KEYS = {
    "item_hash", "content", "original_item_hash", "original_type", "address", "ref", "channel",
    "created", "last_updated",
}  # fmt: skip


async def publish_all(client: httpx.AsyncClient, *messages: dict[str, Any]) -> None:
    for message in messages:
        response = await publish(client, message)
        assert response.status_code == 200, response.text


async def list_posts(
    client: httpx.AsyncClient, version: str = "v0", **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/api/{version}/posts.json", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def hashes_of(body: dict[str, Any]) -> list[str]:
    return [post["original_item_hash"] for post in body["posts"]]


def content_of(message: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(message["item_content"])
    return content


async def test_v0_record_is_the_latest_amend_under_the_original(
    client: httpx.AsyncClient,
) -> None:
    await publish_all(client, ORIGINAL, AMEND)
    body = await list_posts(client)
    assert {key: body[key] for key in body if key != "posts"} == {
        "pagination_page": 1,
        "pagination_total": 1,
        "pagination_per_page": 20,
        "pagination_item": "posts",
    }
    (post,) = body["posts"]
    assert set(post) == SDK_POST_KEYS
    owner = content_of(ORIGINAL)["address"]
    assert post == {
        "chain": "ETH",
        "item_hash": AMEND["item_hash"],
        "sender": owner,
        "type": "amend",
        "channel": ORIGINAL["channel"],
        "confirmed": False,
        "content": content_of(AMEND)["content"],
        "item_content": AMEND["item_content"],
        "item_type": "inline",
        "signature": AMEND["signature"],
        "size": len(AMEND["item_content"].encode()),
        "time": AMEND["time"],
        "confirmations": [],
        "original_item_hash": ORIGINAL["item_hash"],
        "original_signature": ORIGINAL["signature"],
        "original_type": "test-post",
        "hash": ORIGINAL["item_hash"],
        "ref": None,
        "address": owner,
    }


async def test_v1_record_and_dates(client: httpx.AsyncClient) -> None:
    await publish_all(client, ORIGINAL)
    (before_amend,) = (await list_posts(client, "v1"))["posts"]
    assert set(before_amend) == V1_KEYS
    assert before_amend["item_hash"] == before_amend["original_item_hash"] == ORIGINAL["item_hash"]
    assert before_amend["created"] == before_amend["last_updated"]

    await publish_all(client, AMEND)
    (post,) = (await list_posts(client, "v1"))["posts"]
    assert post["item_hash"] == AMEND["item_hash"]
    assert post["content"] == content_of(AMEND)["content"]
    assert post["original_type"] == "test-post"
    assert datetime.fromisoformat(post["created"]).timestamp() == pytest.approx(
        content_of(ORIGINAL)["time"]
    )
    assert datetime.fromisoformat(post["last_updated"]).timestamp() == pytest.approx(
        content_of(AMEND)["time"]
    )


async def test_newest_amend_wins_whatever_the_arrival_order(client: httpx.AsyncClient) -> None:
    original = post_message(OWNER, {"v": 0}, time=100.0)
    newer = post_message(OWNER, {"v": 2}, post_type="amend", ref=original["item_hash"], time=300.0)
    older = post_message(OWNER, {"v": 1}, post_type="amend", ref=original["item_hash"], time=200.0)
    await publish_all(client, original, newer, older)
    (post,) = (await list_posts(client))["posts"]
    assert (post["item_hash"], post["content"]) == (newer["item_hash"], {"v": 2})


@pytest.fixture
async def catalogue(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Four originals (one amended) of two owners, with distinct times, types, tags, refs."""
    posts = {
        "a": post_message(OWNER, {"tags": ["red", "blue"]}, post_type="blog", time=100.0),
        "b": post_message(OWNER, {"tags": ["green"]}, post_type="note", ref="x", time=200.0),
        "c": post_message(STRANGER, {"tags": "red"}, post_type="blog", ref="y", time=300.0),
        "d": post_message(STRANGER, {"text": "no tags"}, post_type="note", time=400.0),
    }
    amend_b = post_message(
        OWNER, {"tags": ["red"]}, post_type="amend", ref=posts["b"]["item_hash"], time=500.0
    )
    await publish_all(client, *posts.values(), amend_b)
    return posts


def hashes(catalogue: dict[str, dict[str, Any]], names: str) -> list[str]:
    return [catalogue[name]["item_hash"] for name in names]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "bdca"),
        ({"sortOrder": 1}, "acdb"),
        ({"sortBy": "tx-time"}, "dcba"),
        ({"addresses": OWNER.address}, "ba"),
        ({"types": "note"}, "bd"),
        ({"types": "blog,note"}, "bdca"),
        ({"refs": "x,y"}, "bc"),
        ({"tags": "red"}, "ba"),
        ({"tags": "green,blue"}, "a"),
        ({"startDate": 200, "endDate": 400}, "c"),
        ({"startDate": 300}, "bdc"),
        ({"pagination": 2}, "bd"),
        ({"pagination": 2, "page": 2}, "ca"),
        ({"pagination": 0}, "bdca"),
    ],
)
async def test_filters_sorting_and_paging(
    client: httpx.AsyncClient,
    catalogue: dict[str, dict[str, Any]],
    params: dict[str, Any],
    expected: str,
) -> None:
    """Sorted by last update, newest first, unless asked otherwise; an amend updates its
    original (b), and it is the latest content whose tags count (b is now red, not green)."""
    for version in ("v0", "v1"):
        body = await list_posts(client, version, **params)
        assert hashes_of(body) == hashes(catalogue, expected), (version, params)


async def test_hashes_channels_and_repeated_list_parameters(
    client: httpx.AsyncClient, catalogue: dict[str, dict[str, Any]]
) -> None:
    wanted = hashes(catalogue, "ad")
    repeated = await client.get(
        "/api/v0/posts.json", params=[("hashes", wanted[0]), ("hashes", wanted[1])]
    )
    assert sorted(hashes_of(repeated.json())) == sorted(wanted)
    assert hashes_of(await list_posts(client, channels="TEST,OTHER")) == hashes(catalogue, "bdca")
    assert hashes_of(await list_posts(client, channels="OTHER")) == []


async def test_total_counts_every_match_and_path_pages(
    client: httpx.AsyncClient, catalogue: dict[str, dict[str, Any]]
) -> None:
    for version in ("v0", "v1"):
        response = await client.get(f"/api/{version}/posts/page/2.json", params={"pagination": 3})
        body = response.json()
        assert hashes_of(body) == hashes(catalogue, "a")
        assert (body["pagination_page"], body["pagination_total"]) == (2, 4)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"sortBy": "size"}, "sortBy"),
        ({"sortOrder": 0}, "sortOrder"),
        ({"pagination": -1}, "pagination"),
        ({"page": 0}, "page"),
        ({"startDate": -5}, "startDate"),
        ({"startDate": 10, "endDate": 5}, "endDate"),
    ],
)
async def test_bad_parameters_are_named(
    client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    for version in ("v0", "v1"):
        response = await client.get(f"/api/{version}/posts.json", params=params)
        assert response.status_code == 422, response.text
        assert named in response.json()["error"]


async def test_bad_path_page_is_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v0/posts/page/0.json")).status_code == 422


async def test_integers_beyond_64_bits_are_kept_exactly(
    client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    """Token amounts in wei pass 2**64: JSON columns written by orjson fall back to the json
    module for them, and the message, its content and the post read back unchanged."""
    amount = 10**30 + 7
    message = post_message(signer, {"amount": amount, "nested": [{"wei": -(2**70)}]})
    await publish_all(client, message)
    stored = await client.get(f"/api/v0/messages/{message['item_hash']}")
    assert stored.json()["message"]["content"]["content"] == {
        "amount": amount,
        "nested": [{"wei": -(2**70)}],
    }
    body = await list_posts(client, version="v1", hashes=message["item_hash"])
    assert body["posts"][0]["content"]["amount"] == amount
