"""The node's side of gossip: messages received enter the intake like HTTP ones, messages
accepted over HTTP are published, and the node announces itself on ALIVE and learns its
peers' API URLs (for anti-entropy sync) and multiaddrs (to stay connected) from it.

For partition drills, SIGUSR1 isolates the node (gossip stopped, sync paused and refused) and
SIGUSR2 brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alephnet.ccn.p2p.bridge import BridgeClosed
from alephnet.ccn.p2p.interface import Gossip, GossipMessage
from alephnet.ccn.p2p.topics import (
    ALIVE_TOPIC,
    announcements,
    message_payload,
    read_announcement,
    read_message,
    valid_announcement,
    valid_message,
)
from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.sync.service import SyncService
from alephnet.protocol.errors import MessageError
from alephnet.protocol.message import PendingMessage

logger = logging.getLogger(__name__)

MAX_SUBMISSIONS_IN_FLIGHT = 512
GROUP_WINDOW = 0.03
"""How long the messages gossip delivers are gathered before they enter the intake together:
a group shares one intake commit and one wake-up of the processor. Peers publish in groups
(`PUBLISH_WINDOW`), so a group usually arrives in one RPC. At 100 msg/s on five nodes, with
50 ms publication windows, a receiving node spent 2.8 ms of CPU per message with 30 ms, 2.5-2.8
with 50 ms and 2.1-2.3 with 100 ms, and p95 was 223-237, 259-392 and 253-299 ms (docs/p2p.md)."""
PUBLISH_WINDOW = 0.05
"""How long the messages the node accepts are gathered before they are published together:
one RPC per peer for the group, which each peer forwards as one, instead of one RPC per
message. At 100 msg/s on five nodes, 50 ms took a receiving node from 3.1 to 2.2-2.8 ms of CPU
per message. A message accepted a window or more after the last group goes at once: at
10 msg/s waiting gathered nothing, and took 50 ms of each message's propagation."""
MAX_PUBLISH_GROUP = 100
"""Messages published in one hand-over to the gossip thread: it signs and queues them without
yielding, and reads nothing meanwhile. Aleph's service takes at most 100 messages per RPC."""
OUTBOX = 10_000
MAX_DISCOVERED = 64


@dataclass(frozen=True, slots=True)
class GossipSettings:
    topic: str
    api_url: str
    announce_interval: float


@dataclass(slots=True)
class ServiceCounts:
    submitted: int = 0
    publish_dropped: int = 0


