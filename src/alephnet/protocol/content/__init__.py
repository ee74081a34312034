"""Content models of the six message types, and the map from a message type to its model."""

from alephnet.protocol.content.aggregate import AggregateContent, AggregateKey
from alephnet.protocol.content.base import BaseContent
from alephnet.protocol.content.executable import (
    BaseExecutableContent,
    CodeContent,
    DataContent,
    Export,
    FunctionRuntime,
    InstanceContent,
    ProgramContent,
)
from alephnet.protocol.content.forget import ForgetContent
from alephnet.protocol.content.post import ChainRef, PostContent
from alephnet.protocol.content.store import StoreContent
from alephnet.protocol.enums import MessageType

CONTENT_MODELS: dict[MessageType, type[BaseContent]] = {
    MessageType.POST: PostContent,
    MessageType.AGGREGATE: AggregateContent,
    MessageType.STORE: StoreContent,
    MessageType.PROGRAM: ProgramContent,
    MessageType.INSTANCE: InstanceContent,
    MessageType.FORGET: ForgetContent,
}

__all__ = [
    "CONTENT_MODELS",
    "AggregateContent",
    "AggregateKey",
    "BaseContent",
    "BaseExecutableContent",
    "ChainRef",
    "CodeContent",
    "DataContent",
    "Export",
    "ForgetContent",
    "FunctionRuntime",
    "InstanceContent",
    "PostContent",
    "ProgramContent",
    "StoreContent",
]
