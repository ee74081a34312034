"""The `message_status` table: one row per hash the node has heard of."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import MessageStatusRow
from alephnet.protocol.enums import MessageStatus


async def get_status(session: AsyncSession, item_hash: str) -> MessageStatusRow | None:
    return await session.get(MessageStatusRow, item_hash)


async def get_statuses(session: AsyncSession, item_hashes: list[str]) -> dict[str, str]:
    if not item_hashes:
        return {}
    rows = await session.execute(
        select(MessageStatusRow.item_hash, MessageStatusRow.status).where(
            MessageStatusRow.item_hash.in_(item_hashes)
        )
    )
    return dict(rows.all())


async def set_status(
    session: AsyncSession, item_hash: str, status: MessageStatus, reception_time: float
) -> None:
    row = await session.get(MessageStatusRow, item_hash)
    if row is None:
        session.add(
            MessageStatusRow(item_hash=item_hash, status=status, reception_time=reception_time)
        )
    else:
        row.status = status
