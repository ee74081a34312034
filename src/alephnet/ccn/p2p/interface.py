"""The gossip interface the node uses: publish, subscribe, peers, dial. Only the libp2p
implementation (`libp2p_*.py`) imports libp2p; the rest of the node sees these types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class GossipMessage:
    topic: str
    data: bytes
    origin: str
    """Peer id of the author (the gossip signature proves it)."""


Validator = Callable[[GossipMessage], bool]
"""Decides, before a message is delivered or forwarded, whether it is acceptable. Runs on the
gossip thread for every new message: it must be quick and must not block. The neighbour that
passed on a message found invalid is blamed for it, and banned for a while if it does so too
often."""


@dataclass(slots=True)
class GossipCounts:
    """Totals since start, for the metrics."""

    published: int = 0
    received: int = 0
    invalid: int = 0
    dropped_inbound: int = 0
    """Messages accepted by gossip that the node was too busy to take (inbox full)."""
    dropped_outbound: int = 0
    """Messages for a peer dropped because its send queue was full."""
    banned_peers: int = 0
    connected_peers: int = 0
    mesh_peers: dict[str, int] = field(default_factory=dict)
    """Per topic, the peers this node forwards its messages to."""


class Gossip(Protocol):
    @property
    def peer_id(self) -> str: ...

    @property
    def listen_addresses(self) -> list[str]:
        """Multiaddrs (with /p2p/<peer id>) where peers reach this node."""
        ...

    @property
    def counts(self) -> GossipCounts: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, *payloads: bytes) -> None:
        """Publish each payload on `topic`, in order, in one hand-over to the gossip layer:
        those sent to the same peer can then travel together."""
        ...

    async def subscribe(
        self, topic: str, validator: Validator | None = None
    ) -> AsyncIterator[GossipMessage]:
        """Join `topic` (now, or at start); the messages of other nodes that pass `validator`.
        The subscription outlives a stop and start of the gossip."""
        ...

    async def peers(self) -> list[str]:
        """Peer ids of the connected peers."""
        ...

    async def dial(self, address: str) -> bool:
        """Connect to the peer at multiaddr `address` now, and keep reconnecting to it with
        backoff whenever the connection is lost; whether it is connected now."""
        ...