class GossipService:
    def __init__(
        self,
        gossip: Gossip,
        intake: MessageIntake,
        sync: SyncService | None,
        settings: GossipSettings,
    ) -> None:
        self.gossip = gossip
        self._intake = intake
        self._sync = sync
        self._settings = settings
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(OUTBOX)
        self._slots = asyncio.Semaphore(MAX_SUBMISSIONS_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._discovered: set[str] = set()
        self._gathered: list[PendingMessage] = []
        self.counts = ServiceCounts()
        self.isolated = False

    async def start(self) -> None:
        await self.gossip.start()
        messages = await self.gossip.subscribe(self._settings.topic, valid_message)
        alive = await self.gossip.subscribe(ALIVE_TOPIC, valid_announcement)
        self._spawn(self._take_messages(messages), "gossip-intake")
        self._spawn(self._take_announcements(alive), "gossip-alive")
        self._spawn(self._announce_forever(), "gossip-announce")
        self._spawn(self._publish_forever(), "gossip-publish")
        self._install_partition_switch()
        logger.info("gossip: peer %s on %s", self.gossip.peer_id, self.gossip.listen_addresses)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gossip.stop()

    def publish(self, message: PendingMessage) -> None:
        """Queue `message` for publication; never waits (a full outbox drops it: anti-entropy
        sync still carries it to the peers)."""
        try:
            self._outbox.put_nowait(message_payload(message))
        except asyncio.QueueFull:
            self.counts.publish_dropped += 1

    async def isolate(self) -> None:
        if self.isolated:
            return
        self.isolated = True
        if self._sync is not None:
            self._sync.pause()
        await self.gossip.stop()
        logger.warning("gossip: isolated (partition drill); SIGUSR2 to rejoin")

    async def rejoin(self) -> None:
        if not self.isolated:
            return
        await self.gossip.start()
        if self._sync is not None:
            self._sync.resume()
        self.isolated = False
        logger.warning("gossip: rejoined the network")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take_messages(self, messages: AsyncIterator[GossipMessage]) -> None:
        """Gather what gossip delivers within `GROUP_WINDOW` and submit it as one group: a
        group shares one intake commit and one wake-up of the processor, whose fixed costs per
        batch (transactions, queries, sessions) dominated at 100 msg/s when each RPC's few
        messages went alone (docs/p2p.md, Figures)."""
        async for gossip in messages:
            try:
                message = read_message(gossip.data)
            except (MessageError, ValueError) as error:
                logger.warning("gossip: unreadable message from %s: %s", gossip.origin, error)
                continue
            await self._slots.acquire()
            self._gathered.append(message)
            if len(self._gathered) == 1:
                self._spawn(self._submit_gathered(), "gossip-submit")

    async def _submit_gathered(self) -> None:
        await asyncio.sleep(GROUP_WINDOW)
        group, self._gathered = self._gathered, []
        try:
            accepted = await self._intake.submit_many(group, origin="p2p")
            self.counts.submitted += len(accepted)
        except Exception:
            logger.exception("gossip: %d messages could not be queued", len(group))
        finally:
            for _ in group:
                self._slots.release()

    async def _publish_forever(self) -> None:
        """Publish what the node accepts in groups gathered within `PUBLISH_WINDOW` (unless the
        last group went out a window ago or more): a group goes to each peer as one RPC, and
        each peer forwards it as one (docs/p2p.md, Figures: each RPC costs every node of the
        mesh more than its messages do)."""
        loop = asyncio.get_running_loop()
        last_group = -math.inf
        while True:
            group = [await self._outbox.get()]
            busy = loop.time() - last_group < PUBLISH_WINDOW
            if busy and self._outbox.qsize() < MAX_PUBLISH_GROUP - 1:
                await asyncio.sleep(PUBLISH_WINDOW)
            while len(group) < MAX_PUBLISH_GROUP and not self._outbox.empty():
                group.append(self._outbox.get_nowait())
            last_group = loop.time()
            try:
                await self.gossip.publish(self._settings.topic, *group)
            except BridgeClosed:
                self.counts.publish_dropped += len(group)

    async def _announce_forever(self) -> None:
        while True:
            if not self.isolated:
                payloads = announcements(
                    self.gossip.listen_addresses, self._settings.api_url, time.time()
                )
                for payload in payloads:
                    with contextlib.suppress(BridgeClosed):
                        await self.gossip.publish(ALIVE_TOPIC, payload)
            await asyncio.sleep(self._settings.announce_interval)

    async def _take_announcements(self, alive: AsyncIterator[GossipMessage]) -> None:
        async for gossip in alive:
            announcement = read_announcement(gossip)
            if announcement is None or announcement.address in self._discovered:
                continue
            if len(self._discovered) >= MAX_DISCOVERED:
                continue
            self._discovered.add(announcement.address)
            logger.info("gossip: %s announces %s", gossip.origin, announcement.address)
            if announcement.peer_type == "HTTP" and self._sync is not None:
                if announcement.address != self._settings.api_url:
                    self._sync.add_peer(announcement.address)
            elif announcement.peer_type == "P2P":
                with contextlib.suppress(BridgeClosed, ValueError):
                    await self.gossip.dial(announcement.address)

    def _install_partition_switch(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGUSR1, self._spawn_switch, self.isolate)
            loop.add_signal_handler(signal.SIGUSR2, self._spawn_switch, self.rejoin)
        except (RuntimeError, ValueError, NotImplementedError):
            logger.debug("gossip: no partition switch (not the main thread)")

    def _spawn_switch(self, action: Any) -> None:
        self._spawn(action(), "gossip-switch")


def create_gossip(data_dir: Path, host: str, port: int, bootstrap: list[str]) -> Gossip:
    """The libp2p gossip of the node of `data_dir` (imported here: libp2p takes a second to
    import, which a node without gossip does not pay)."""
    from libp2p.crypto.ed25519 import create_new_key_pair

    from alephnet.ccn.p2p.libp2p_gossip import Libp2pGossip
    from alephnet.ccn.p2p.node_key import load_or_create_seed

    key_pair = create_new_key_pair(load_or_create_seed(data_dir))
    return Libp2pGossip(key_pair, f"/ip4/{host}/tcp/{port}", bootstrap)
