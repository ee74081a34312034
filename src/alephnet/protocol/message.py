"""The message envelope as submitted to a node, before and after its content is known.

A submitted message is the envelope plus, for `inline` items, the content as a JSON string.
For `storage`/`ipfs` items the content lives elsewhere: `content` stays None until the node has
fetched it and checked it against `item_hash`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alephnet.protocol.content import BaseContent
from alephnet.protocol.enums import Chain, HashType, ItemType, MessageType
from alephnet.protocol.item_hash import ItemHash

MAX_CHANNEL_LENGTH = 128


class ConfirmationHash(BaseModel):
    """A legacy MongoDB binary hash, as some archived confirmations carry."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    binary: str = Field(alias="$binary")
    type: str = Field(alias="$type")


class MessageConfirmation(BaseModel):
    """A proof that the message was written on a chain (height and transaction hash)."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    chain: Chain
    height: int
    hash: str | ConfirmationHash
    time: float | None = None
    publisher: str | None = None


def to_epoch(value: Any) -> Any:
    """Clients send epoch floats; archives and the reference's own dumps use ISO-8601 strings."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"time {value!r} is neither an epoch number nor ISO-8601") from error
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if isinstance(value, datetime):
        return value.timestamp()
    return value


class PendingMessage(BaseModel):
    """A syntactically valid message: known type and chain, well-formed hash, and for inline
    items a content that hashes to `item_hash` and fits its type's schema. Its signature is
    checked separately (`alephnet.protocol.chains.verify_signature`)."""

    model_config = ConfigDict(extra="ignore", use_enum_values=True)

    chain: Chain
    sender: str = Field(min_length=1)
    type: MessageType
    channel: str | None = Field(default=None, max_length=MAX_CHANNEL_LENGTH)
    signature: str | None
    time: float = Field(ge=0)
    item_type: ItemType
    item_content: str | None = None
    hash_type: HashType | None = None
    item_hash: ItemHash
    confirmations: list[MessageConfirmation] | None = None
    confirmed: bool | None = None
    content: BaseContent | None = Field(default=None, exclude=True)
    size: int | None = None

    _normalise_time = field_validator("time", mode="before")(to_epoch)

    @model_validator(mode="after")
    def _confirmed_needs_confirmations(self) -> PendingMessage:
        if self.confirmed and not self.confirmations:
            raise ValueError("'confirmed' is true but 'confirmations' is empty")
        return self

    def wire_dict(self) -> dict[str, Any]:
        """The envelope as it travels between nodes and to clients (without the content)."""
        return self.model_dump(mode="json", exclude={"content", "size"})
