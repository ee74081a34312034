"""Per-address views, the channel list, authorizations and the price estimate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from alephnet.ccn.db.engine import SessionFactory, create_engine, create_session_factory
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.models import AggregateRow, BalanceRow
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner, MessageType, build_message
from tests.ccn.conftest import publish

A = EvmSigner(bytes(range(1, 33)))
B = EvmSigner(bytes(range(2, 34)))
C_ADDRESS = "0x" + "c" * 40
D_ADDRESS = "0x" + "d" * 40


@pytest.fixture
async def sessions(settings: CcnSettings) -> AsyncIterator[SessionFactory]:
    """A second connection to the node's database, to put balances and aggregates in place."""
    engine = create_engine(settings.resolved_database_url)
    await upgrade_to_head(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def get(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def send(
    client: httpx.AsyncClient,
    signer: EvmSigner,
    message_type: MessageType,
    channel: str,
    **content: Any,
) -> str:
    body = {"address": signer.address, "time": 1.0, **content}
    message = build_message(signer, message_type, body, channel=channel).message
    response = await publish(client, message)
    assert response.status_code == 200, response.text
    return str(message["item_hash"])


@pytest.fixture
async def activity(client: httpx.AsyncClient) -> None:
    note = await send(client, A, MessageType.POST, "TEST", type="note", content={})
    await send(client, A, MessageType.POST, "BLOG", type="blog", content={})
    await send(client, A, MessageType.POST, "TEST", type="amend", ref=note, content={"v": 2})
    await send(client, A, MessageType.AGGREGATE, "TEST", key="profile", content={"x": 1})
    await send(client, B, MessageType.POST, "CHAT", type="note", content={})


def counts(messages: int = 0, **per_type: int) -> dict[str, int]:
    types = ("aggregate", "forget", "instance", "post", "program", "store")
    return {"messages": messages} | {name: per_type.get(name, 0) for name in types}


async def test_balance_is_zero_until_known(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    url = f"/api/v0/addresses/{A.address}/balance"
    assert await get(client, url) == {
        "address": A.address,
        "balance": 0,
        "details": {},
        "locked_amount": 0.0,
        "credit_balance": 0,
    }
    async with sessions() as session, session.begin():
        session.add(BalanceRow(address=A.address, chain="ETH", balance=10.5))
        session.add(BalanceRow(address=A.address, chain="SOL", balance=2.0))
    body = await get(client, url)
    assert (body["balance"], body["details"]) == (12.5, {"ETH": 10.5, "SOL": 2.0})
    assert (await get(client, url, chain="ETH"))["balance"] == 10.5


@pytest.mark.usefixtures("activity")
async def test_stats_v0(client: httpx.AsyncClient) -> None:
    url = "/api/v0/addresses/stats.json"
    only_a = await get(client, url, **{"addresses[]": A.address})
    assert only_a == {"data": {A.address: counts(4, post=3, aggregate=1)}}
    both = await client.get(url, params=[("addresses[]", A.address), ("addresses[]", B.address)])
    assert both.json()["data"][B.address] == counts(1, post=1)
    assert set((await get(client, url))["data"]) == {A.address, B.address}


@pytest.mark.usefixtures("activity")
async def test_stats_v1_sorted_paged_and_searched(client: httpx.AsyncClient) -> None:
    url = "/api/v1/addresses/stats.json"
    body = await get(client, url, sortBy="aggregate", sortOrder=1, pagination=1)
    assert body["data"] == {B.address: counts(1, post=1)}
    assert (body["pagination_total"], body["pagination_item"]) == (2, "data")
    second = await get(client, url, sortBy="aggregate", sortOrder=1, pagination=1, page=2)
    assert list(second["data"]) == [A.address]
    assert list((await get(client, url))["data"]) == [A.address, B.address]
    searched = await get(client, url, addressContains=B.address[2:10].upper())
    assert list(searched["data"]) == [B.address]
    assert searched["pagination_total"] == 1
    assert (await client.get(url, params={"sortBy": "size"})).status_code == 422


@pytest.mark.usefixtures("activity")
async def test_post_types_and_channels(client: httpx.AsyncClient) -> None:
    post_types = await get(client, f"/api/v0/addresses/{A.address}/post_types")
    assert post_types == {"address": A.address, "post_types": ["blog", "note"]}
    channels = await get(client, f"/api/v0/addresses/{A.address}/channels")
    assert channels == {"address": A.address, "channels": ["BLOG", "TEST"]}
    nobody = await get(client, f"/api/v0/addresses/{C_ADDRESS}/channels")
    assert nobody["channels"] == []
    everywhere = await get(client, "/api/v0/channels/list.json")
    assert everywhere == {"channels": ["BLOG", "CHAT", "TEST"]}


@pytest.fixture
async def delegations(sessions: SessionFactory) -> None:
    granted_by_a = [
        {"address": B.address, "channels": ["TEST"], "types": ["POST"]},
        {"address": C_ADDRESS, "chain": "ETH"},
        {"address": B.address, "post_types": ["blog"]},
        "not an entry",
    ]
    granted_by_d = [{"address": B.address.lower(), "aggregate_keys": ["profile"]}]
    async with sessions() as session, session.begin():
        for owner, entries in ((A.address, granted_by_a), (D_ADDRESS, granted_by_d)):
            session.add(
                AggregateRow(
                    owner=owner,
                    key="security",
                    content={"authorizations": entries},
                    created=1.0,
                    last_updated=1.0,
                    first_revision_hash="e" * 64,
                    last_revision_hash="e" * 64,
                )
            )


@pytest.mark.usefixtures("delegations")
async def test_granted_authorizations(client: httpx.AsyncClient) -> None:
    url = f"/api/v0/authorizations/granted/{A.address}.json"
    body = await get(client, url)
    assert body == {
        "address": A.address,
        "authorizations": {
            B.address: [{"channels": ["TEST"], "types": ["POST"]}, {"post_types": ["blog"]}],
            C_ADDRESS: [{"chain": "ETH"}],
        },
        "pagination_page": 1,
        "pagination_per_page": 20,
        "pagination_total": 2,
        "pagination_item": "authorizations",
    }
    assert list((await get(client, url, grantee=C_ADDRESS.upper()))["authorizations"]) == [
        C_ADDRESS
    ]
    elsewhere = (await get(client, url, channels="OTHER"))["authorizations"]
    assert elsewhere == {B.address: [{"post_types": ["blog"]}], C_ADDRESS: [{"chain": "ETH"}]}
    stores = (await get(client, url, types="STORE", chains="SOL"))["authorizations"]
    assert stores == {B.address: [{"post_types": ["blog"]}]}
    paged = await get(client, url, pagination=1, page=2)
    assert (list(paged["authorizations"]), paged["pagination_total"]) == ([C_ADDRESS], 2)
    assert (await get(client, f"/api/v0/authorizations/granted/{C_ADDRESS}.json"))[
        "authorizations"
    ] == {}


@pytest.mark.usefixtures("delegations")
async def test_received_authorizations(client: httpx.AsyncClient) -> None:
    url = f"/api/v0/authorizations/received/{B.address}.json"
    body = await get(client, url)
    assert body["authorizations"] == {
        A.address: [{"channels": ["TEST"], "types": ["POST"]}, {"post_types": ["blog"]}],
        D_ADDRESS: [{"aggregate_keys": ["profile"]}],
    }
    assert list((await get(client, url, granter=D_ADDRESS))["authorizations"]) == [D_ADDRESS]
    keyed = (await get(client, url, aggregateKeys="other"))["authorizations"]
    assert list(keyed) == [A.address]
    for bad in ({"pagination": 0}, {"pagination": 501}):
        assert (await client.get(url, params=bad)).status_code == 422


async def test_price_estimate_is_free_until_payments(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v0/price/estimate", json={"message": {"type": "STORE"}})
    assert response.status_code == 200
    assert response.json() == {"required_tokens": 0, "cost": "0", "payment_type": "hold"}
