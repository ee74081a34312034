"""Convergence of real CCN processes on loopback that reach each other by anti-entropy sync
(issue 5's acceptance, without gossip): propagation and files, catch-up after a stop, a healed
partition with aggregates written on both sides, and a peer serving forged messages."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx
import pytest

from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message
from tests.ccn.message_builders import aggregate_message, expected_merge
from tests.ccn.storage_helpers import sha256_hex, store_message, upload_form
from tests.network.conftest import (
    FakePeer,
    Network,
    aggregates_of,
    message_status,
    post_all,
    restart,
    serving,
    start_all,
    stop,
    view,
    wait_converged,
    wait_for_status,
    whole_digest,
)

pytestmark = pytest.mark.slow

SIGNERS = [EvmSigner(bytes([n + 40]) * 32) for n in range(4)]
KEYS = ("profile", "settings")
CATCH_UP_BOUND = 180.0


def aggregate_revisions(count: int, base: float) -> list[dict[str, Any]]:
    """Revisions of the KEYS of two addresses, revision i dated base + i (so revisions sent to
    different nodes interleave in content.time), each overwriting some fields of the others."""
    return [
        aggregate_message(
            SIGNERS[n % 2], KEYS[n // 2 % 2], {"rev": n, f"f{n % 5}": n, "by": n % 3}, base + n
        )
        for n in range(count)
    ]


def merged_by_address(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The expected /aggregates/{address}.json data of each address, computed by the test."""
    merged: dict[str, dict[str, Any]] = {}
    for (address, key), value in expected_merge(messages).items():
        merged.setdefault(address, {})[key] = value
    return merged


