"""The `aggregates` (merged values) and `aggregate_elements` (revisions) tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import AggregateElementRow, AggregateRow
from alephnet.ccn.db.query import SelectT, ordered, paginate


class AggregateSort(StrEnum):
    """The API's `sortBy` values for aggregate lists."""

    LAST_MODIFIED = "last_modified"
    CREATION_TIME = "creation_time"


@dataclass(frozen=True, slots=True)
class AggregateFilters:
    """Empty lists filter nothing."""

    addresses: Sequence[str] = ()
    keys: Sequence[str] = ()


async def get_aggregate(session: AsyncSession, owner: str, key: str) -> AggregateRow | None:
    return await session.get(AggregateRow, (owner, key))


async def get_aggregate_content(
    session: AsyncSession, owner: str, key: str
) -> dict[str, Any] | None:
    row = await get_aggregate(session, owner, key)
    return row.content if row is not None else None


async def aggregates_of(
    session: AsyncSession, owner: str, keys: Sequence[str] = ()
) -> Sequence[AggregateRow]:
    """Every aggregate of `owner` (only those of `keys` when given), by key."""
    statement = select(AggregateRow).where(AggregateRow.owner == owner)
    if keys:
        statement = statement.where(AggregateRow.key.in_(keys))
    result = await session.execute(statement.order_by(AggregateRow.key))
    return result.scalars().all()


async def find_aggregates(
    session: AsyncSession,
    filters: AggregateFilters,
    sort_by: AggregateSort,
    descending: bool,
    page: int,
    per_page: int,
) -> Sequence[AggregateRow]:
    sort_column = (
        AggregateRow.last_updated
        if sort_by == AggregateSort.LAST_MODIFIED
        else AggregateRow.created
    )
    statement = _filtered(select(AggregateRow), filters).order_by(
        ordered(sort_column, descending), AggregateRow.owner, AggregateRow.key
    )
    result = await session.execute(paginate(statement, page, per_page))
    return result.scalars().all()


async def count_aggregates(session: AsyncSession, filters: AggregateFilters) -> int:
    statement = _filtered(select(func.count()).select_from(AggregateRow), filters)
    return int((await session.execute(statement)).scalar_one())


def _filtered(statement: SelectT, filters: AggregateFilters) -> SelectT:
    if filters.addresses:
        statement = statement.where(AggregateRow.owner.in_(filters.addresses))
    if filters.keys:
        statement = statement.where(AggregateRow.key.in_(filters.keys))
    return statement


async def get_element(session: AsyncSession, item_hash: str) -> AggregateElementRow | None:
    return await session.get(AggregateElementRow, item_hash)


async def elements_in_merge_order(
    session: AsyncSession, owner: str, key: str
) -> Sequence[AggregateElementRow]:
    """The revisions of (owner, key) oldest first by content.time, ties broken by item hash."""
    result = await session.execute(
        select(AggregateElementRow)
        .where(AggregateElementRow.owner == owner, AggregateElementRow.key == key)
        .order_by(AggregateElementRow.time, AggregateElementRow.item_hash)
    )
    return result.scalars().all()


async def element_hashes(session: AsyncSession, owner: str, key: str) -> list[str]:
    result = await session.execute(
        select(AggregateElementRow.item_hash).where(
            AggregateElementRow.owner == owner, AggregateElementRow.key == key
        )
    )
    return list(result.scalars())
