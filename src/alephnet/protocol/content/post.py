"""POST: a free-form document; `type: "amend"` with a `ref` replaces an earlier post's content."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from alephnet.protocol.content.base import BaseContent, StrictModel
from alephnet.protocol.enums import Chain, ItemType
from alephnet.protocol.item_hash import ItemHash

AMEND = "amend"


class ChainRef(StrictModel):
    """A reference to a post given as the whole signed post rather than its hash."""

    chain: Chain
    channel: str | None = Field(default=None, max_length=128)
    item_content: str
    item_hash: ItemHash
    item_type: ItemType
    sender: str
    signature: str
    time: float
    type: Literal["POST"] = "POST"


class PostContent(BaseContent):
    """Field order is the SDK's (address, time, content, ref, type): it decides the item hash of
    the posts we build."""

    content: Any = None
    ref: str | ChainRef | None = None
    type: str

    @model_validator(mode="after")
    def _amend_needs_ref(self) -> PostContent:
        if self.type == AMEND and self.ref is None:
            raise ValueError("a POST of type 'amend' needs a 'ref' to the post it amends")
        return self

    @property
    def ref_hash(self) -> str | None:
        """The hash of the referenced post, whichever way the reference was written."""
        if isinstance(self.ref, ChainRef):
            return self.ref.item_hash
        return self.ref
