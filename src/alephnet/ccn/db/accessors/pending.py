"""The `pending_messages` table: the pipeline's durable queue.

The statements that every processing batch and intake commit runs are built once, their values
bound as parameters (lists as expanding ones): building such a statement and its cache key
costs 35-80 µs, about what parsing a message costs, and SQLAlchemy memoises the key of a
statement it sees again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import MessageStatusRow, PendingMessageRow, RejectedMessageRow

_READY_PENDING = (
    select(
        PendingMessageRow.id,
        PendingMessageRow.item_hash,
        PendingMessageRow.message,
        PendingMessageRow.retries,
        PendingMessageRow.reception_time,
    )
    .where(PendingMessageRow.next_attempt <= bindparam("now"))
    .order_by(PendingMessageRow.next_attempt, PendingMessageRow.id)
    .limit(bindparam("limit"))
)


async def ready_pending(session: AsyncSession, now: float, limit: int) -> Sequence[Row[Any]]:
    """Rows due now, in the order they should be tried: oldest attempt time first. Plain
    columns (id, item_hash, message, retries, reception_time), not ORM objects: the processor
    only reads them, and building objects for a whole batch costs more than the query."""
    result = await session.execute(_READY_PENDING, {"now": now, "limit": limit})
    return result.all()


_PENDING_STATES = (
    select(
        PendingMessageRow.id,
        MessageStatusRow.status,
        RejectedMessageRow.item_hash.is_not(None).label("rejected"),
    )
    .outerjoin(MessageStatusRow, MessageStatusRow.item_hash == PendingMessageRow.item_hash)
    .outerjoin(RejectedMessageRow, RejectedMessageRow.item_hash == PendingMessageRow.item_hash)
    .where(PendingMessageRow.id.in_(bindparam("ids", expanding=True)))
)


async def pending_states(
    session: AsyncSession, ids: list[int]
) -> dict[int, tuple[str | None, bool]]:
    """For each pending row still queued among `ids`: its hash's current status (None if the
    hash has no status row) and whether a rejection of the hash is on record (a rejected hash
    sent again is pending, and its rejection is cleared once it is processed)."""
    if not ids:
        return {}
    result = await session.execute(_PENDING_STATES, {"ids": ids})
    return {row.id: (row.status, bool(row.rejected)) for row in result}


Identity = tuple[str, str, str | None]
"""A queued copy of a message: (sender, item_hash, signature)."""


_STATUSES_AND_IDENTITIES = (
    select(
        MessageStatusRow.item_hash,
        MessageStatusRow.status,
        PendingMessageRow.sender,
        PendingMessageRow.signature,
    )
    .outerjoin(PendingMessageRow, PendingMessageRow.item_hash == MessageStatusRow.item_hash)
    .where(MessageStatusRow.item_hash.in_(bindparam("item_hashes", expanding=True)))
)


async def statuses_and_identities(
    session: AsyncSession, item_hashes: list[str]
) -> tuple[dict[str, str], set[Identity]]:
    """The status of each known hash among `item_hashes`, and the identity of each copy
    queued for them: what the intake checks a group against, in one query (every queued
    hash has a status row)."""
    result = await session.execute(_STATUSES_AND_IDENTITIES, {"item_hashes": item_hashes})
    statuses: dict[str, str] = {}
    identities: set[Identity] = set()
    for item_hash, status, sender, signature in result:
        statuses[item_hash] = status
        if sender is not None:
            identities.add((sender, item_hash, signature))
    return statuses, identities


_DELETE_PENDING_FOR = (
    delete(PendingMessageRow)
    .where(PendingMessageRow.item_hash.in_(bindparam("item_hashes", expanding=True)))
    .execution_options(synchronize_session=False)
)
_DELETE_PENDING_IDS = (
    delete(PendingMessageRow)
    .where(PendingMessageRow.id.in_(bindparam("ids", expanding=True)))
    .execution_options(synchronize_session=False)
)


async def delete_pending_for(session: AsyncSession, item_hashes: list[str]) -> None:
    """Every queued copy of these hashes (one may have arrived twice with other signatures)."""
    if item_hashes:
        await session.execute(_DELETE_PENDING_FOR, {"item_hashes": item_hashes})


async def delete_pending_ids(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        await session.execute(_DELETE_PENDING_IDS, {"ids": ids})


async def postpone(
    session: AsyncSession, pending_id: int, retries: int, next_attempt: float
) -> None:
    await session.execute(
        update(PendingMessageRow)
        .where(PendingMessageRow.id == pending_id)
        .values(retries=retries, next_attempt=next_attempt)
        .execution_options(synchronize_session=False)
    )


async def count_pending(session: AsyncSession) -> int:
    result = await session.execute(select(func.count()).select_from(PendingMessageRow))
    return int(result.scalar_one())


async def pending_for(session: AsyncSession, item_hash: str) -> Sequence[PendingMessageRow]:
    result = await session.execute(
        select(PendingMessageRow).where(PendingMessageRow.item_hash == item_hash)
    )
    return result.scalars().all()
