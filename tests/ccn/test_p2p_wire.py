"""Our overrides of py-libp2p (`libp2p_pubsub.py`, `libp2p_yamux.py`): RPCs waiting for a peer
go out as one, reads are buffered, records are not made or checked again for every RPC, Yamux
credits a peer's window once half of it is read, and a stock py-libp2p gossipsub peer still
reads what we send and is read (the wire format is unchanged)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.exceptions import ParseError
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import DefaultMaxMessageSize, RpcQueue
from libp2p.tools.anyio_service import background_trio_service

from alephnet.ccn.p2p import libp2p_pubsub
from alephnet.ccn.p2p.bridge import TrioPortal, TrioThread
from alephnet.ccn.p2p.libp2p_gossip import Libp2pGossip
from alephnet.ccn.p2p.libp2p_pubsub import (
    MAX_RPC_BATCH,
    MAX_RPC_BYTES,
    BufferedStream,
    Libp2pPubsub,
    _take_waiting,
)
from alephnet.ccn.p2p.libp2p_yamux import Libp2pYamuxStream

TOPIC = "ALEPH-TEST"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TIMEOUT = 20.0


def rpc_publishing(*payloads: bytes) -> rpc_pb2.RPC:
    return rpc_pb2.RPC(
        publish=[rpc_pb2.Message(data=data, topicIDs=[TOPIC]) for data in payloads],
        senderRecord=b"the same record in every RPC",
    )


def take_waiting(payloads: list[bytes]) -> tuple[list[bytes], bytes | None, int]:
    """What `_take_waiting` makes of RPCs queued with these payloads: the batch's payloads,
    the one carried over to the next batch, and how many are left in the queue."""

    async def take() -> tuple[rpc_pb2.RPC, rpc_pb2.RPC | None, int]:
        queue = RpcQueue(max_size=1000)
        for data in payloads:
            queue.push(rpc_publishing(data))
        first = await queue.pop()
        assert first is not None
        batch, carried = await _take_waiting(queue, first)
        return batch, carried, len(queue)

    batch, carried, left = trio.run(take)
    assert batch.senderRecord == b"the same record in every RPC"
    carried_data = None if carried is None else carried.publish[0].data
    return [message.data for message in batch.publish], carried_data, left


def test_the_rpcs_waiting_for_a_peer_are_taken_as_one_up_to_a_count() -> None:
    payloads = [b"%d" % n for n in range(MAX_RPC_BATCH + 10)]
    assert take_waiting(payloads) == (payloads[:MAX_RPC_BATCH], None, 10)


def test_a_batch_stays_within_the_frame_size_aleph_accepts() -> None:
    payloads = [bytes([n]) * (MAX_RPC_BYTES // 3) for n in range(5)]
    assert take_waiting(payloads) == (payloads[:2], payloads[2], 2)
    oversized = b"x" * (MAX_RPC_BYTES + 1)
    assert take_waiting([oversized]) == ([oversized], None, 0), "a lone RPC goes as it is"


def test_a_lone_rpc_goes_out_as_it_is() -> None:
    assert take_waiting([b"alone"]) == ([b"alone"], None, 0)


class Chunks:
    """A stream that returns the given chunks, one per read, whatever the size asked."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.reads = 0
        self.muxed_conn = "the stream's own"

    async def read(self, n: int | None = None) -> bytes:
        self.reads += 1
        return self.chunks.pop(0)


def test_buffered_reads_return_exactly_what_is_asked_across_chunks() -> None:
    stream = Chunks(b"\x05hel", b"lo\x03ab", b"c")
    buffered = BufferedStream(stream)  # type: ignore[arg-type]

    async def read_all() -> list[bytes]:
        return [await buffered.read(n) for n in (1, 5, 1, 3)]

    assert trio.run(read_all) == [b"\x05", b"hello", b"\x03", b"abc"]
    assert stream.reads == 3, "one read per chunk, not per byte"
    assert buffered.muxed_conn == "the stream's own"


def test_an_rpc_longer_than_the_library_sends_is_refused_before_it_is_read() -> None:
    stream = Chunks(b"never read")
    buffered = BufferedStream(stream)  # type: ignore[arg-type]

    async def read_huge() -> bytes:
        return await buffered.read(DefaultMaxMessageSize + 1)

    with pytest.raises(ParseError, match="bytes"):
        trio.run(read_huge)
    assert stream.reads == 0


def test_a_repeated_peer_record_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[bytes] = []

    def check(msg: rpc_pb2.RPC, host: Any, peer_id: ID) -> bool:
        checked.append(msg.senderRecord)
        return msg.senderRecord != b"forged"

    monkeypatch.setattr(libp2p_pubsub, "maybe_consume_signed_record", check)
    host = new_host(key_pair=create_new_key_pair())
    peer = ID.from_pubkey(create_new_key_pair().public_key)
    consume = libp2p_pubsub._consume_signed_record_once
    for record in (b"first", b"first", b"first", b"second", b"forged", b"forged"):
        assert consume(rpc_pb2.RPC(senderRecord=record), host, peer) == (record != b"forged")
    assert checked == [b"first", b"second", b"forged", b"forged"]


def test_our_record_is_made_once_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[bytes] = []

    def make(host: Any) -> tuple[bytes, bool]:
        made.append(b"record %d" % len(made))
        return made[-1], True

    monkeypatch.setattr(libp2p_pubsub, "env_to_send_in_RPC", make)
    host = new_host(key_pair=create_new_key_pair())
    assert [libp2p_pubsub._own_record(host)[0] for _ in range(3)] == [b"record 0"] * 3
    assert made == [b"record 0"]


