"""AGGREGATE: revisions of a key-value document of (owner, key), merged shallowly.

The value is the top-level merge of every revision in content.time order (ties by item hash):
later keys overwrite earlier ones, null values included. Content time is the author's clock, not
the arrival order, so a revision may arrive after newer ones; the value must come out the same
whatever the order. A revision newer than all others (the common case) or older than all
others is merged into the stored value at once; one that lands in the middle makes the value be
recomputed from all revisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.aggregates import (
    elements_in_merge_order,
    get_aggregate,
    get_element,
)
from alephnet.ccn.db.models import AggregateElementRow, AggregateRow, MessageRow
from alephnet.ccn.db.write_buffer import defer_insert
from alephnet.ccn.handlers.base import ContentHandler
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.pipeline.permissions import (
    SECURITY_KEY,
    WriteIntent,
    check_write_permission,
    same_address,
)
from alephnet.protocol.content import AggregateContent
from alephnet.protocol.errors import PermissionDenied

Revision = tuple[float, str]


def guard_security_key(intent: WriteIntent) -> None:
    """Only the owner writes (or forgets) its own `security` aggregate.

    The reference lets any delegate without an `aggregate_keys` restriction rewrite it (ccn.md
    §3.7 [Q]), so a delegate could grant itself, or anyone, wider rights and lock the owner's
    restrictions out; its own documentation says only the owner may edit it, and so do we.
    """
    if intent.aggregate_key == SECURITY_KEY and not same_address(intent.sender, intent.owner):
        raise PermissionDenied(
            f"only {intent.owner} itself may change its '{SECURITY_KEY}' aggregate"
        )


class AggregateHandler(ContentHandler):
    def write_intent(self, incoming: IncomingMessage[AggregateContent]) -> WriteIntent:
        return replace(super().write_intent(incoming), aggregate_key=incoming.content.key_name)

    async def check_permissions(
        self, session: AsyncSession, incoming: IncomingMessage[AggregateContent]
    ) -> None:
        intent = self.write_intent(incoming)
        guard_security_key(intent)
        await check_write_permission(session, intent)

    def denormalised_columns(self, incoming: IncomingMessage[AggregateContent]) -> dict[str, Any]:
        return {"content_key": incoming.content.key_name}

    async def process(
        self, session: AsyncSession, incoming: IncomingMessage[AggregateContent]
    ) -> None:
        content = incoming.content
        element = NewElement(
            incoming.item_hash, content.address, content.key_name, content.content, content.time
        )
        defer_insert(session, AggregateElementRow, element.values())
        aggregate = await get_aggregate(session, element.owner, element.key)
        if aggregate is None:
            session.add(_aggregate_of_one(element))
        elif _revision(element) > _last_revision(aggregate):
            _append(aggregate, element)
        elif _revision(element) < _first_revision(aggregate):
            _prepend(aggregate, element)
        else:
            await _recompute(session, aggregate)

    async def forget(self, session: AsyncSession, message: MessageRow) -> None:
        element = await get_element(session, message.item_hash)
        if element is None:
            return
        await session.delete(element)
        aggregate = await get_aggregate(session, element.owner, element.key)
        if aggregate is not None:
            await _recompute(session, aggregate)


@dataclass(frozen=True, slots=True)
class NewElement:
    """The revision being processed, as the values of its `aggregate_elements` row (inserted
    with the batch's other rows, not as an ORM object)."""

    item_hash: str
    owner: str
    key: str
    content: dict[str, Any]
    time: float

    def values(self) -> dict[str, Any]:
        return {
            "item_hash": self.item_hash,
            "owner": self.owner,
            "key": self.key,
            "content": self.content,
            "time": self.time,
        }


def _revision(element: NewElement) -> Revision:
    return (element.time, element.item_hash)


def _first_revision(aggregate: AggregateRow) -> Revision:
    return (aggregate.created, aggregate.first_revision_hash)


def _last_revision(aggregate: AggregateRow) -> Revision:
    return (aggregate.last_updated, aggregate.last_revision_hash)


def _merged(contents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The shallow merge of revisions given oldest first."""
    merged: dict[str, Any] = {}
    for content in contents:
        merged.update(content)
    return merged


def _aggregate_of_one(element: NewElement) -> AggregateRow:
    return AggregateRow(
        owner=element.owner,
        key=element.key,
        content=dict(element.content),
        created=element.time,
        last_updated=element.time,
        first_revision_hash=element.item_hash,
        last_revision_hash=element.item_hash,
    )


def _append(aggregate: AggregateRow, element: NewElement) -> None:
    # A new dict, never an in-place update: the ORM only sees a JSON column change on assignment.
    aggregate.content = _merged((aggregate.content, element.content))
    aggregate.last_updated = element.time
    aggregate.last_revision_hash = element.item_hash


def _prepend(aggregate: AggregateRow, element: NewElement) -> None:
    aggregate.content = _merged((element.content, aggregate.content))
    aggregate.created = element.time
    aggregate.first_revision_hash = element.item_hash


async def _recompute(session: AsyncSession, aggregate: AggregateRow) -> None:
    """Fold every remaining revision again; no revision left means no aggregate."""
    elements = await elements_in_merge_order(session, aggregate.owner, aggregate.key)
    if not elements:
        await session.delete(aggregate)
        return
    first, last = elements[0], elements[-1]
    aggregate.content = _merged(element.content for element in elements)
    aggregate.created = first.time
    aggregate.first_revision_hash = first.item_hash
    aggregate.last_updated = last.time
    aggregate.last_revision_hash = last.item_hash
