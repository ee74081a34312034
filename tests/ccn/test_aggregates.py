"""AGGREGATE processing (a shallow merge by content time, whatever the arrival order), the
aggregates API, and writing for another address through its `security` aggregate."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.ccn.conftest import post_message, publish, wait_for_status
from tests.ccn.message_builders import (
    DELEGATE,
    OWNER,
    STRANGER,
    aggregate_message,
    expected_merge,
    grant,
)
from tests.conftest import load_vector

VECTORS: list[dict[str, Any]] = load_vector("pyaleph/test-data-aggregates.json")

ORDERS = [
    (0, 1, 2, 3, 4),
    (4, 3, 2, 1, 0),
    (2, 0, 4, 1, 3),
    (1, 3, 0, 4, 2),
    (3, 4, 1, 2, 0),
]


async def publish_all(client: httpx.AsyncClient, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        response = await publish(client, message)
        assert response.status_code == 200, response.text


async def address_aggregates(
    client: httpx.AsyncClient, address: str, **params: Any
) -> httpx.Response:
    return await client.get(f"/api/v0/aggregates/{address}.json", params=params)


@pytest.mark.parametrize("order", ORDERS, ids=lambda order: "".join(map(str, order)))
async def test_vectors_merge_the_same_whatever_the_arrival_order(
    client: httpx.AsyncClient, order: tuple[int, ...]
) -> None:
    await publish_all(client, [VECTORS[index] for index in order])
    expected = expected_merge(VECTORS)
    for address in {address for address, _ in expected}:
        body = (await address_aggregates(client, address)).json()
        assert body["data"] == {
            key: value for (owner, key), value in expected.items() if owner == address
        }


CONFLICTING = [
    aggregate_message(OWNER, "doc", content, content_time=10.0 * (index + 1))
    for index, content in enumerate(
        [{"a": 1, "b": 1}, {"a": 2}, {"b": None, "c": 3}, {"a": 4, "c": None}, {"d": 5}]
    )
]


@pytest.mark.parametrize("order", ORDERS, ids=lambda order: "".join(map(str, order)))
async def test_conflicting_revisions_merge_the_same_whatever_the_order(
    client: httpx.AsyncClient, order: tuple[int, ...]
) -> None:
    await publish_all(client, [CONFLICTING[index] for index in order])
    body = (await address_aggregates(client, OWNER.address, with_info="true")).json()
    assert body["data"]["doc"] == {"a": 4, "b": None, "c": None, "d": 5}
    assert body["data"]["doc"] == expected_merge(CONFLICTING)[(OWNER.address, "doc")]
    assert body["info"]["doc"]["original_item_hash"] == CONFLICTING[0]["item_hash"]
    assert body["info"]["doc"]["last_update_item_hash"] == CONFLICTING[-1]["item_hash"]


async def test_revisions_processed_in_one_batch(client: httpx.AsyncClient) -> None:
    """Sent together, they are processed in one transaction: each sees the ones before it."""
    batch = [CONFLICTING[index] for index in (3, 0, 4, 1, 2)]
    responses = await asyncio.gather(*(publish(client, message, sync=False) for message in batch))
    assert {response.status_code for response in responses} <= {200, 202}
    for message in batch:
        await wait_for_status(client, message["item_hash"], "processed")
    body = (await address_aggregates(client, OWNER.address)).json()
    assert body["data"]["doc"] == expected_merge(CONFLICTING)[(OWNER.address, "doc")]


async def test_revision_info_follows_content_time_not_arrival(client: httpx.AsyncClient) -> None:
    middle = aggregate_message(OWNER, "profile", {"a": 2, "m": True}, content_time=2000.0)
    newest = aggregate_message(OWNER, "profile", {"a": 3}, content_time=3000.0)
    oldest = aggregate_message(OWNER, "profile", {"a": 1, "o": True}, content_time=1000.0)
    await publish_all(client, [middle, newest, oldest])
    body = (await address_aggregates(client, OWNER.address, with_info="true")).json()
    assert body["data"] == {"profile": {"a": 3, "m": True, "o": True}}
    info = body["info"]["profile"]
    assert info["original_item_hash"] == oldest["item_hash"]
    assert info["last_update_item_hash"] == newest["item_hash"]
    assert datetime.fromisoformat(info["created"]).timestamp() == 1000.0
    assert datetime.fromisoformat(info["last_updated"]).timestamp() == 3000.0


async def test_equal_content_times_are_ordered_by_hash(client: httpx.AsyncClient) -> None:
    first, second = sorted(
        (aggregate_message(OWNER, "tie", {"v": n}, content_time=500.0) for n in (1, 2)),
        key=lambda message: message["item_hash"],
    )
    await publish_all(client, [second, first])
    body = (await address_aggregates(client, OWNER.address)).json()
    assert body["data"]["tie"] == expected_merge([first, second])[(OWNER.address, "tie")]


async def test_null_values_are_kept(client: httpx.AsyncClient) -> None:
    await publish_all(
        client,
        [
            aggregate_message(OWNER, "settings", {"a": 1, "b": 2}, content_time=1.0),
            aggregate_message(OWNER, "settings", {"b": None, "c": None}, content_time=2.0),
        ],
    )
    body = (await address_aggregates(client, OWNER.address)).json()
    assert body["data"] == {"settings": {"a": 1, "b": None, "c": None}}


async def test_keys_value_only_and_info(client: httpx.AsyncClient) -> None:
    await publish_all(
        client,
        [
            aggregate_message(OWNER, "one", {"x": 1}),
            aggregate_message(OWNER, "two", {"y": 2}),
        ],
    )
    every = (await address_aggregates(client, OWNER.address)).json()
    assert every == {
        "address": OWNER.address,
        "data": {"one": {"x": 1}, "two": {"y": 2}},
        "info": {},
    }
    only_two = (await address_aggregates(client, OWNER.address, keys="two", with_info=1)).json()
    assert only_two["data"] == {"two": {"y": 2}}
    assert set(only_two["info"]) == {"two"}
    assert set(only_two["info"]["two"]) == {
        "created",
        "last_updated",
        "original_item_hash",
        "last_update_item_hash",
    }
    value = await address_aggregates(client, OWNER.address, keys="one", value_only="true")
    assert value.json() == {"x": 1}
    both = await address_aggregates(client, OWNER.address, keys="one,two", value_only="true")
    assert set(both.json()["data"]) == {"one", "two"}


async def test_unknown_address_or_key_is_404(client: httpx.AsyncClient) -> None:
    response = await address_aggregates(client, OWNER.address)
    assert response.status_code == 404
    assert response.json() == {"error": "No aggregate found for this address"}
    await publish_all(client, [aggregate_message(OWNER, "one", {"x": 1})])
    assert (await address_aggregates(client, OWNER.address, keys="other")).status_code == 404


async def test_aggregate_list_pages_sorts_and_filters(client: httpx.AsyncClient) -> None:
    await publish_all(
        client,
        [
            aggregate_message(OWNER, "k1", {"n": 1}, content_time=100.0),
            aggregate_message(OWNER, "k2", {"n": 2}, content_time=300.0),
            aggregate_message(STRANGER, "k1", {"n": 3}, content_time=200.0),
            aggregate_message(OWNER, "k1", {"n": 4}, content_time=400.0),
        ],
    )
    listed = (await client.get("/api/v0/aggregates.json")).json()
    assert [(item["address"], item["key"]) for item in listed["aggregates"]] == [
        (OWNER.address, "k1"),
        (OWNER.address, "k2"),
        (STRANGER.address, "k1"),
    ]
    assert listed["aggregates"][0]["content"] == {"n": 4}
    assert set(listed["aggregates"][0]) == {"address", "key", "content", "created", "last_updated"}
    assert (listed["pagination_total"], listed["pagination_item"]) == (3, "aggregates")

    by_creation = await client.get(
        "/api/v0/aggregates",
        params={"sortBy": "creation_time", "sortOrder": 1, "pagination": 2, "page": 2},
    )
    body = by_creation.json()
    assert [item["key"] for item in body["aggregates"]] == ["k2"]
    assert (body["pagination_page"], body["pagination_per_page"]) == (2, 2)

    filtered = await client.get(
        "/api/v0/aggregates.json", params={"keys": "k1", "addresses": STRANGER.address}
    )
    assert [item["content"] for item in filtered.json()["aggregates"]] == [{"n": 3}]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"pagination": 0}, "pagination"),
        ({"pagination": 501}, "pagination"),
        ({"page": 0}, "page"),
        ({"sortBy": "size"}, "sortBy"),
        ({"sortOrder": 2}, "sortOrder"),
    ],
)
async def test_bad_list_parameters_are_named(
    client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    response = await client.get("/api/v0/aggregates.json", params=params)
    assert response.status_code == 422
    assert named in response.json()["error"]


async def test_delegate_writes_for_the_owner_within_its_keys(client: httpx.AsyncClient) -> None:
    await grant(client, OWNER, DELEGATE, aggregate_keys=["profile"])
    allowed = aggregate_message(DELEGATE, "profile", {"by": "delegate"}, address=OWNER.address)
    assert (await publish(client, allowed)).status_code == 200
    outside = aggregate_message(DELEGATE, "wallet", {"by": "delegate"}, address=OWNER.address)
    await expect_rejected(client, outside, error_code=2)
    stranger = aggregate_message(STRANGER, "profile", {"by": "stranger"}, address=OWNER.address)
    await expect_rejected(client, stranger, error_code=2)
    body = (await address_aggregates(client, OWNER.address, keys="profile")).json()
    assert body["data"] == {"profile": {"by": "delegate"}}


async def test_delegate_posts_for_the_owner_a_stranger_does_not(
    client: httpx.AsyncClient,
) -> None:
    await grant(client, OWNER, DELEGATE, types=["POST"], post_types=["note"])
    for_owner = post_message(DELEGATE, address=OWNER.address)
    assert (await publish(client, for_owner)).status_code == 200
    await expect_rejected(
        client, post_message(DELEGATE, post_type="blog", address=OWNER.address), 2
    )
    await expect_rejected(client, post_message(STRANGER, address=OWNER.address), 2)


async def test_only_the_owner_changes_its_security_aggregate(client: httpx.AsyncClient) -> None:
    await grant(client, OWNER, DELEGATE)
    takeover = aggregate_message(
        DELEGATE,
        "security",
        {"authorizations": [{"address": STRANGER.address}]},
        address=OWNER.address,
    )
    await expect_rejected(client, takeover, error_code=2)


async def expect_rejected(
    client: httpx.AsyncClient, message: dict[str, Any], error_code: int
) -> None:
    response = await publish(client, message)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == error_code