class Frames:
    """The connection of a Yamux stream, as far as window updates go: what it writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def _write_frame(self, frame: bytes) -> None:
        self.written.append(frame)


def test_yamux_credits_the_window_once_half_of_it_is_read() -> None:
    connection = Frames()
    stream = Libp2pYamuxStream(1, connection, True)  # type: ignore[arg-type]
    half = stream.target_recv_window // 2

    async def read(sizes: list[int]) -> None:
        for size in sizes:
            stream.recv_window -= size
            await stream._auto_tune_and_send_window_update(bytes_read=size)

    trio.run(read, [600] * (half // 600))
    assert connection.written == [], "a window update per read"
    trio.run(read, [600])
    assert len(connection.written) == 1
    credited = int.from_bytes(connection.written[0][-4:], "big")
    assert credited == 600 * (half // 600 + 1)
    assert stream.recv_window == stream.target_recv_window


# --- a stock py-libp2p peer ---------------------------------------------------------------


class StockPeer:
    """py-libp2p's own Pubsub and GossipSub, unchanged (its rate limit raised, so that a burst
    is not cut at 10 messages a second), on a trio thread."""

    def __init__(self, dial: str) -> None:
        self.received: list[bytes] = []
        self.pubsub: Pubsub | None = None
        self._dial = dial
        self.thread = TrioThread(self._main, name="stock-libp2p")

    async def _main(self, portal: TrioPortal) -> None:
        listen = multiaddr.Multiaddr(LOOPBACK)
        host = new_host(key_pair=create_new_key_pair(), listen_addrs=[listen])
        router = GossipSub(
            protocols=[PROTOCOL_ID_V11],
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_interval=1,
            max_messages_per_topic_per_second=1000.0,
        )
        pubsub = Pubsub(host, router)
        async with (
            host.run(listen_addrs=[listen]),
            background_trio_service(pubsub),
            background_trio_service(router),
        ):
            await pubsub.wait_until_ready()
            subscription = await pubsub.subscribe(TOPIC)
            await host.connect(info_from_p2p_addr(multiaddr.Multiaddr(self._dial)))
            self.pubsub = pubsub
            portal.ready()
            while True:
                self.received.append((await subscription.get()).data)

    async def publish(self, data: bytes) -> None:
        assert self.pubsub is not None
        await self.pubsub.publish(TOPIC, data)


async def until(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.05)
    assert condition(), what


@asynccontextmanager
async def meshed_with_a_stock_peer() -> AsyncIterator[tuple[Libp2pGossip, Any, StockPeer]]:
    """Our gossip subscribed to the topic, and a stock peer in its mesh; both stopped after."""
    ours = Libp2pGossip(create_new_key_pair(), LOOPBACK, [])
    inbox = await ours.subscribe(TOPIC)
    await ours.start()
    stock = StockPeer(ours.listen_addresses[0])
    try:
        await stock.thread.start()
        await until(lambda: ours.counts.mesh_peers.get(TOPIC, 0) > 0, "no mesh with the peer")
        yield ours, inbox, stock
    finally:
        await stock.thread.stop()
        await ours.stop()


@pytest.mark.slow
async def test_a_stock_gossipsub_peer_reads_our_batched_rpcs_and_we_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[int] = []
    write = Libp2pPubsub.write_msg

    async def counting_write(self: Libp2pPubsub, stream: Any, rpc: rpc_pb2.RPC) -> bool:
        batches.append(len(rpc.publish))
        return await write(self, stream, rpc)

    monkeypatch.setattr(Libp2pPubsub, "write_msg", counting_write)
    async with meshed_with_a_stock_peer() as (ours, inbox, stock):
        burst = [b"message %d" % n for n in range(30)]  # within the stock channel's 32 slots
        await asyncio.gather(*(ours.publish(TOPIC, data) for data in burst))
        await until(lambda: len(stock.received) >= len(burst), "the stock peer missed some")
        assert sorted(stock.received) == sorted(burst)
        assert max(batches) > 1, f"each message in an RPC of its own: {batches}"

        batches.clear()
        group = [b"grouped %d" % n for n in range(20)]
        await ours.publish(TOPIC, *group)
        await until(lambda: len(stock.received) >= len(burst) + len(group), "group missed")
        assert sorted(stock.received[len(burst) :]) == sorted(group)
        assert batches == [len(group)], f"one hand-over, not one RPC: {batches}"

        await stock.thread.call(stock.publish, b"from the stock peer")
        async with asyncio.timeout(TIMEOUT):
            assert (await inbox.__anext__()).data == b"from the stock peer"


@pytest.mark.slow
async def test_a_copy_already_seen_is_dropped_before_any_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stock peer's message ids differ for two publications of the same bytes; ours
    (Aleph's) are the bytes' hash, so the second is a copy already seen."""
    pushed: list[bytes] = []
    push = Libp2pPubsub.push_msg

    async def counting_push(self: Libp2pPubsub, forwarder: ID, msg: rpc_pb2.Message) -> None:
        pushed.append(msg.data)
        await push(self, forwarder, msg)

    monkeypatch.setattr(Libp2pPubsub, "push_msg", counting_push)
    async with meshed_with_a_stock_peer() as (_ours, inbox, stock):
        for data in (b"twice", b"twice", b"then another"):
            await stock.thread.call(stock.publish, data)
        async with asyncio.timeout(TIMEOUT):
            delivered = [(await inbox.__anext__()).data for _ in range(2)]
    assert delivered == [b"twice", b"then another"]
    assert pushed == [b"twice", b"then another"]