def split(messages: list[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    """Round-robin: neighbours (in content time) go to different nodes."""
    return [messages[index::parts] for index in range(parts)]


async def test_a_message_and_a_file_reach_every_node(
    network: Network, http: httpx.AsyncClient
) -> None:
    a, b, c = await network.create(3)
    await start_all([a, b, c])
    message = post_message(SIGNERS[0], {"to": "everyone"})
    response = await http.post(f"{a.url}/api/v0/messages", json={"message": message, "sync": True})
    assert response.status_code == 200, response.text
    data = random.Random(5).randbytes(3 * 1024 * 1024 + 17)
    store = store_message(SIGNERS[0], sha256_hex(data))
    response = await http.post(f"{a.url}/api/v0/storage/add_file", files=upload_form(data, store))
    assert response.status_code == 200, response.text

    for node in (b, c):
        await wait_for_status(http, node, message["item_hash"], "processed")
        await wait_for_status(http, node, store["item_hash"], "processed")
    download = await http.get(f"{c.url}/api/v0/storage/raw/{sha256_hex(data)}")
    assert download.status_code == 200
    assert sha256_hex(download.content) == sha256_hex(data)
    assert download.content == data


async def test_a_stopped_node_catches_up_on_1000_messages(
    network: Network, http: httpx.AsyncClient
) -> None:
    a, b, c = await network.create(3)
    await start_all([a, b, c])
    await stop(c)

    base = time.time() - 3600
    originals = [post_message(SIGNERS[n % 4], {"n": n}, time=base + n / 100) for n in range(700)]
    aggregates = aggregate_revisions(200, base)
    amends = [
        post_message(
            SIGNERS[n % 4], {"n": n, "amended": True}, "amend",
            ref=originals[n]["item_hash"], time=base + 1800 + n,
        )
        for n in range(100)
    ]  # fmt: skip
    # An amend goes where its original went, once the original is processed there.
    first = split(originals + aggregates, 2)
    await asyncio.gather(post_all(a, first[0]), post_all(b, first[1]))
    await wait_converged(http, [a, b], 900, timeout=CATCH_UP_BOUND)
    amend_parts = [[amends[n] for n in range(part, 100, 2)] for part in range(2)]
    await asyncio.gather(post_all(a, amend_parts[0]), post_all(b, amend_parts[1]))
    await wait_converged(http, [a, b], 1000, timeout=CATCH_UP_BOUND)

    started = time.monotonic()
    await c.start()
    up = time.monotonic() - started
    elapsed = up + await wait_converged(http, [a, b, c], 1000, timeout=CATCH_UP_BOUND)
    print(
        f"\ncatch-up: 1000 messages in {elapsed:.2f} s from restart ({up:.2f} s to API up): "
        f"{1000 / elapsed:.0f} msg/s; {1000 / (elapsed - up):.0f} msg/s once up"
    )

    addresses = [signer.address for signer in SIGNERS]
    views = [await view(http, node, addresses) for node in (a, b, c)]
    assert views[2] == views[0] == views[1]
    assert len(views[2].hashes) == 1000
    expected = merged_by_address(aggregates)
    assert {address: views[2].aggregates[address] for address in expected} == expected
    contents = {post["original_item_hash"]: post["content"] for post in views[2].posts}
    assert len(contents) == 700
    for n, original in enumerate(originals):
        wanted = {"n": n, "amended": True} if n < 100 else {"n": n}
        assert contents[original["item_hash"]] == wanted


async def test_a_healed_partition_converges_with_aggregates_merged_by_content_time(
    network: Network, http: httpx.AsyncClient
) -> None:
    a, b, c = await network.create(3)
    await start_all([a, b, c])
    common = post_message(SIGNERS[0], {"before": "partition"})
    await post_all(a, [common])
    await wait_converged(http, [a, b, c], 1, timeout=30)

    # Partition {a, b} | {c}: the nodes restart with peers on their own side only.
    await asyncio.gather(restart(a, [b]), restart(b, [a]), restart(c, []))
    base = time.time() - 600
    revisions = aggregate_revisions(30, base)
    posts = [post_message(SIGNERS[n % 4], {"side": n % 3}, time=base + n) for n in range(30)]
    on_a, on_b, on_c = (
        revisions_part + posts_part
        for revisions_part, posts_part in zip(split(revisions, 3), split(posts, 3), strict=True)
    )
    await asyncio.gather(post_all(a, on_a), post_all(b, on_b), post_all(c, on_c))
    await wait_converged(http, [a, b], 1 + len(on_a) + len(on_b), timeout=60)
    await wait_converged(http, [c], 1 + len(on_c), timeout=60)
    assert (await whole_digest(http, a))[0] == 1 + len(on_a) + len(on_b), "the partition leaked"
    expected = merged_by_address(revisions)
    address = SIGNERS[0].address
    assert await aggregates_of(http, a, address) != expected[address]
    assert await aggregates_of(http, c, address) != expected[address]

    await asyncio.gather(restart(a, [b, c]), restart(b, [a, c]), restart(c, [a, b]))
    healed = await wait_converged(http, [a, b, c], 61, timeout=60)
    print(f"\npartition healed: 3 nodes converged {healed:.2f} s after the restarts")
    views = [await view(http, node, [signer.address for signer in SIGNERS]) for node in (a, b, c)]
    assert views[0] == views[1] == views[2]
    assert {key: views[0].aggregates[key] for key in expected} == expected


def forged_messages() -> dict[str, dict[str, Any]]:
    """Messages a lying peer serves, by the hash it lists them under."""
    victim = SIGNERS[1]
    bad_signature = post_message(victim, {"forged": "signature"})
    bad_signature["signature"] = post_message(victim, {"other": 1})["signature"]
    tampered = post_message(victim, {"forged": "content"})
    tampered["item_content"] = json.dumps({**json.loads(tampered["item_content"]), "extra": 1})
    malformed = {"item_hash": "f" * 64, "type": "POST", "chain": "ETH", "time": time.time()}
    return {
        "bad signature": bad_signature,
        "tampered content": tampered,
        "malformed": malformed,
    }


async def test_forged_messages_from_a_peer_are_rejected_and_sync_goes_on(
    network: Network, http: httpx.AsyncClient
) -> None:
    forged = forged_messages()
    fake = FakePeer({m["item_hash"]: (float(m["time"]), m) for m in forged.values()})
    a, node = await network.create(2)
    a.peers = []
    node.peers = [fake.url, a.url]  # the liar first: its round must not stop the honest one
    with serving(fake):
        await start_all([a, node])
        await wait_for_status(http, node, forged["bad signature"]["item_hash"], "rejected")
        honest = post_message(SIGNERS[2], {"honest": True})
        await post_all(a, [honest])
        await wait_for_status(http, node, honest["item_hash"], "processed")
        await wait_converged(http, [a, node], 1, timeout=30)
        outcomes = {}
        for name, message in forged.items():
            record = await message_status(http, node, message["item_hash"])
            assert record is None or record["status"] == "rejected", (name, record)
            outcomes[name] = (
                "unknown" if record is None else (record["status"], record.get("error_code")),
                fake.served.get(message["item_hash"], 0),
            )
        print(f"\nforged messages on the node (outcome, times the liar served it): {outcomes}")
