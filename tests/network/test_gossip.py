"""Gossip between real CCN processes on loopback (issue 5): with sync effectively off, a
message posted to one node is processed on the others; forged, malformed and flooded junk
injected on the gossip topic is refused by every node and gossip goes on; a node cut off by
the partition switch converges with the others once it rejoins."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import orjson
import pytest

from alephnet.ccn.p2p.penalties import PenaltyRules
from alephnet.devnet.processes import CcnProcess
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message
from tests.network.conftest import (
    Network,
    eventually,
    message_status,
    post_all,
    start_all,
    wait_converged,
    wait_for_status,
    whole_digest,
)
from tests.network.gossip_helpers import (
    TOPIC,
    gossip_network,
    gossip_settings,
    metrics,
    rogue_peer,
    wait_for_mesh,
)
from tests.network.test_convergence import forged_messages

pytestmark = pytest.mark.slow

SIGNERS = [EvmSigner(bytes([n + 60]) * 32) for n in range(3)]
QUIET = 2.0
"""How long a node is watched for a message that must not arrive."""


async def _isolated(http: httpx.AsyncClient, node: CcnProcess, expected: bool) -> bool | None:
    """True once the node's partition switch is in the `expected` position."""
    return True if (await metrics(http, node))["alephnet_gossip_isolated"] == expected else None


def payload(message: object) -> bytes:
    return orjson.dumps(message, option=orjson.OPT_SORT_KEYS)


async def test_a_message_posted_to_one_node_is_processed_on_the_others(
    network: Network, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gossip_settings(monkeypatch)
    a, b, c = await gossip_network(network, 3)
    await start_all([a, b, c])
    await wait_for_mesh(http, [a, b, c])

    message = post_message(SIGNERS[0], {"by": "gossip"})
    response = await http.post(f"{a.url}/api/v0/messages", json={"message": message})
    assert response.status_code == 202, response.text
    started = time.monotonic()
    for node in (b, c):
        await wait_for_status(http, node, message["item_hash"], "processed", timeout=15)
    print(f"\ngossip: processed on b and c {time.monotonic() - started:.2f} s after the 202")
    samples = await metrics(http, b)
    assert samples["alephnet_sync_pulled_total"] == 0, "sync, not gossip, carried it"


async def test_forged_and_malformed_gossip_is_refused_everywhere_and_gossip_goes_on(
    network: Network, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gossip_settings(monkeypatch)
    a, b, c = await gossip_network(network, 3)
    await start_all([a, b, c])
    await wait_for_mesh(http, [a, b, c])
    forged = forged_messages()

    async with rogue_peer(a) as rogue:
        for message in forged.values():
            await rogue.publish(TOPIC, payload(message))
        for junk in (b"not json", b"[1, 2]", payload({"item_hash": "00"})):
            await rogue.publish(TOPIC, junk)
        honest = post_message(SIGNERS[1], {"from": "a gossip peer"})
        await rogue.publish(TOPIC, payload(honest))
        for node in (a, b, c):
            await wait_for_status(http, node, honest["item_hash"], "processed", timeout=15)

    after = post_message(SIGNERS[2], {"after": "junk"})
    await post_all(c, [after])
    for node in (a, b):
        await wait_for_status(http, node, after["item_hash"], "processed", timeout=15)
    for node in (a, b, c):
        for name, message in forged.items():
            assert await message_status(http, node, message["item_hash"]) is None, name
    assert (await metrics(http, a))["alephnet_gossip_invalid_total"] == len(forged) + 3
    for node in (b, c):
        assert (await metrics(http, node))["alephnet_gossip_invalid_total"] == 0, "forwarded"


async def test_a_peer_flooding_junk_is_banned_and_not_obeyed(
    network: Network, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gossip_settings(monkeypatch)
    a, b = await gossip_network(network, 2)
    await start_all([a, b])
    await wait_for_mesh(http, [a, b])
    tolerated = PenaltyRules().max_invalid

    async with rogue_peer(a) as rogue:
        await asyncio.gather(
            *(rogue.publish(TOPIC, payload({"junk": n})) for n in range(10 * tolerated))
        )

        async def banned() -> bool | None:
            return True if (await metrics(http, a))["alephnet_gossip_banned_peers_total"] else None

        await eventually(banned, 15, lambda: "the flooding peer was not banned")
        ignored = post_message(SIGNERS[0], {"from": "a banned peer"})
        await rogue.publish(TOPIC, payload(ignored))
        await asyncio.sleep(QUIET)
        assert await message_status(http, a, ignored["item_hash"]) is None

    samples = await metrics(http, a)
    assert tolerated < samples["alephnet_gossip_invalid_total"] < 10 * tolerated
    honest = post_message(SIGNERS[1], {"after": "the flood"})
    await post_all(b, [honest])
    await wait_for_status(http, a, honest["item_hash"], "processed", timeout=15)


async def test_a_node_cut_off_by_the_partition_switch_converges_after_rejoining(
    network: Network, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gossip_settings(monkeypatch, sync_interval=1.0)
    a, b, c = await gossip_network(network, 3)
    await start_all([a, b, c])
    await wait_for_mesh(http, [a, b, c])

    c.send_signal(signal.SIGUSR1)

    await eventually(lambda: _isolated(http, c, expected=True), 10, lambda: "c did not isolate")
    on_a = [post_message(SIGNERS[0], {"side": "a", "n": n}) for n in range(20)]
    on_c = [post_message(SIGNERS[1], {"side": "c", "n": n}) for n in range(20)]
    await asyncio.gather(post_all(a, on_a), post_all(c, on_c))
    await wait_converged(http, [a, b], len(on_a), timeout=30)
    await asyncio.sleep(QUIET)
    assert (await whole_digest(http, a))[0] == len(on_a), "the partition leaked"
    for message in on_a:
        assert await message_status(http, c, message["item_hash"]) is None, "leaked"

    c.send_signal(signal.SIGUSR2)
    await eventually(lambda: _isolated(http, c, expected=False), 10, lambda: "c did not rejoin")
    healed = await wait_converged(http, [a, b, c], len(on_a) + len(on_c), timeout=60)
    print(f"\npartition healed: converged {healed:.2f} s after the rejoin signal")
    await wait_for_mesh(http, [a, b, c])
    after = post_message(SIGNERS[2], {"after": "healing"})
    await post_all(c, [after])
    for node in (a, b):
        await wait_for_status(http, node, after["item_hash"], "processed", timeout=15)
