"""FORGET: erases the content of earlier messages (by hash) and whole aggregate keys."""

from __future__ import annotations

from pydantic import Field

from alephnet.protocol.content.base import BaseContent
from alephnet.protocol.item_hash import ItemHash

MAX_FORGET_TARGETS = 1000


class ForgetContent(BaseContent):
    """`aggregates` lists aggregate *keys*. The reference types them as item hashes, so a key
    that is not hash-shaped cannot be forgotten that way; we keep that rule for compatibility."""

    hashes: list[ItemHash] = Field(max_length=MAX_FORGET_TARGETS)
    aggregates: list[ItemHash] = Field(default_factory=list, max_length=MAX_FORGET_TARGETS)
    reason: str | None = Field(default=None, max_length=1000)
