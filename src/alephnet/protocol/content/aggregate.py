"""AGGREGATE: one revision of a key-value document; revisions merge shallowly by content.time."""

from __future__ import annotations

from typing import Any

from alephnet.protocol.content.base import BaseContent, StrictModel


class AggregateKey(StrictModel):
    name: str


class AggregateContent(BaseContent):
    key: str | AggregateKey
    content: dict[str, Any]

    @property
    def key_name(self) -> str:
        return self.key.name if isinstance(self.key, AggregateKey) else self.key
