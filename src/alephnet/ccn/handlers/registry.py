"""The one place where message types meet their handlers."""

from __future__ import annotations

from alephnet.ccn.handlers.aggregate import AggregateHandler
from alephnet.ccn.handlers.base import ContentHandler
from alephnet.ccn.handlers.forget import ForgetHandler
from alephnet.ccn.handlers.post import PostHandler
from alephnet.ccn.handlers.store import StoreHandler
from alephnet.ccn.handlers.vm import VmHandler
from alephnet.ccn.storage.sources import FileSource
from alephnet.protocol.enums import MessageType

HandlerMap = dict[MessageType, ContentHandler]


def build_handlers(files: FileSource, grace_period: float) -> HandlerMap:
    vm = VmHandler()
    handlers: HandlerMap = {
        MessageType.POST: PostHandler(),
        MessageType.AGGREGATE: AggregateHandler(),
        MessageType.STORE: StoreHandler(files, grace_period),
        MessageType.PROGRAM: vm,
        MessageType.INSTANCE: vm,
    }
    return handlers | {MessageType.FORGET: ForgetHandler(handlers)}
