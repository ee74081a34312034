"""The one place where message types meet their handlers."""

from __future__ import annotations

from alephnet.ccn.handlers.base import ContentHandler
from alephnet.ccn.handlers.post import PostHandler
from alephnet.protocol.enums import MessageType

HandlerMap = dict[MessageType, ContentHandler]


def build_handlers() -> HandlerMap:
    return {
        MessageType.POST: PostHandler(),
    }
