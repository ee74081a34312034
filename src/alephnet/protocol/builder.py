"""Building signed messages the way the official SDK does, so that hashes agree byte for byte.

The item hash is computed over the serialised content, so the serialisation is part of the
protocol: compact separators, ASCII escapes (`ensure_ascii`), keys in the content model's field
order, null fields left out. Both the SDK and the tests build messages here.
"""

from __future__ import annotations

import hashlib
import json
import time as clock
from dataclasses import dataclass
from typing import Any

from alephnet.protocol.chains.base import SignedFields, Signer
from alephnet.protocol.content import BaseContent
from alephnet.protocol.enums import ItemType, MessageType


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """A signed message ready to send, and its serialised content.

    For `storage` items the content is not in the message: upload `item_content` (its sha256 is
    the item hash) before sending the message.
    """

    message: dict[str, Any]
    item_content: str

    @property
    def item_hash(self) -> str:
        return str(self.message["item_hash"])


def serialize_content(content: BaseContent | dict[str, Any]) -> str:
    document = (
        content.model_dump(mode="json", exclude_none=True)
        if isinstance(content, BaseContent)
        else content
    )
    return json.dumps(document, separators=(",", ":"))


def build_message(
    signer: Signer,
    message_type: MessageType,
    content: BaseContent | dict[str, Any],
    *,
    channel: str | None = None,
    time: float | None = None,
    item_type: ItemType = ItemType.INLINE,
) -> BuiltMessage:
    """Serialise, hash and sign `content` as a message of `signer`'s chain and address."""
    if item_type == ItemType.IPFS:
        raise ValueError("content is built as inline or storage; an IPFS item is added by a node")
    item_content = serialize_content(content)
    item_hash = hashlib.sha256(item_content.encode()).hexdigest()
    sent_at = clock.time() if time is None else time
    fields = SignedFields(signer.chain, signer.address, message_type.value, item_hash, sent_at)
    message: dict[str, Any] = {
        "chain": signer.chain,
        "sender": signer.address,
        "type": message_type.value,
        "channel": channel,
        "time": sent_at,
        "item_type": item_type.value,
        "item_content": item_content if item_type == ItemType.INLINE else None,
        "item_hash": item_hash,
        "signature": signer.sign(fields),
    }
    return BuiltMessage(message=message, item_content=item_content)
