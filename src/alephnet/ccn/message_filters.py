"""What a message query asks for, and the in-process test of one message against it.

The same `MessageFilters` drives the SQL of `/api/v0/messages.json` (through the denormalised
columns of `messages`) and the live WebSocket stream (through
`matches`, on the API dict of each newly processed message). Both read a message's fields the
same way, so a filter means the same thing in a page as in the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alephnet.protocol.enums import MessageStatus, MessageType

VISIBLE_STATUSES = frozenset({MessageStatus.PROCESSED, MessageStatus.REMOVING})
SNAPSHOT_STATUSES = frozenset({MessageStatus.FORGOTTEN, MessageStatus.REMOVED})

_VM_TYPES = frozenset({MessageType.PROGRAM, MessageType.INSTANCE})


@dataclass(frozen=True, slots=True)
class MessageFilters:
    """Every filter of the message list. An empty set means "any"; dates are epoch seconds,
    `start_date` inclusive and `end_date` exclusive."""

    types: frozenset[str] = frozenset()
    statuses: frozenset[MessageStatus] = VISIBLE_STATUSES
    senders: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    refs: frozenset[str] = frozenset()
    content_hashes: frozenset[str] = frozenset()
    content_keys: frozenset[str] = frozenset()
    content_types: frozenset[str] = frozenset()
    chains: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    hashes: frozenset[str] = frozenset()
    payment_types: frozenset[str] = frozenset()
    start_date: float | None = None
    end_date: float | None = None

    @property
    def content_filtered(self) -> bool:
        """Whether a filter looks inside the content, which forgotten messages no longer have."""
        return bool(
            self.refs or self.content_hashes or self.content_keys or self.content_types or self.tags
        )


def message_tags(message_type: str, content: Any) -> frozenset[str]:
    """The tags of a message, wherever its type keeps them: `content.content.tags` (POST,
    AGGREGATE), `content.tags` (STORE), `content.metadata.tags` (PROGRAM, INSTANCE).

    Handlers fill the `tags` column of `messages` with these, so that SQL and stream agree."""
    if message_type in (MessageType.POST, MessageType.AGGREGATE):
        holder = _field(content, "content")
    elif message_type in _VM_TYPES:
        holder = _field(content, "metadata")
    else:
        holder = content
    tags = _field(holder, "tags")
    if not isinstance(tags, list):
        return frozenset()
    return frozenset(tag for tag in tags if isinstance(tag, str))


def content_ref(content: Any) -> str | None:
    """`content.ref`, written as a hash or (POST) as the whole referenced message."""
    return _string_or_inner(_field(content, "ref"), "item_hash")


def content_key(content: Any) -> str | None:
    """`content.key` of an AGGREGATE, written as a string or as `{"name": key}`."""
    return _string_or_inner(_field(content, "key"), "name")


def matches(filters: MessageFilters, message: Mapping[str, Any]) -> bool:
    """Whether the API dict of a processed message passes `filters`. Statuses are not checked:
    the dict carries none (the live stream only ever holds processed messages)."""
    content = message.get("content")
    return (
        _within_dates(filters, message.get("time"))
        and _allowed(filters.types, message.get("type"))
        and _allowed(filters.senders, message.get("sender"))
        and _allowed(filters.owners, _field(content, "address"))
        and _allowed(filters.refs, content_ref(content))
        and _allowed(filters.content_hashes, _field(content, "item_hash"))
        and _allowed(filters.content_keys, content_key(content))
        and _allowed(filters.content_types, _field(content, "type"))
        and _allowed(filters.chains, message.get("chain"))
        and _allowed(filters.channels, message.get("channel"))
        and _allowed(filters.hashes, message.get("item_hash"))
        and _allowed(filters.payment_types, _field(_field(content, "payment"), "type"))
        and _tags_overlap(filters.tags, message.get("type"), content)
    )


def _allowed(wanted: frozenset[str], value: Any) -> bool:
    return not wanted or (isinstance(value, str) and value in wanted)


def _within_dates(filters: MessageFilters, time: Any) -> bool:
    if filters.start_date is None and filters.end_date is None:
        return True
    if not isinstance(time, int | float):
        return False
    after_start = filters.start_date is None or time >= filters.start_date
    before_end = filters.end_date is None or time < filters.end_date
    return after_start and before_end


def _tags_overlap(wanted: frozenset[str], message_type: Any, content: Any) -> bool:
    if not wanted:
        return True
    return isinstance(message_type, str) and not wanted.isdisjoint(
        message_tags(message_type, content)
    )


def _string_or_inner(value: Any, inner: str) -> str | None:
    if isinstance(value, dict):
        value = value.get(inner)
    return value if isinstance(value, str) else None


def _field(document: Any, name: str) -> Any:
    return document.get(name) if isinstance(document, dict) else None
