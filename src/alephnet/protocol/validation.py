"""The whole check of a submitted message that needs no storage: format, hash and signature."""

from __future__ import annotations

from typing import Any

from alephnet.protocol.chains import verify_signature
from alephnet.protocol.message import PendingMessage
from alephnet.protocol.parsing import parse_message


def validate_message(raw: Any) -> PendingMessage:
    """Parse `raw` and verify its signature; raises `InvalidFormat` or `InvalidSignature`.

    Inline messages come back with their content parsed; storage/ipfs ones with `content=None`,
    to be completed by `parse_content` once the node has fetched the item.
    """
    message = parse_message(raw)
    verify_signature(message)
    return message
