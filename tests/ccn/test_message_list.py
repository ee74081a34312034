"""Listing messages: `/api/v0/messages.json`, its page route, cursors and the hash list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aleph_message.models import MessagesResponse

from alephnet.protocol import EvmSigner, MessageType, build_message
from tests.ccn.conftest import publish

BASE = 1_700_000_000.0
SIGNER_A = EvmSigner(bytes(range(1, 33)))
SIGNER_B = EvmSigner(bytes(range(2, 34)))


def signed(
    signer: EvmSigner,
    message_type: MessageType,
    at: float,
    channel: str = "TEST",
    **content: Any,
) -> dict[str, Any]:
    body = {"address": signer.address, "time": at, **content}
    return build_message(signer, message_type, body, channel=channel, time=at).message


def post(signer: EvmSigner, at: float, post_type: str = "note", **fields: Any) -> dict[str, Any]:
    channel = fields.pop("channel", "TEST")
    document = {"text": f"{post_type} at {at}", "tags": fields.pop("tags", [])}
    return signed(signer, MessageType.POST, at, channel, content=document, type=post_type, **fields)


DATASET = {
    "note": post(SIGNER_A, BASE + 1, tags=["red", "blue"]),
    "blog": post(SIGNER_A, BASE + 2, "blog", channel="BLOG", ref="some-ref", tags=["green"]),
    "other": post(SIGNER_B, BASE + 3),
    "tie": post(SIGNER_B, BASE + 3, tags=["red"]),
    "profile": signed(
        SIGNER_A, MessageType.AGGREGATE, BASE + 4, key="profile", content={"name": "A"}
    ),
}
HASHES = {name: message["item_hash"] for name, message in DATASET.items()}
NAMES = {item_hash: name for name, item_hash in HASHES.items()}
TIED = sorted(["other", "tie"], key=HASHES.__getitem__)
NEWEST_FIRST = ["profile", *TIED, "blog", "note"]
OLDEST_FIRST = ["note", "blog", *TIED, "profile"]


@pytest.fixture
async def dataset(client: httpx.AsyncClient) -> None:
    for message in DATASET.values():
        response = await publish(client, message)
        assert response.status_code == 200, response.text


async def listed(
    client: httpx.AsyncClient, url: str = "/api/v0/messages.json", **params: Any
) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def names(body: dict[str, Any]) -> list[str]:
    return [NAMES[message["item_hash"]] for message in body["messages"]]


@pytest.mark.usefixtures("dataset")
async def test_newest_first_with_the_reference_envelope(client: httpx.AsyncClient) -> None:
    body = await listed(client)
    assert set(body) == {
        "messages",
        "pagination_page",
        "pagination_total",
        "pagination_per_page",
        "pagination_item",
    }
    assert names(body) == NEWEST_FIRST
    assert (body["pagination_page"], body["pagination_total"]) == (1, 5)
    assert (body["pagination_per_page"], body["pagination_item"]) == (20, "messages")
    assert body["messages"][-1]["item_content"] == DATASET["note"]["item_content"]
    assert names(await listed(client, sortOrder=1)) == OLDEST_FIRST
    assert names(await listed(client, sortBy="tx-time")) == NEWEST_FIRST


@pytest.mark.usefixtures("dataset")
async def test_the_official_sdk_model_accepts_every_message(client: httpx.AsyncClient) -> None:
    body = await listed(client)
    parsed = MessagesResponse.model_validate(body)
    assert [message.item_hash for message in parsed.messages] == [
        HASHES[name] for name in NEWEST_FIRST
    ]


FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"msgType": "AGGREGATE"}, {"profile"}),
    ({"msgTypes": "POST"}, {"note", "blog", "other", "tie"}),
    ({"msgTypes": "POST,AGGREGATE"}, set(DATASET)),
    ({"addresses": SIGNER_B.address}, {"other", "tie"}),
    ({"owners": SIGNER_A.address}, {"note", "blog", "profile"}),
    ({"refs": "some-ref"}, {"blog"}),
    ({"contentTypes": "blog"}, {"blog"}),
    ({"contentKeys": "profile"}, {"profile"}),
    ({"contentHashes": "f" * 64}, set()),
    ({"channels": "BLOG"}, {"blog"}),
    ({"channels": "TEST,BLOG"}, set(DATASET)),
    ({"chains": "ETH"}, set(DATASET)),
    ({"chains": "SOL"}, set()),
    ({"tags": "blue,green"}, {"note", "blog"}),
    ({"tags": "red"}, {"note", "tie"}),
    ({"hashes": f"{HASHES['note']},{HASHES['profile']}"}, {"note", "profile"}),
    ({"paymentTypes": "hold"}, set()),
    ({"startDate": BASE + 2, "endDate": BASE + 3}, {"blog"}),
    ({"startDate": BASE + 3}, {"other", "tie", "profile"}),
    ({"msgStatuses": "processed"}, set(DATASET)),
    ({"msgStatuses": "pending,rejected"}, set()),
    ({"msgTypes": "POST", "addresses": SIGNER_A.address, "tags": "red"}, {"note"}),
]


@pytest.mark.usefixtures("dataset")
async def test_each_filter(client: httpx.AsyncClient) -> None:
    for params, expected in FILTER_CASES:
        body = await listed(client, **params)
        assert set(names(body)) == expected, params
        assert body["pagination_total"] == len(expected), params


@pytest.mark.usefixtures("dataset")
async def test_pages(client: httpx.AsyncClient) -> None:
    second = await listed(client, pagination=2, page=2)
    assert names(second) == NEWEST_FIRST[2:4]
    assert (second["pagination_page"], second["pagination_per_page"]) == (2, 2)
    assert second["pagination_total"] == 5
    assert await listed(client, "/api/v0/messages/page/2.json", pagination=2) == second
    beyond = await listed(client, pagination=2, page=9)
    assert (beyond["messages"], beyond["pagination_total"]) == ([], 5)
    everything = await listed(client, pagination=0)
    assert names(everything) == NEWEST_FIRST
    assert everything["pagination_per_page"] == 0


async def walk_by_cursor(client: httpx.AsyncClient, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = ""
    while cursor is not None:
        body = await listed(client, cursor=cursor, **params)
        assert "pagination_total" not in body
        assert len(body["messages"]) <= params["pagination"]
        seen += names(body)
        cursor = body["next_cursor"]
    return seen


@pytest.mark.usefixtures("dataset")
async def test_walking_by_cursor_gives_the_whole_list_once(client: httpx.AsyncClient) -> None:
    assert await walk_by_cursor(client, pagination=2) == NEWEST_FIRST
    assert await walk_by_cursor(client, pagination=1, sortOrder=1) == OLDEST_FIRST
    assert await walk_by_cursor(client, pagination=5) == NEWEST_FIRST
    posts = await walk_by_cursor(client, pagination=3, msgTypes="POST")
    assert posts == [name for name in NEWEST_FIRST if name != "profile"]


@pytest.mark.usefixtures("dataset")
async def test_content_formats(client: httpx.AsyncClient) -> None:
    headers = (await listed(client, contentFormat="headers", hashes=HASHES["blog"]))["messages"]
    assert headers[0]["content"] == {
        "address": SIGNER_A.address,
        "type": "blog",
        "ref": "some-ref",
    }
    aggregate = (await listed(client, contentFormat="headers", msgType="AGGREGATE"))["messages"]
    assert aggregate[0]["content"] == {"address": SIGNER_A.address, "key": "profile"}
    for params in ({"contentFormat": "none"}, {"excludeContent": "true"}):
        bare = (await listed(client, **params))["messages"][0]
        assert "content" not in bare
        assert "item_content" not in bare
        assert bare["item_hash"] == HASHES["profile"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"startDate": 10, "endDate": 5}, "endDate"),
        ({"msgTypes": "POST,BOGUS"}, "msgTypes"),
        ({"msgStatuses": "lost"}, "msgStatuses"),
        ({"chains": "NOWHERE"}, "chains"),
        ({"paymentTypes": "cash"}, "paymentTypes"),
        ({"sortOrder": 2}, "sortOrder"),
        ({"sortBy": "size"}, "sortBy"),
        ({"contentFormat": "some"}, "contentFormat"),
        ({"pagination": -1}, "pagination"),
        ({"page": 0}, "page"),
        ({"cursor": "", "pagination": 0}, "pagination"),
        ({"cursor": "", "pagination": 201}, "pagination"),
        ({"cursor": "", "sortBy": "tx-time"}, "sortBy"),
        ({"cursor": "bm90IGpzb24"}, "cursor"),
        ({"cursor": "eyJoIjoxfQ"}, "cursor"),
    ],
)
async def test_bad_parameters_are_422_naming_them(
    client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    response = await client.get("/api/v0/messages.json", params=params)
    assert response.status_code == 422, response.text
    assert named in response.json()["error"]


@pytest.mark.parametrize(
    "params",
    [
        {"msgStatuses": "forgotten,processed"},
        {"msgStatuses": "removed", "tags": "red"},
        {"msgStatuses": "forgotten", "refs": "x"},
        {"msgStatuses": "forgotten", "cursor": ""},
    ],
)
async def test_snapshot_statuses_refuse_what_they_cannot_answer(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    assert (await client.get("/api/v0/messages.json", params=params)).status_code == 400


@pytest.mark.usefixtures("dataset")
async def test_forgotten_messages_are_listed_apart(client: httpx.AsyncClient) -> None:
    forget = signed(SIGNER_A, MessageType.FORGET, BASE + 5, hashes=[HASHES["note"]])
    assert (await publish(client, forget)).status_code == 200
    live = await listed(client, msgTypes="POST,AGGREGATE")
    assert names(live) == [name for name in NEWEST_FIRST if name != "note"]
    forgotten = await listed(client, msgStatuses="forgotten")
    assert forgotten["pagination_total"] == 1
    [message] = forgotten["messages"]
    assert message["item_hash"] == HASHES["note"]
    assert message["forgotten_by"] == [forget["item_hash"]]
    assert "content" not in message
    assert (await listed(client, msgStatuses="forgotten", channels="BLOG"))["messages"] == []
    assert (await listed(client, msgStatuses="removed"))["messages"] == []


@pytest.mark.usefixtures("dataset")
async def test_hash_list(client: httpx.AsyncClient) -> None:
    url = "/api/v0/messages/hashes"
    body = await listed(client, url, sortOrder=1)
    assert body["hashes"] == list(HASHES.values())
    assert (body["pagination_item"], body["pagination_total"]) == ("hashes", 5)
    detailed = await listed(client, url, hash_only="false", pagination=2, status="processed")
    assert [entry["item_hash"] for entry in detailed["hashes"]] == list(HASHES.values())[::-1][:2]
    assert set(detailed["hashes"][0]) == {"status", "item_hash", "reception_time"}
    assert detailed["hashes"][0]["status"] == "processed"
    assert (await listed(client, url, status="rejected"))["hashes"] == []
    assert (await client.get(url, params={"status": "lost"})).status_code == 422


async def test_aggregate_tags_are_filterable(client: httpx.AsyncClient, signer: EvmSigner) -> None:
    body = {"address": signer.address, "time": 1.0, "key": "k", "content": {"tags": ["blue"]}}
    message = build_message(signer, MessageType.AGGREGATE, body, channel="TEST").message
    assert (await publish(client, message)).status_code == 200
    listed = (await client.get("/api/v0/messages.json", params={"tags": "blue"})).json()
    assert [m["item_hash"] for m in listed["messages"]] == [message["item_hash"]]
