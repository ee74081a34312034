"""Our subclasses of py-libp2p 0.7.0's Pubsub and GossipSub: what the library does per RPC,
made cheaper for a CCN's traffic, and the hooks the node needs. The wire format is unchanged:
any gossipsub peer reads what these send.

Measured costs of the library (docs/p2p.md, Figures), and what is done here:
- sending: one RPC per message and peer, each written as its own Yamux frame, Noise-encrypted
  alone. The send loop here takes every RPC waiting for the peer at once and writes them as
  one RPC (`publish` and control entries are protobuf `repeated` fields; at most
  `MAX_RPC_BATCH` RPCs and `MAX_RPC_BYTES`, the caps of Aleph's rust-libp2p service): one
  length prefix, one frame, one encryption for the batch.
- reading: the library reads the varint length of each RPC one byte per `stream.read`, and
  Yamux answers every read with a window update (a frame of its own, encrypted). Reads here go
  through `BufferedStream`: one read takes whatever the connection holds, so one window update
  covers many RPCs.
- every RPC carries the sender's signed peer record. The library rebuilds ours for each
  message it forwards (parsing the record it holds to compare its addresses with the host's,
  then serializing it again): it is kept here for `RECORD_REFRESH` seconds. And it verifies the
  sender's record (Ed25519) and rewrites the peer's addresses for each RPC received: a record
  identical to the last one accepted from that peer less than `RECORD_REFRESH` seconds ago is
  taken as it is.
- copies already seen: the library starts a task for each message of each RPC received
  (`run_task`, which looks for its parent among all the service's tasks), and the task drops
  a copy it has seen at its first check. With every peer forwarding each group, three of a
  receiver's four copies are such. Here a copy already seen is dropped before any task.
- delivery: the library pushes each message to a 32-slot channel per subscription and drops it
  when the reader lags; here it goes straight to the node's inbox (`deliver`).
- send queues: 32 RPCs per peer, dropped beyond; here `SEND_QUEUE`, drops counted.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from libp2p.abc import IHost, INetStream
from libp2p.exceptions import ParseError
from libp2p.peer.id import ID
from libp2p.peer.peerstore import env_to_send_in_RPC
from libp2p.pubsub import gossipsub as gossipsub_module
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import DefaultMaxMessageSize, RpcQueue
from libp2p.pubsub.utils import maybe_consume_signed_record

from alephnet.ccn.p2p.interface import GossipCounts

SEND_QUEUE = 4096
"""RPCs waiting to be written to one peer (the library's default: 32)."""
MAX_RPC_BATCH = 100
"""RPCs written to a peer as one (Aleph's service accepts at most 100 messages per RPC)."""
MAX_RPC_BYTES = 256 * 1024
"""Bytes of RPCs written as one: Aleph's service refuses larger frames. A single RPC larger
than this still goes out alone, as the library sends it."""
READ_CHUNK = 64 * 1024
"""Bytes asked of the connection per read; it returns what it holds, up to this."""
RECORD_REFRESH = 60.0
"""Seconds our signed peer record is reused, and a peer's identical one taken without checking
it again."""
MAX_RECORDS = 1024
"""Peers' records remembered by a host (one per peer): beyond, the memory starts afresh."""


class BufferedStream:
    """A pubsub stream read in large chunks: `read(n)` returns exactly `n` bytes, from what an
    earlier read brought when it can. Everything else is the stream's.

    A length above `DefaultMaxMessageSize` (1 MiB, the largest RPC py-libp2p sends) is refused
    with `ParseError`, on which the library resets the stream and drops the peer: otherwise a
    peer announcing a huge RPC would make the node buffer whatever it sends."""

    def __init__(self, stream: INetStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def read(self, n: int | None = None) -> bytes:
        if n is None or n < 0:
            raise ValueError("a buffered pubsub stream reads a known number of bytes")
        if n > DefaultMaxMessageSize:
            raise ParseError(f"a pubsub RPC of {n} bytes (at most {DefaultMaxMessageSize})")
        while len(self._buffer) < n:
            self._buffer += await self._stream.read(max(READ_CHUNK, n - len(self._buffer)))
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Libp2pPubsub(Pubsub):
    def __init__(
        self, *args: Any, deliver: Callable[[rpc_pb2.Message], None], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._deliver_to_node = deliver

    def notify_subscriptions(self, publish_message: rpc_pb2.Message) -> None:
        self._deliver_to_node(publish_message)

    def _is_subscribed_to_msg(self, msg: rpc_pb2.Message) -> bool:
        """The read loop's filter before it starts a task to push `msg` (`push_msg`): a copy
        already seen is left out too, as the task would drop it, before its validation and
        scoring, with nothing else done."""
        return super()._is_subscribed_to_msg(msg) and not self._is_msg_seen(msg)

    async def continuously_read_stream(self, stream: INetStream) -> None:
        await super().continuously_read_stream(BufferedStream(stream))  # type: ignore[arg-type]

    async def handle_sending_messages(
        self, peer_id: ID, stream: INetStream, queue: RpcQueue
    ) -> None:
        """The library's send loop, writing the RPCs that wait for the peer as one."""
        try:
            carried: rpc_pb2.RPC | None = None
            while True:
                first = carried if carried is not None else await queue.pop()
                if first is None:
                    return
                batch, carried = await _take_waiting(queue, first)
                for part in queue.split_rpc(batch):
                    if not await self.write_msg(stream, part):
                        return
        except Exception:
            self._handle_dead_peer(peer_id)


async def _take_waiting(
    queue: RpcQueue, first: rpc_pb2.RPC
) -> tuple[rpc_pb2.RPC, rpc_pb2.RPC | None]:
    """`first` merged with the RPCs already queued behind it (repeated fields concatenate;
    the sender's record is the same in each), within `MAX_RPC_BATCH` RPCs and
    `MAX_RPC_BYTES`; and the RPC taken that did not fit, if any, to start the next batch."""
    if not len(queue):
        return first, None
    batch = rpc_pb2.RPC()
    batch.MergeFrom(first)
    size = first.ByteSize()
    for _ in range(MAX_RPC_BATCH - 1):
        if not len(queue):
            break
        rpc = await queue.pop()  # returns at once: an RPC is waiting
        if rpc is None:
            break
        size += rpc.ByteSize()
        if size > MAX_RPC_BYTES:
            return batch, rpc
        batch.MergeFrom(rpc)
    return batch, None


class Libp2pGossipSub(GossipSub):
    """Counts the messages dropped because a peer's send queue was full."""

    def __init__(self, counts: GossipCounts, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counts = counts

    def _handle_dropped_rpc(self, peer_id: ID, rpc: rpc_pb2.RPC, reason: str) -> None:
        self._counts.dropped_outbound += len(rpc.publish)
        super()._handle_dropped_rpc(peer_id, rpc, reason)


@dataclass
class _HostRecords:
    """What one host remembers of signed peer records: its own, as sent in RPCs, and each
    sender's last one accepted, each with the time it was made or accepted."""

    own: tuple[bytes, float] | None = None
    accepted: dict[ID, tuple[bytes, float]] = field(default_factory=dict)


_records: weakref.WeakKeyDictionary[IHost, _HostRecords] = weakref.WeakKeyDictionary()
"""Per host, forgotten with it (a node that leaves and rejoins gets a new host)."""


def _records_of(host: IHost) -> _HostRecords:
    records = _records.get(host)
    if records is None:
        records = _records[host] = _HostRecords()
    return records


def _consume_signed_record_once(msg: rpc_pb2.RPC, host: IHost, peer_id: ID) -> bool:
    """The library's check of the sender's record, skipped for a repeat of a record that
    passed it recently (same bytes, same signature)."""
    record = msg.senderRecord if msg.HasField("senderRecord") else b""
    accepted = _records_of(host).accepted
    known = accepted.get(peer_id)
    now = time.monotonic()
    if record and known is not None and known[0] == record and now - known[1] < RECORD_REFRESH:
        return True
    valid = maybe_consume_signed_record(msg, host, peer_id)
    if valid and record:
        if len(accepted) >= MAX_RECORDS:
            accepted.clear()
        accepted[peer_id] = (record, now)
    return valid


def _own_record(host: IHost) -> tuple[bytes, bool]:
    """The library's `env_to_send_in_RPC` (our signed record, and whether it is new), made at
    most every `RECORD_REFRESH` seconds: the library rebuilds it for each message forwarded."""
    records = _records_of(host)
    now = time.monotonic()
    if records.own is not None and now - records.own[1] < RECORD_REFRESH:
        return records.own[0], False
    record, new = env_to_send_in_RPC(host)
    records.own = (record, now)
    return record, new


# The library builds each peer's send queue with `RpcQueue()` and makes and checks records with
# module-level functions, with no setting for any: its modules' names are pointed at ours (for
# every host of the process).
pubsub_module.RpcQueue = functools.partial(RpcQueue, max_size=SEND_QUEUE)  # type: ignore[attr-defined,assignment]
pubsub_module.maybe_consume_signed_record = _consume_signed_record_once  # type: ignore[attr-defined]
pubsub_module.env_to_send_in_RPC = _own_record  # type: ignore[attr-defined]
gossipsub_module.env_to_send_in_RPC = _own_record  # type: ignore[attr-defined]
