"""The interface every message-type handler implements, run by the pipeline in a fixed order:

    check_dependencies → check_permissions → process        (a new message)
    forget                                                   (a FORGET erasing one)

Handlers raise the typed errors of `alephnet.protocol.errors`: an `InvalidMessage` rejects the
message, a `RetryMessage` makes the pipeline try again later. They never commit: the pipeline
runs each message in a savepoint of a batch transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import MessageRow
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.pipeline.permissions import WriteIntent, check_write_permission


class ContentHandler(ABC):
    checks_files: bool = False
    """Whether its checks read files or their pins, which uploads and the garbage collector
    write too: a batch holding such a message takes the write gate before its first read, so
    that no file goes between the check and the message's writes."""

    async def check_dependencies(
        self, session: AsyncSession, incoming: IncomingMessage[Any]
    ) -> None:
        """Raise a RetryMessage when something the message refers to is not here yet."""
        return None

    async def check_permissions(
        self, session: AsyncSession, incoming: IncomingMessage[Any]
    ) -> None:
        """By default: the sender writes for content.address, itself or by delegation."""
        await check_write_permission(session, self.write_intent(incoming))

    def write_intent(self, incoming: IncomingMessage[Any]) -> WriteIntent:
        message = incoming.message
        return WriteIntent(
            sender=message.sender,
            owner=incoming.owner,
            chain=message.chain,
            channel=message.channel,
            message_type=message.type,
        )

    def denormalised_columns(self, incoming: IncomingMessage[Any]) -> dict[str, Any]:
        """Columns of the `messages` row that make this type's API filters index lookups."""
        return {}

    @abstractmethod
    async def process(self, session: AsyncSession, incoming: IncomingMessage[Any]) -> None:
        """Apply the message to the type's own tables."""

    @abstractmethod
    async def forget(self, session: AsyncSession, message: MessageRow) -> None:
        """Undo what `process` did for a message that a FORGET erases."""
