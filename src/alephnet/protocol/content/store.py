"""STORE: pins a file (by sha256 or IPFS CID) to the sender's account."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from alephnet.protocol.content.base import BaseContent
from alephnet.protocol.content.execution import Payment
from alephnet.protocol.enums import ItemType, PaymentType
from alephnet.protocol.item_hash import ItemHash

MAX_TAGS = 16
Tag = Annotated[str, Field(min_length=1, max_length=256)]


class StoreContent(BaseContent):
    """Unknown keys are dropped, not refused: the reference does so and clients send extras such
    as `mime_type`. The node never re-serialises content, so nothing the user signed is lost."""

    model_config = ConfigDict(extra="ignore")

    item_type: ItemType
    item_hash: ItemHash
    size: int | None = Field(default=None, ge=0)
    content_type: str | None = None
    ref: str | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    metadata: dict[str, Any] | None = None
    payment: Payment | None = None

    @field_validator("item_type")
    @classmethod
    def _file_is_not_inline(cls, value: ItemType) -> ItemType:
        if value == ItemType.INLINE:
            raise ValueError("a STORE's file is kept in 'storage' or 'ipfs', never 'inline'")
        return value

    @field_validator("payment")
    @classmethod
    def _hold_or_credit(cls, value: Payment | None) -> Payment | None:
        if value is not None and value.type == PaymentType.SUPERFLUID:
            raise ValueError("files are paid by 'hold' or 'credit', not by a 'superfluid' stream")
        return value
