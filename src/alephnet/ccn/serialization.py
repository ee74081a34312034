"""Messages as the API serves them: the shape official clients parse (aleph-message's
`BaseMessage` keys only, or the SDK drops the message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alephnet.ccn.db.models import ForgottenMessageRow, MessageRow

MESSAGE_FIELDS = (
    "sender", "chain", "signature", "type", "item_content", "item_type", "item_hash", "time",
    "channel", "content", "size",
)  # fmt: skip


def message_to_dict(row: MessageRow) -> dict[str, Any]:
    return {
        "sender": row.sender,
        "chain": row.chain,
        "signature": row.signature,
        "type": row.type,
        "item_content": row.item_content,
        "item_type": row.item_type,
        "item_hash": row.item_hash,
        "time": row.time,
        "channel": row.channel,
        "content": row.content,
        "size": row.size,
        "confirmed": bool(row.confirmations),
        "confirmations": row.confirmations or [],
    }


def message_values_to_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    """The same from a `messages` row's column values, for a row inserted without an ORM
    object (the processor's)."""
    confirmations = values["confirmations"] or []
    return {field: values[field] for field in MESSAGE_FIELDS} | {
        "confirmed": bool(confirmations),
        "confirmations": confirmations,
    }


SNAPSHOT_FIELDS = (
    "sender", "chain", "signature", "type", "item_type", "item_hash", "time", "channel",
    "owner", "payment_type", "size", "forgotten_at",
)  # fmt: skip


def snapshot_to_dict(row: ForgottenMessageRow) -> dict[str, Any]:
    """What is left of a forgotten message: its envelope and owner, never its content."""
    return {field: getattr(row, field) for field in SNAPSHOT_FIELDS}
