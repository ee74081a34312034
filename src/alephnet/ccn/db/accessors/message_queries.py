"""Message lists: `/api/v0/messages.json` (live and forgotten messages), the WebSocket history
and the hash list of `/api/v0/messages/hashes`.

Messages are ordered by time, in either direction, with ties broken by item_hash ascending:
the order is total, so offset pages and keyset (cursor) pages never repeat or skip a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from alephnet.ccn.db.models import ForgottenMessageRow, MessageRow, MessageStatusRow
from alephnet.ccn.db.query import SelectT, json_array_overlaps, ordered, paginate
from alephnet.ccn.message_filters import MessageFilters
from alephnet.protocol.enums import MessageStatus


@dataclass(frozen=True, slots=True)
class Position:
    """Where a keyset page ends: the last message's time and hash."""

    time: float
    item_hash: str


async def list_messages(
    session: AsyncSession,
    filters: MessageFilters,
    *,
    descending: bool,
    page: int = 1,
    per_page: int = 0,
    after: Position | None = None,
) -> Sequence[MessageRow]:
    """Messages of `filters.statuses` held in `messages` (processed, removing), one page of
    them, or (with `after`) the `per_page` following a keyset position."""
    statement = _filtered_messages(select(MessageRow), filters)
    if after is not None:
        statement = statement.where(
            _after(MessageRow.time, MessageRow.item_hash, after, descending)
        )
    statement = statement.order_by(ordered(MessageRow.time, descending), MessageRow.item_hash)
    result = await session.execute(paginate(statement, page, per_page))
    return result.scalars().all()


async def count_messages(session: AsyncSession, filters: MessageFilters) -> int:
    statement = _filtered_messages(select(func.count()).select_from(MessageRow), filters)
    return int((await session.execute(statement)).scalar_one())


async def list_snapshots(
    session: AsyncSession,
    filters: MessageFilters,
    *,
    descending: bool,
    page: int = 1,
    per_page: int = 0,
) -> Sequence[ForgottenMessageRow]:
    """Forgotten (or removed) messages: what remains of them, ordered by when they went."""
    statement = _filtered_snapshots(select(ForgottenMessageRow), filters).order_by(
        ordered(ForgottenMessageRow.forgotten_at, descending), ForgottenMessageRow.item_hash
    )
    result = await session.execute(paginate(statement, page, per_page))
    return result.scalars().all()


async def count_snapshots(session: AsyncSession, filters: MessageFilters) -> int:
    statement = _filtered_snapshots(select(func.count()).select_from(ForgottenMessageRow), filters)
    return int((await session.execute(statement)).scalar_one())


async def list_statuses(
    session: AsyncSession,
    status: str | None,
    start: float | None,
    end: float | None,
    *,
    descending: bool,
    page: int,
    per_page: int,
) -> Sequence[MessageStatusRow]:
    """Every hash the node knows (of one status), by reception time."""
    statement = (
        select(MessageStatusRow)
        .where(*_status_conditions(status, start, end))
        .order_by(ordered(MessageStatusRow.reception_time, descending), MessageStatusRow.item_hash)
    )
    result = await session.execute(paginate(statement, page, per_page))
    return result.scalars().all()


async def count_statuses(
    session: AsyncSession, status: str | None, start: float | None, end: float | None
) -> int:
    statement = select(func.count()).where(*_status_conditions(status, start, end))
    return int((await session.execute(statement.select_from(MessageStatusRow))).scalar_one())


LIVE_STATUSES = {MessageStatus.PROCESSED.value, MessageStatus.REMOVING.value}
"""Every row of `messages` has one of these statuses: a filter asking for both needs no join."""


def _filtered_messages(statement: SelectT, filters: MessageFilters) -> SelectT:
    conditions = _membership(
        (MessageRow.type, filters.types),
        (MessageRow.sender, filters.senders),
        (MessageRow.owner, filters.owners),
        (MessageRow.content_ref, filters.refs),
        (MessageRow.content_item_hash, filters.content_hashes),
        (MessageRow.content_key, filters.content_keys),
        (MessageRow.content_type, filters.content_types),
        (MessageRow.chain, filters.chains),
        (MessageRow.channel, filters.channels),
        (MessageRow.item_hash, filters.hashes),
        (MessageRow.payment_type, filters.payment_types),
    )
    if filters.tags:
        conditions.append(json_array_overlaps(MessageRow.tags, sorted(filters.tags)))
    conditions += _date_conditions(MessageRow.time, filters.start_date, filters.end_date)
    if set(filters.statuses) >= LIVE_STATUSES:
        return statement.where(*conditions)
    return (
        statement.join(MessageStatusRow, MessageStatusRow.item_hash == MessageRow.item_hash)
        .where(MessageStatusRow.status.in_(filters.statuses))
        .where(*conditions)
    )


def _filtered_snapshots(statement: SelectT, filters: MessageFilters) -> SelectT:
    """Snapshots keep no content: the content filters are refused before coming here."""
    row = ForgottenMessageRow
    conditions = _membership(
        (row.type, filters.types),
        (row.sender, filters.senders),
        (row.owner, filters.owners),
        (row.chain, filters.chains),
        (row.channel, filters.channels),
        (row.item_hash, filters.hashes),
        (row.payment_type, filters.payment_types),
    )
    conditions += _date_conditions(row.forgotten_at, filters.start_date, filters.end_date)
    return (
        statement.join(MessageStatusRow, MessageStatusRow.item_hash == row.item_hash)
        .where(MessageStatusRow.status.in_(filters.statuses))
        .where(*conditions)
    )


def _membership(
    *pairs: tuple[InstrumentedAttribute[Any], Iterable[str]],
) -> list[ColumnElement[bool]]:
    """`column IN values` for each filter given; an empty filter means any value."""
    return [column.in_(sorted(values)) for column, values in pairs if values]


def _date_conditions(
    column: InstrumentedAttribute[float], start: float | None, end: float | None
) -> list[ColumnElement[bool]]:
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


def _status_conditions(
    status: str | None, start: float | None, end: float | None
) -> list[ColumnElement[bool]]:
    conditions = _date_conditions(MessageStatusRow.reception_time, start, end)
    if status is not None:
        conditions.append(MessageStatusRow.status == status)
    return conditions


def _after(
    time: InstrumentedAttribute[float],
    item_hash: InstrumentedAttribute[str],
    position: Position,
    descending: bool,
) -> ColumnElement[bool]:
    """Rows strictly after `position` in (time in the chosen direction, item_hash ascending)."""
    later_time = time < position.time if descending else time > position.time
    return or_(later_time, and_(time == position.time, item_hash > position.item_hash))
