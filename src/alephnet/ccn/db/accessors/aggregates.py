"""The `aggregates` (merged values) and `aggregate_elements` (revisions) tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import AggregateRow


async def get_aggregate(session: AsyncSession, owner: str, key: str) -> AggregateRow | None:
    return await session.get(AggregateRow, (owner, key))


async def get_aggregate_content(
    session: AsyncSession, owner: str, key: str
) -> dict[str, Any] | None:
    row = await get_aggregate(session, owner, key)
    return row.content if row is not None else None
