"""The replicated message set, as the anti-entropy sync sees it: live messages (processed or
removing, in `messages`) and forgotten ones (in `forgotten_messages`), by time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Subquery, literal, select, text, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import ForgottenMessageRow, MessageRow, SyncDigestSlotRow
from alephnet.ccn.sync.digest import (
    Bucket,
    digest_buckets,
    fold_into_slots,
    on_slot_edges,
    slot_buckets,
)

WORD_BITS = 64
WORDS = 4
DIGEST_COLUMNS = tuple(f"digest_{index}" for index in range(WORDS))


def _xor(column: str) -> str:
    """SQL for `column` XOR the new row's: SQLite has no XOR operator, PostgreSQL's differs."""
    ours, theirs = f"sync_digest_slots.{column}", f"excluded.{column}"
    return f"{column} = ({ours} | {theirs}) & ~({ours} & {theirs})"


_ADD_TO_SLOTS = text(
    "INSERT INTO sync_digest_slots (start, hash_count, "
    + ", ".join(DIGEST_COLUMNS)
    + ") VALUES (:start, :hash_count, "
    + ", ".join(f":{column}" for column in DIGEST_COLUMNS)
    + ") ON CONFLICT (start) DO UPDATE SET "
    + "hash_count = sync_digest_slots.hash_count + excluded.hash_count, "
    + ", ".join(_xor(column) for column in DIGEST_COLUMNS)
)
"""One statement per slot, whether the slot exists or not: the batch reads nothing."""


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


async def replicated_digests(
    session: AsyncSession, start: float, end: float, parts: int
) -> list[Bucket]:
    """The digests of the `parts` buckets of [start, end): from the digest slots when the
    buckets are made of whole slots (the upper levels of a round), from the rows otherwise."""
    if on_slot_edges(start, end, parts):
        slots = await session.execute(
            select(SyncDigestSlotRow).where(
                SyncDigestSlotRow.start >= start, SyncDigestSlotRow.start < end
            )
        )
        return slot_buckets(
            ((slot.start, slot.hash_count, _joined(slot)) for slot in slots.scalars()),
            start,
            end,
            parts,
        )
    return digest_buckets(await replicated_hash_times(session, start, end), start, end, parts)


async def add_to_digest_slots(
    session: AsyncSession, hash_times: Iterable[tuple[str, float]]
) -> None:
    """Count newly replicated (item_hash, time) in the digest slots, in the caller's
    transaction."""
    rows = slot_rows(fold_into_slots(hash_times))
    if rows:
        await session.execute(_ADD_TO_SLOTS, rows)


def slot_rows(slots: dict[int, tuple[int, int]]) -> list[dict[str, int]]:
    """`sync_digest_slots` rows of folded slots."""
    return [
        {
            "start": start,
            "hash_count": count,
            **dict(zip(DIGEST_COLUMNS, _words(accumulator), strict=True)),
        }
        for start, (count, accumulator) in slots.items()
    ]


def _words(accumulator: int) -> list[int]:
    """The 256-bit accumulator as signed 64-bit words, most significant first."""
    words = []
    for index in reversed(range(WORDS)):
        word = (accumulator >> (index * WORD_BITS)) & ((1 << WORD_BITS) - 1)
        words.append(word - (1 << WORD_BITS) if word >> (WORD_BITS - 1) else word)
    return words


def _joined(slot: SyncDigestSlotRow) -> int:
    accumulator = 0
    for column in DIGEST_COLUMNS:
        word = getattr(slot, column) & ((1 << WORD_BITS) - 1)
        accumulator = (accumulator << WORD_BITS) | word
    return accumulator
