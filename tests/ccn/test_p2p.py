"""The gossip's parts that need no network: Aleph's message id, the node key, junk penalties,
the trio/asyncio bridge, and the topics' validation."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from pydantic import ValidationError

from alephnet.ccn.p2p import service as service_module
from alephnet.ccn.p2p.bridge import BridgeClosed, Inbox, TrioPortal, TrioThread
from alephnet.ccn.p2p.interface import GossipMessage
from alephnet.ccn.p2p.libp2p_gossip import Libp2pGossip
from alephnet.ccn.p2p.message_id import aleph_message_id, siphash13
from alephnet.ccn.p2p.node_key import (
    NodeKeyError,
    load_or_create_seed,
    node_key_path,
    peer_id_of,
)
from alephnet.ccn.p2p.penalties import Penalties, PenaltyRules
from alephnet.ccn.p2p.service import (
    GROUP_WINDOW,
    MAX_PUBLISH_GROUP,
    PUBLISH_WINDOW,
    GossipService,
    GossipSettings,
)
from alephnet.ccn.p2p.topics import (
    announcements,
    message_payload,
    read_announcement,
    read_message,
    valid_message,
)
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message
from tests.ccn.traffic import presigned_posts

SIGNER = EvmSigner(bytes([7]) * 32)
PEER = "12D3KooWMbbPVGsZYh3ChQjue712NHHGNybRRXwnuSpezYjGbCDS"

# --- message id --------------------------------------------------------------------------

RUST_IDS = {
    b"": b"13646096770106105413",
    b"hello": b"9754003402134539932",
    b'{"chain":"ETH","item_hash":"abc"}': b"13909694039284563731",
}
"""`DefaultHasher` over `Vec<u8>` then `finish().to_string()`, computed with rustc 1.x std."""


@pytest.mark.parametrize(("payload", "expected"), RUST_IDS.items())
def test_message_ids_match_the_rust_p2p_service(payload: bytes, expected: bytes) -> None:
    assert aleph_message_id(payload) == expected


def test_siphash13_matches_cpython_with_a_zero_key() -> None:
    """CPython hashes bytes with SipHash-1-3, keyed with zeros when PYTHONHASHSEED=0."""
    samples = [os.urandom(size) for size in (1, 7, 8, 9, 15, 16, 17, 64, 1000)]
    script = "import sys; print(*(hash(bytes.fromhex(a)) for a in sys.argv[1:]))"
    output = subprocess.run(
        [sys.executable, "-c", script, *(sample.hex() for sample in samples)],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for sample, cpython in zip(samples, output, strict=True):
        signed = (
            siphash13(sample) - (1 << 64) if siphash13(sample) >= 1 << 63 else siphash13(sample)
        )
        assert (signed if signed != -1 else -2) == int(cpython)


# --- node key ----------------------------------------------------------------------------


def test_the_node_key_is_created_once_owner_only_and_gives_a_stable_peer_id(
    tmp_path: Path,
) -> None:
    first = peer_id_of(tmp_path / "node")
    assert peer_id_of(tmp_path / "node") == first
    key_pair = create_new_key_pair(load_or_create_seed(tmp_path / "node"))
    assert first == str(ID.from_pubkey(key_pair.public_key)), "libp2p derives another id"
    assert node_key_path(tmp_path / "node").stat().st_mode & 0o777 == 0o600
    assert peer_id_of(tmp_path / "other") != first


def test_a_damaged_node_key_is_refused_by_name(tmp_path: Path) -> None:
    tmp_path.joinpath("p2p-node.key").write_bytes(b"short")
    with pytest.raises(NodeKeyError, match="5 bytes"):
        peer_id_of(tmp_path)


# --- penalties ---------------------------------------------------------------------------

RULES = PenaltyRules(max_invalid=3, window=10.0, ban_seconds=60.0)


def test_a_peer_is_banned_past_the_tolerated_junk_within_the_window() -> None:
    penalties = Penalties(RULES)
    assert [penalties.record_invalid("p", now) for now in (0, 1, 2, 3)] == [
        False, False, False, True,
    ]  # fmt: skip
    assert penalties.is_banned("p", 30.0)
    assert not penalties.is_banned("q", 30.0)
    assert penalties.lifted(62.0) == []
    assert penalties.lifted(64.0) == ["p"]
    assert not penalties.is_banned("p", 64.0)


def test_junk_spread_out_in_time_is_tolerated() -> None:
    penalties = Penalties(RULES)
    assert not any(penalties.record_invalid("p", 6.0 * n) for n in range(20))


# --- bridge ------------------------------------------------------------------------------


async def _serve(portal: TrioPortal) -> None:
    portal.ready()
    await trio.sleep_forever()


async def _double_later(value: int) -> int:
    await trio.sleep(0.01)
    return 2 * value


async def _fail() -> None:
    raise ValueError("from trio")


async def test_calls_cross_to_trio_and_back_with_results_and_errors() -> None:
    thread = TrioThread(_serve, name="test-trio")
    await thread.start()
    try:
        assert await asyncio.gather(*(thread.call(_double_later, n) for n in range(50))) == [
            2 * n for n in range(50)
        ]
        with pytest.raises(ValueError, match="from trio"):
            await thread.call(_fail)
    finally:
        await thread.stop()
    assert not thread.running
    with pytest.raises(BridgeClosed):
        await thread.call(_double_later, 1)


async def test_a_main_that_fails_at_start_fails_start() -> None:
    async def broken(_portal: TrioPortal) -> None:
        raise OSError("port in use")

    with pytest.raises(OSError, match="port in use"):
        await TrioThread(broken, name="test-trio").start()


async def test_the_inbox_keeps_order_and_counts_what_it_drops_when_full() -> None:
    inbox: Inbox[int] = Inbox(asyncio.get_running_loop(), capacity=3)

    async def offer_from_trio() -> None:
        for item in range(5):
            inbox.offer(item)

    thread = TrioThread(_serve, name="test-trio")
    await thread.start()
    try:
        await thread.call(offer_from_trio)
        await asyncio.sleep(0.05)
    finally:
        await thread.stop()
    assert [await inbox.get() for _ in range(3)] == [0, 1, 2]
    assert inbox.dropped == 2


async def test_the_inbox_wakes_the_loop_once_for_what_arrives_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    wake_ups: list[object] = []
    call_soon_threadsafe = loop.call_soon_threadsafe

    def counted(*args: Any) -> asyncio.Handle:
        wake_ups.append(args[0])
        return call_soon_threadsafe(*args)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    inbox: Inbox[int] = Inbox(loop, capacity=10)
    for item in range(5):
        inbox.offer(item)  # the loop runs none of its callbacks meanwhile
    assert [await inbox.get() for _ in range(5)] == [0, 1, 2, 3, 4]
    inbox.offer(5)
    assert await inbox.get() == 5
    assert len(wake_ups) == 2


# --- topics ------------------------------------------------------------------------------


def gossiped(message: object, origin: str = PEER, topic: str = "ALEPH-TEST") -> GossipMessage:
    data = message if isinstance(message, bytes) else orjson.dumps(message)
    return GossipMessage(topic, data, origin)


def test_only_parsable_messages_with_a_valid_signature_pass_the_message_topic() -> None:
    message = post_message(SIGNER, {"a": 1})
    assert valid_message(gossiped(message))
    forged = {**message, "signature": post_message(SIGNER, {"b": 2})["signature"]}
    assert not valid_message(gossiped(forged))
    assert not valid_message(gossiped(b"not json"))
    assert not valid_message(gossiped({"item_hash": "00"}))


def test_an_announcement_must_name_its_own_signer() -> None:
    own = f"/ip4/127.0.0.1/tcp/4025/p2p/{PEER}"
    p2p, http = announcements([own], "http://127.0.0.1:4024", now=1.0)
    assert read_announcement(gossiped(p2p, topic="ALIVE")) is not None
    assert read_announcement(gossiped(p2p, origin="12D3KooWother", topic="ALIVE")) is None
    announced = read_announcement(gossiped(http, topic="ALIVE"))
    assert announced is not None
    assert announced.address == "http://127.0.0.1:4024"
    assert announced.peer_type == "HTTP"
    assert read_announcement(gossiped({"address": "ftp://x", "peer_type": "HTTP"})) is None
    assert read_announcement(gossiped(b"{}")) is None


# --- settings ----------------------------------------------------------------------------


def test_a_bootstrap_peer_without_its_peer_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="/p2p/<peer id>"):
        CcnSettings(bootstrap_peers=["/ip4/127.0.0.1/tcp/4025"])
    assert CcnSettings(bootstrap_peers=[f"/ip4/127.0.0.1/tcp/4025/p2p/{PEER}"]).bootstrap_peers


async def test_gossip_on_a_port_in_use_fails_to_start_by_name() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        gossip = Libp2pGossip(create_new_key_pair(), f"/ip4/127.0.0.1/tcp/{port}", [])
        with pytest.raises(OSError, match="cannot listen"):
            await gossip.start()
    assert not gossip.running


# --- the node's side: gossip into the intake -----------------------------------------------


class _ScriptedGossip:
    """Delivers what the test puts in `messages` and records what the node publishes on the
    message topic; ALIVE stays silent both ways."""

    peer_id = PEER

    def __init__(self) -> None:
        self.listen_addresses: list[str] = []
        self.messages: asyncio.Queue[GossipMessage] = asyncio.Queue()
        self.published: list[tuple[bytes, ...]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, topic: str, *payloads: bytes) -> None:
        if topic == "ALEPH-TEST":
            self.published.append(payloads)

    async def subscribe(self, topic: str, validator: Any = None) -> Any:
        return self._delivered() if topic == "ALEPH-TEST" else _never()

    async def _delivered(self) -> Any:
        while True:
            yield await self.messages.get()


async def _never() -> Any:
    await asyncio.Event().wait()
    yield


class _RecordingIntake:
    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    async def submit_many(self, messages: list[Any], origin: str) -> list[Any]:
        self.groups.append([message.item_hash for message in messages])
        return messages


def _service(gossip: _ScriptedGossip, intake: _RecordingIntake) -> GossipService:
    """The node's gossip service on scripted gossip, without sync."""
    settings = GossipSettings("ALEPH-TEST", "http://127.0.0.1:1", announce_interval=3600)
    return GossipService(gossip, intake, None, settings)  # type: ignore[arg-type]


