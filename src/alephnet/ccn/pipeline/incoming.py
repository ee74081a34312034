"""What a type handler receives: a message whose content is known and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from alephnet.protocol.content import BaseContent
from alephnet.protocol.message import PendingMessage
from alephnet.protocol.parsing import decode_json

ContentT = TypeVar("ContentT", bound=BaseContent, covariant=True)


@dataclass(frozen=True, slots=True)
class IncomingMessage(Generic[ContentT]):
    message: PendingMessage
    content: ContentT
    raw_content: str
    reception_time: float

    @property
    def item_hash(self) -> str:
        return self.message.item_hash

    @property
    def owner(self) -> str:
        return self.content.address

    @property
    def size(self) -> int:
        return len(self.raw_content.encode())

    def content_document(self) -> dict[str, Any]:
        """The content as its author wrote it (never re-serialised by the model), with the
        `address` and `time` defaults that the envelope supplies."""
        document: dict[str, Any] = decode_json(self.raw_content)
        document.setdefault("address", self.message.sender)
        document.setdefault("time", self.message.time)
        return document
