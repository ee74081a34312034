"""The node registry: a `corechannel` aggregate posted by a test key, read back as typed
nodes; and a network without one."""

from __future__ import annotations

import pytest

from alephnet.sdk import (
    NODE_REGISTRY_OWNER,
    AlephClient,
    AuthenticatedAlephClient,
    CoreNode,
    InvalidResponse,
    NotFound,
    ResourceNode,
)

CCN_HASH = "c" * 64
LINKED_CRN = "a" * 64
WAITING_CRN = "b" * 64
REGISTRY = {
    "nodes": [
        {
            "hash": CCN_HASH,
            "name": "core one",
            "owner": "0x" + "1" * 40,
            "status": "active",
            "score": 0.93,
            "total_staked": 500000.5,
            "multiaddress": "/ip4/127.0.0.1/tcp/4025/p2p/QmNode",
            "resource_nodes": [LINKED_CRN],
            "stakers": {"0x" + "2" * 40: 200000},
            "time": 1700000000.5,
        },
        {"hash": "d" * 64},
    ],
    "resource_nodes": [
        {
            "hash": LINKED_CRN,
            "name": "compute one",
            "address": "https://crn.example.org/",
            "status": "linked",
            "parent": CCN_HASH,
            "score": 0.8,
            "type": "compute",
        },
        {"hash": WAITING_CRN, "name": "compute two", "status": "waiting", "parent": None},
    ],
}


async def test_nodes_are_read_back_from_the_owner_registry(
    writer: AuthenticatedAlephClient,
) -> None:
    await writer.create_aggregate("corechannel", REGISTRY)
    registry = await writer.get_nodes(owner=writer.address)
    first, bare = registry.core_nodes
    assert first == CoreNode(
        hash=CCN_HASH,
        name="core one",
        owner="0x" + "1" * 40,
        status="active",
        score=0.93,
        total_staked=500000.5,
        multiaddress="/ip4/127.0.0.1/tcp/4025/p2p/QmNode",
        resource_nodes=[LINKED_CRN],
        time=1700000000.5,
    )
    assert (bare.hash, bare.name, bare.score, bare.resource_nodes) == ("d" * 64, "", None, [])
    linked, waiting = registry.resource_nodes
    assert isinstance(linked, ResourceNode)
    assert (linked.address, linked.parent, linked.status) == (
        "https://crn.example.org/",
        CCN_HASH,
        "linked",
    )
    assert (waiting.hash, waiting.parent, waiting.address) == (WAITING_CRN, None, None)


async def test_a_network_without_a_registry_says_so(reader: AlephClient) -> None:
    with pytest.raises(NotFound, match="no node registry on this network"):
        await reader.get_nodes()
    with pytest.raises(NotFound, match=NODE_REGISTRY_OWNER):
        await reader.get_nodes(NODE_REGISTRY_OWNER)


async def test_an_empty_registry_lists_no_nodes(writer: AuthenticatedAlephClient) -> None:
    await writer.create_aggregate("corechannel", {"nodes": [], "resource_nodes": []})
    registry = await writer.get_nodes(writer.address)
    assert (registry.core_nodes, registry.resource_nodes) == ([], [])


async def test_a_node_without_a_hash_is_an_invalid_registry(
    writer: AuthenticatedAlephClient,
) -> None:
    await writer.create_aggregate("corechannel", {"nodes": [{"name": "nameless"}]})
    with pytest.raises(InvalidResponse, match="node registry"):
        await writer.get_nodes(writer.address)
