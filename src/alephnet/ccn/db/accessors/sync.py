"""The replicated message set, as the anti-entropy sync sees it: live messages (processed or
removing, in `messages`) and forgotten ones (in `forgotten_messages`), by time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select, tuple_, union_all
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


WIRE_COLUMNS = (
    MessageRow.chain,
    MessageRow.sender,
    MessageRow.type,
    MessageRow.channel,
    MessageRow.signature,
    MessageRow.time,
    MessageRow.item_type,
    MessageRow.item_content,
    MessageRow.item_hash,
)
"""What a peer needs to verify and process a message again: its signed envelope."""


async def live_envelopes(
    session: AsyncSession,
    start: float,
    end: float,
    after: tuple[float, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Signed envelopes of the live messages with `start <= time < end`, in (time, hash) order,
    those after the `after` cursor only: a page of a range that a peer reads page by page.
    Read from the (time, item_hash) index range and the rows' envelope columns; the parsed
    `content` column is not read (`item_content` holds the signed text)."""
    query = select(*WIRE_COLUMNS).where(MessageRow.time >= start, MessageRow.time < end)
    if after is not None:
        query = query.where(tuple_(MessageRow.time, MessageRow.item_hash) > tuple_(*after))
    query = query.order_by(MessageRow.time, MessageRow.item_hash).limit(limit)
    rows = await session.execute(query)
    return [dict(row._mapping) for row in rows]
