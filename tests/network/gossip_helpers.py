"""CCN processes that reach each other by libp2p gossip alone, and a rogue gossip peer.

Sync between them is effectively off (one round an hour) unless a test asks for it, so what
arrives was carried by gossip. Nodes know no HTTP peer at start: they learn each other's API
URLs from the ALIVE announcements.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from libp2p.crypto.ed25519 import create_new_key_pair

from alephnet.ccn.p2p.libp2p_gossip import Libp2pGossip
from alephnet.devnet.processes import CcnProcess
from tests.ccn.node_process import free_port
from tests.network.conftest import Network, eventually

NO_SYNC = 3600.0
ANNOUNCE_INTERVAL = 1.0
MESH_TIMEOUT = 30.0
TOPIC = "ALEPH-TEST"


def gossip_settings(monkeypatch: pytest.MonkeyPatch, sync_interval: float = NO_SYNC) -> None:
    monkeypatch.setenv("ALEPHNET_CCN_SYNC_INTERVAL", str(sync_interval))
    monkeypatch.setenv("ALEPHNET_CCN_ANNOUNCE_INTERVAL", str(ANNOUNCE_INTERVAL))


async def gossip_network(network: Network, count: int) -> list[CcnProcess]:
    """`count` nodes, not started, each bootstrapping from every other one."""
    nodes = await network.create(count)
    for node in nodes:
        node.peers = []
        node.p2p_port = free_port()
    for node in nodes:
        node.bootstrap = [other.multiaddr for other in nodes if other is not node]
    return nodes


async def metrics(http: httpx.AsyncClient, node: CcnProcess) -> dict[str, Any]:
    response = await http.get(f"{node.url}/metrics.json")
    response.raise_for_status()
    samples: dict[str, Any] = response.json()
    return samples


async def wait_for_mesh(http: httpx.AsyncClient, nodes: Sequence[CcnProcess]) -> None:
    """Until every node forwards the message topic to every other one: a message published
    from now on reaches everyone."""
    peers = len(nodes) - 1
    seen: dict[str, Any] = {}

    async def meshed() -> bool | None:
        for node in nodes:
            mesh = (await metrics(http, node)).get("alephnet_gossip_mesh_peers", [])
            seen[node.url] = {entry["topic"]: entry["value"] for entry in mesh}
        return True if all(topics.get(TOPIC, 0) >= peers for topics in seen.values()) else None

    await eventually(meshed, MESH_TIMEOUT, lambda: f"no gossip mesh: {seen}")


@asynccontextmanager
async def rogue_peer(target: CcnProcess) -> AsyncIterator[Libp2pGossip]:
    """A gossip peer of our own, connected to `target`, that publishes whatever it is told."""
    rogue = Libp2pGossip(create_new_key_pair(), "/ip4/127.0.0.1/tcp/0", [target.multiaddr])
    await rogue.start()
    try:

        async def connected() -> bool | None:
            return True if await rogue.peers() else None

        await eventually(connected, MESH_TIMEOUT, lambda: "the rogue peer could not connect")
        yield rogue
    finally:
        await rogue.stop()