async def test_messages_delivered_within_the_window_enter_the_intake_as_one_group() -> None:
    gossip, intake = _ScriptedGossip(), _RecordingIntake()
    service = _service(gossip, intake)
    burst = presigned_posts(5)
    await service.start()
    try:
        for message in burst[:3]:
            gossip.messages.put_nowait(gossiped(message))
        gossip.messages.put_nowait(gossiped(b"not json"))
        for message in burst[3:]:
            gossip.messages.put_nowait(gossiped(message))
        await asyncio.sleep(GROUP_WINDOW * 3)
    finally:
        await service.stop()
    assert intake.groups == [[message["item_hash"] for message in burst]]
    assert service.counts.submitted == 5


async def test_messages_accepted_within_the_window_are_published_as_one_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first message goes at once (nothing was published for a window); the two accepted
    right after gather for a window and go together; one accepted after a quiet window goes
    at once again. The window is long enough that a slow machine keeps the order of the
    steps."""
    window = 0.3
    monkeypatch.setattr(service_module, "PUBLISH_WINDOW", window)
    gossip = _ScriptedGossip()
    service = _service(gossip, _RecordingIntake())
    accepted = [read_message(orjson.dumps(message)) for message in presigned_posts(3)]
    payloads = tuple(message_payload(message) for message in accepted)
    await service.start()
    try:
        service.publish(accepted[0])
        await asyncio.sleep(0)  # the publisher's turn
        assert gossip.published == [payloads[:1]]
        service.publish(accepted[1])
        service.publish(accepted[2])
        await asyncio.sleep(0)
        assert gossip.published == [payloads[:1]]
        await asyncio.sleep(window * 1.5)
        assert gossip.published == [payloads[:1], payloads[1:]]
        await asyncio.sleep(window * 1.5)
        service.publish(accepted[0])
        await asyncio.sleep(0)
    finally:
        await service.stop()
    assert gossip.published == [payloads[:1], payloads[1:], payloads[:1]]


async def test_a_backlog_is_published_in_groups_of_at_most_the_cap() -> None:
    gossip = _ScriptedGossip()
    service = _service(gossip, _RecordingIntake())
    message = read_message(orjson.dumps(presigned_posts(1)[0]))
    for _ in range(MAX_PUBLISH_GROUP + 1):
        service.publish(message)
    await service.start()
    try:
        await asyncio.sleep(PUBLISH_WINDOW * 3)
    finally:
        await service.stop()
    assert [len(payloads) for payloads in gossip.published] == [MAX_PUBLISH_GROUP, 1]
