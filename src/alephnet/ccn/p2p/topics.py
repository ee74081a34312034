"""What travels on the two gossip topics, and the checks a node applies before it accepts or
forwards it (pure functions: they run on the gossip thread).

- The message topic (`ALEPH-TEST`) carries the UTF-8 JSON of a wire message, keys sorted, as
  Aleph's API publishes it. A message is accepted for forwarding only if it parses and its
  signature verifies: junk stops at the first honest node. The node's pipeline verifies again
  on processing, as for every origin.
- `ALIVE` carries announcements `{"address", "interests", "peer_type", "version"}`: a node's
  libp2p multiaddr (`P2P`) and its HTTP API URL (`HTTP`). A P2P announcement must name the
  peer that signed it: a node can only announce itself. We add `time`: gossip ids are content
  hashes, and an announcement identical to the last one would be dropped as a duplicate by
  every node for the seen-cache period (2 minutes), repeats included.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from alephnet import __version__
from alephnet.ccn.p2p.interface import GossipMessage
from alephnet.protocol.chains import verify_signature
from alephnet.protocol.errors import MessageError
from alephnet.protocol.message import PendingMessage
from alephnet.protocol.parsing import parse_message

ALIVE_TOPIC = "ALIVE"
MAX_ANNOUNCEMENT = 2048


class Announcement(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    address: str
    peer_type: Literal["P2P", "HTTP", "IPFS"]
    interests: Any = None
    version: str = ""
    time: float = 0.0


def message_payload(message: PendingMessage) -> bytes:
    return orjson.dumps(message.wire_dict(), option=orjson.OPT_SORT_KEYS)


def read_message(payload: bytes) -> PendingMessage:
    """The message in a payload; `MessageError` (or ValueError for bad JSON) if there is none."""
    return parse_message(orjson.loads(payload))


def valid_message(gossip: GossipMessage) -> bool:
    try:
        verify_signature(read_message(gossip.data))
    except (MessageError, ValueError):
        return False
    return True


def announcements(p2p_addresses: list[str], api_url: str, now: float) -> list[bytes]:
    """The payloads a node publishes on ALIVE: each libp2p multiaddr, then its API URL."""
    addresses = [(address, "P2P") for address in p2p_addresses] + [(api_url, "HTTP")]
    return [
        orjson.dumps(
            Announcement(
                address=address, peer_type=peer_type, version=__version__, time=now
            ).model_dump()
        )
        for address, peer_type in addresses
    ]


def read_announcement(gossip: GossipMessage) -> Announcement | None:
    """The announcement, if it is well-formed and a P2P one names its own signer."""
    if len(gossip.data) > MAX_ANNOUNCEMENT:
        return None
    try:
        announcement = Announcement.model_validate_json(gossip.data)
    except ValidationError:
        return None
    if announcement.peer_type == "P2P" and not announcement.address.endswith(
        f"/p2p/{gossip.origin}"
    ):
        return None
    if announcement.peer_type == "HTTP" and not announcement.address.startswith(
        ("http://", "https://")
    ):
        return None
    return announcement


def valid_announcement(gossip: GossipMessage) -> bool:
    return read_announcement(gossip) is not None
