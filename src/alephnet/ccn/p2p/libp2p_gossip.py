"""The gossip interface on py-libp2p gossipsub, run in a trio loop of its own thread.

Tuning, against the library's defaults (measured in DESIGN.md and docs/p2p.md):
- delivery, sending and reading: `libp2p_pubsub.py` (messages go straight to a large inbox on
  the asyncio side; RPCs waiting for a peer are written as one; reads are buffered) and
  `libp2p_yamux.py` (a window update per half window read, not per read).
- spam protection: the library stops forwarding a peer's messages past 10 per second per topic;
  the limit is raised to what a CCN sends in a burst (`GossipTuning.max_rate_per_peer`).
- message ids: Aleph's (see `message_id.py`), so that duplicates are recognised network-wide.
- junk: validators run before a message is delivered or forwarded; a neighbour that passes on
  too many invalid messages is banned for a while (`penalties.py`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.tools.anyio_service import background_trio_service

from alephnet.ccn.p2p.bridge import Inbox, TrioPortal, TrioThread
from alephnet.ccn.p2p.interface import GossipCounts, GossipMessage, Validator
from alephnet.ccn.p2p.libp2p_pubsub import Libp2pGossipSub, Libp2pPubsub
from alephnet.ccn.p2p.libp2p_yamux import install_yamux_streams
from alephnet.ccn.p2p.message_id import aleph_message_id
from alephnet.ccn.p2p.penalties import Penalties, PenaltyRules

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GossipTuning:
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    heartbeat_seconds: int = 1
    max_rate_per_peer: float = 2000.0
    """Messages per second per topic that one peer may have forwarded by this node."""
    inbox: int = 10_000
    """Messages received and not yet taken by the node, per topic."""
    dial_timeout: float = 5.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    reconnect_tick: float = 0.5
    penalties: PenaltyRules = field(default_factory=PenaltyRules)


@dataclass
class _Dial:
    """A peer to stay connected to, and when to try it next."""

    address: str
    info: PeerInfo
    delay: float = 0.0
    next_at: float = 0.0


@dataclass
class _Topic:
    validator: Validator | None
    inbox: Inbox[GossipMessage]


class Libp2pGossip:
    def __init__(
        self,
        key_pair: KeyPair,
        listen: str,
        bootstrap: list[str],
        tuning: GossipTuning | None = None,
    ) -> None:
        """`listen`: a TCP multiaddr (`/ip4/127.0.0.1/tcp/4025`; port 0 picks a free one).
        `bootstrap`: multiaddrs (with /p2p/<peer id>) of peers to stay connected to."""
        self._key_pair = key_pair
        self._listen = multiaddr.Multiaddr(listen)
        self._tuning = tuning or GossipTuning()
        self._peer_id = ID.from_pubkey(key_pair.public_key)
        self._topics: dict[str, _Topic] = {}
        self._dials: dict[str, _Dial] = {}
        for address in bootstrap:
            self._want(address)
        self._penalties = Penalties(self._tuning.penalties)
        self._thread = TrioThread(self._main, name="libp2p")
        self._counts = GossipCounts()
        self._addresses: list[str] = []
        self._host: IHost | None = None
        self._pubsub: Libp2pPubsub | None = None
        self._portal: TrioPortal | None = None

    @property
    def peer_id(self) -> str:
        return str(self._peer_id)

    @property
    def listen_addresses(self) -> list[str]:
        return list(self._addresses)

    @property
    def counts(self) -> GossipCounts:
        self._counts.dropped_inbound = sum(topic.inbox.dropped for topic in self._topics.values())
        return self._counts

    @property
    def running(self) -> bool:
        return self._thread.running

    async def start(self) -> None:
        await self._thread.start()

    async def stop(self) -> None:
        await self._thread.stop()
        self._counts.connected_peers = 0
        self._counts.mesh_peers = {}

    async def publish(self, topic: str, *payloads: bytes) -> None:
        await self._thread.call(self._publish, topic, payloads)

    async def subscribe(
        self, topic: str, validator: Validator | None = None
    ) -> AsyncIterator[GossipMessage]:
        entry = self._topics.get(topic)
        if entry is None:
            entry = _Topic(validator, Inbox(asyncio.get_running_loop(), self._tuning.inbox))
            self._topics[topic] = entry
            if self.running:
                await self._thread.call(self._join, topic, entry)
        return entry.inbox

    async def peers(self) -> list[str]:
        return await self._thread.call(self._connected_peers)

    async def dial(self, address: str) -> bool:
        dial = self._want(address)
        if not self.running:
            return False
        return await self._thread.call(self._try_dial, dial)

    def _want(self, address: str) -> _Dial:
        """Raises ValueError for a multiaddr that names no peer id."""
        dial = self._dials.get(address)
        if dial is None:
            try:
                info = info_from_p2p_addr(multiaddr.Multiaddr(address))
            except Exception as error:
                raise ValueError(f"{address!r} is not a multiaddr with /p2p/<peer id>") from error
            dial = self._dials[address] = _Dial(address, info)
        return dial

    # --- the trio side ------------------------------------------------------------------

    async def _main(self, portal: TrioPortal) -> None:
        tuning = self._tuning
        install_yamux_streams()
        host = new_host(key_pair=self._key_pair, listen_addrs=[self._listen])
        router = Libp2pGossipSub(
            self._counts,
            protocols=[PROTOCOL_ID_V11, PROTOCOL_ID],
            degree=tuning.degree,
            degree_low=tuning.degree_low,
            degree_high=tuning.degree_high,
            heartbeat_interval=tuning.heartbeat_seconds,
            max_messages_per_topic_per_second=tuning.max_rate_per_peer,
        )
        pubsub = Libp2pPubsub(
            host,
            router,
            deliver=self._deliver,
            msg_id_constructor=_message_id,
        )
        async with (
            host.run(listen_addrs=[self._listen]),
            background_trio_service(pubsub),
            background_trio_service(router),
        ):
            await pubsub.wait_until_ready()
            self._host, self._pubsub, self._portal = host, pubsub, portal
            self._addresses = [str(address) for address in host.get_addrs()]
            if not self._addresses:
                raise OSError(f"libp2p cannot listen on {self._listen} (port in use?)")
            for topic, entry in self._topics.items():
                await self._join(topic, entry)
            for dial in self._dials.values():
                dial.delay, dial.next_at = 0.0, 0.0
            portal.ready()
            try:
                await self._keep_connected(router)
            finally:
                await _hang_up(host)
                self._host = self._pubsub = self._portal = None

    async def _join(self, topic: str, entry: _Topic) -> None:
        assert self._pubsub is not None
        if entry.validator is not None:
            check = functools.partial(self._check, topic, entry.validator)
            self._pubsub.set_topic_validator(topic, check, False)
        await self._pubsub.subscribe(topic)

    def _check(self, topic: str, validator: Validator, forwarder: ID, message: Any) -> bool:
        """libp2p's topic validator: ours, plus the blame of the forwarder of junk."""
        if forwarder == self._peer_id:
            return True
        try:
            valid = validator(GossipMessage(topic, message.data, str(ID(message.from_id))))
        except Exception:
            logger.exception("gossip validator of %s failed", topic)
            valid = False
        if not valid:
            self._counts.invalid += 1
            if self._penalties.record_invalid(str(forwarder), trio.current_time()):
                self._ban(forwarder)
        return valid

    def _ban(self, peer: ID) -> None:
        assert self._pubsub is not None
        assert self._portal is not None
        logger.warning("gossip: %s sends junk; banned for a while", peer)
        self._counts.banned_peers += 1
        self._pubsub.add_to_blacklist(peer)
        self._portal.spawn(self._disconnect, peer)

    async def _disconnect(self, peer: ID) -> None:
        assert self._host is not None
        try:
            await self._host.disconnect(peer)
        except Exception as error:
            logger.debug("gossip: disconnecting %s: %s", peer, error)

    def _deliver(self, message: rpc_pb2.Message) -> None:
        origin = ID(message.from_id)
        if origin == self._peer_id:
            return
        for topic in message.topicIDs:
            entry = self._topics.get(topic)
            if entry is not None:
                self._counts.received += 1
                entry.inbox.offer(GossipMessage(topic, message.data, str(origin)))

    async def _publish(self, topic: str, payloads: tuple[bytes, ...]) -> None:
        """Each payload is queued for every peer before the send loops run (nothing here
        yields to trio), so a peer gets them all in one RPC (`libp2p_pubsub.py`)."""
        assert self._pubsub is not None
        for data in payloads:
            await self._pubsub.publish(topic, data)
            self._counts.published += 1

    async def _connected_peers(self) -> list[str]:
        assert self._host is not None
        return [str(peer) for peer in self._host.get_connected_peers()]

    async def _keep_connected(self, router: GossipSub) -> None:
        """Dial every wanted peer that is not connected when its backoff allows, forever."""
        while True:
            await self._lift_bans()
            assert self._host is not None
            connected = set(self._host.get_connected_peers())
            self._counts.connected_peers = len(connected)
            self._counts.mesh_peers = {
                topic: len(router.mesh.get(topic, ())) for topic in self._topics
            }
            now = trio.current_time()
            for dial in list(self._dials.values()):
                if dial.info.peer_id in connected:
                    dial.delay = 0.0
                elif dial.next_at <= now and not self._penalties.is_banned(
                    str(dial.info.peer_id), now
                ):
                    await self._try_dial(dial)
            await trio.sleep(self._tuning.reconnect_tick)

    async def _lift_bans(self) -> None:
        assert self._pubsub is not None
        for peer in self._penalties.lifted(trio.current_time()):
            self._pubsub.remove_from_blacklist(ID.from_base58(peer))

    async def _try_dial(self, dial: _Dial) -> bool:
        assert self._host is not None
        tuning = self._tuning
        try:
            with trio.fail_after(tuning.dial_timeout):
                await self._host.connect(dial.info)
        except Exception as error:
            dial.delay = min(max(dial.delay * 2, tuning.reconnect_min), tuning.reconnect_max)
            dial.next_at = trio.current_time() + dial.delay * random.uniform(0.5, 1.0)
            logger.debug("gossip: dialing %s failed (%s); next in %.1f s", dial.address, error,
                         dial.delay)  # fmt: skip
            return False
        dial.delay = 0.0
        return True


async def _hang_up(host: IHost) -> None:
    """Close every connection before the loop ends. Leaving the host's context only closes
    its listeners: connections left to the garbage collector stay open for a while, and a
    peer keeps writing to them, unaware that this node is gone or has restarted."""
    with trio.move_on_after(HANG_UP_TIMEOUT) as scope:
        scope.shield = True
        for peer in host.get_connected_peers():
            try:
                await host.disconnect(peer)
            except Exception as error:
                logger.debug("gossip: hanging up on %s: %s", peer, error)


def _message_id(message: rpc_pb2.Message) -> bytes:
    return aleph_message_id(message.data)


HANG_UP_TIMEOUT = 2.0
