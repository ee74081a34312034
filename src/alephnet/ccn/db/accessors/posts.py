"""The `posts` table: originals and their amends."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import PostRow


async def get_post(session: AsyncSession, item_hash: str) -> PostRow | None:
    return await session.get(PostRow, item_hash)


async def newest_amend(session: AsyncSession, original_hash: str) -> PostRow | None:
    result = await session.execute(
        select(PostRow)
        .where(PostRow.amends == original_hash)
        .order_by(PostRow.time.desc(), PostRow.item_hash.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def delete_post(session: AsyncSession, item_hash: str) -> None:
    await session.execute(delete(PostRow).where(PostRow.item_hash == item_hash))


async def delete_amends_of(session: AsyncSession, original_hash: str) -> None:
    await session.execute(delete(PostRow).where(PostRow.amends == original_hash))
