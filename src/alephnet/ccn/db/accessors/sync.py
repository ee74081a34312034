"""The replicated message set, as the anti-entropy sync sees it: live messages (processed or
removing, in `messages`) and forgotten ones (in `forgotten_messages`), by time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Subquery, literal, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import ForgottenMessageRow, MessageRow


@dataclass(frozen=True, slots=True)
class ReplicatedHash:
    item_hash: str
    time: float
    forgotten: bool


def _replicated(start: float, end: float) -> Subquery:
    """(item_hash, time, forgotten) of [start, end), live rows from the (time, item_hash)
    index alone."""
    live = select(MessageRow.item_hash, MessageRow.time, literal(False).label("forgotten")).where(
        MessageRow.time >= start, MessageRow.time < end
    )
    forgotten = select(
        ForgottenMessageRow.item_hash, ForgottenMessageRow.time, literal(True).label("forgotten")
    ).where(ForgottenMessageRow.time >= start, ForgottenMessageRow.time < end)
    return union_all(live, forgotten).subquery()


async def replicated_hash_times(
    session: AsyncSession, start: float, end: float
) -> Sequence[tuple[str, float]]:
    """(item_hash, time) with `start <= time < end`, in no particular order: what a digest
    reads. Unsorted and as plain rows, because a top-level digest reads every row and sorting
    (or building an object per row) would cost more than the digest."""
    both = _replicated(start, end)
    result = await session.execute(select(both.c.item_hash, both.c.time))
    return cast(Sequence[tuple[str, float]], result.all())  # rows unpack like tuples


async def replicated_hashes(
    session: AsyncSession, start: float, end: float, limit: int | None = None
) -> list[ReplicatedHash]:
    """Hashes with `start <= time < end`, in (time, hash) order."""
    both = _replicated(start, end)
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
