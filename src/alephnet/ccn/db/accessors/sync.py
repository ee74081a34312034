"""The replicated message set, as the anti-entropy sync sees it: live messages (processed or
removing, in `messages`) and forgotten ones (in `forgotten_messages`), by time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import ForgottenMessageRow, MessageRow


@dataclass(frozen=True, slots=True)
class ReplicatedHash:
    item_hash: str
    time: float
    forgotten: bool


async def replicated_hashes(
    session: AsyncSession, start: float, end: float, limit: int | None = None
) -> list[ReplicatedHash]:
    """Hashes with `start <= time < end`, in (time, hash) order; live rows come from the
    (time, item_hash) index alone."""
    live = select(MessageRow.item_hash, MessageRow.time, literal(False).label("forgotten")).where(
        MessageRow.time >= start, MessageRow.time < end
    )
    forgotten = select(
        ForgottenMessageRow.item_hash, ForgottenMessageRow.time, literal(True).label("forgotten")
    ).where(ForgottenMessageRow.time >= start, ForgottenMessageRow.time < end)
    both = union_all(live, forgotten).subquery()
    query = select(both.c.item_hash, both.c.time, both.c.forgotten).order_by(
        both.c.time, both.c.item_hash
    )
    if limit is not None:
        query = query.limit(limit)
    rows = await session.execute(query)
    return [ReplicatedHash(item_hash, time, bool(flag)) for item_hash, time, flag in rows.all()]
