"""What the clients return: typed values parsed from the node's JSON, never raw dicts.

Every model ignores keys it does not know (nodes add fields over time) and requires the ones
every node sends; a body without them is an `InvalidResponse`, not a `KeyError` later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alephnet.protocol.enums import MessageStatus
from alephnet.protocol.message import to_epoch


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


ENVELOPE_FIELDS = frozenset(
    [
        "chain",
        "sender",
        "type",
        "channel",
        "time",
        "item_type",
        "item_content",
        "item_hash",
        "signature",
    ]
)


class Message(_Model):
    """A message as the node serves it: the signed envelope plus its resolved `content`."""

    chain: str
    sender: str
    type: str
    item_hash: str
    item_type: str
    time: float
    signature: str | None = None
    channel: str | None = None
    item_content: str | None = None
    content: Any = None
    size: int | None = None
    confirmed: bool | None = None
    confirmations: list[Any] | None = None
    forgotten_by: list[str] | None = None

    _epoch = field_validator("time", mode="before")(to_epoch)

    def envelope(self) -> dict[str, Any]:
        """The signed fields, as submitted: what `validate_message` checks."""
        return self.model_dump(include=set(ENVELOPE_FIELDS))


class MessagePage(_Model):
    messages: list[Message]
    per_page: int = Field(alias="pagination_per_page")
    page: int | None = Field(default=None, alias="pagination_page")
    total: int | None = Field(default=None, alias="pagination_total")
    next_cursor: str | None = None


class MessageInfo(_Model):
    """`GET /messages/{hash}`: the status, and the message when the node still has it."""

    status: MessageStatus
    item_hash: str
    reception_time: float
    message: Message | None = None
    error_code: int | None = None
    details: Any = None
    forgotten_by: list[str] | None = None

    _epoch = field_validator("reception_time", mode="before")(to_epoch)


class Post(_Model):
    """A post with its latest amend applied, under its original's identity."""

    item_hash: str
    original_item_hash: str
    type: str
    address: str | None = None
    content: Any = None
    ref: Any = None
    channel: str | None = None
    chain: str | None = None
    time: float

    _epoch = field_validator("time", mode="before")(to_epoch)


class PostPage(_Model):
    posts: list[Post]
    page: int = Field(alias="pagination_page")
    total: int = Field(alias="pagination_total")
    per_page: int = Field(alias="pagination_per_page")


class Balance(_Model):
    address: str
    balance: float
    locked_amount: float = 0.0
    credit_balance: float = 0.0
    details: dict[str, float] | None = None


class PriceEstimate(_Model):
    required_tokens: float
    payment_type: str
    cost: str | None = None


class Published(_Model):
    """A message sent to a node, and what the node said of it (processed or pending)."""

    item_hash: str
    status: MessageStatus
    message: dict[str, Any]


class ProgramPublished(Published):
    """A PROGRAM message, and the STORE of its code that it points to."""

    code: Published


class Downloaded(_Model):
    """A file written to disk: where, how large, and how much of it a resumed download reused."""

    path: Path
    size: int
    resumed_from: int = 0
