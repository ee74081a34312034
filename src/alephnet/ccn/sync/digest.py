"""Digests of the replicated message set over time buckets: pure, shared by both sides.

A bucket's digest is its count and the XOR of sha256(item_hash) over its hashes. XOR needs no
sorting, so a bucket is digested in one pass over the rows, and two nodes holding the same set
compute the same digest whatever their row order. Bucket edges are computed by one formula
from (start, end, n) on both sides, so a sub-range asked of a peer selects exactly the rows
that the bucket held (same float comparisons in SQL and here).

XOR also composes: the digest of a bucket is the XOR of the digests of any buckets that tile
it. So the node keeps the digest of every `SLOT_WIDTH` seconds of message time (a slot),
updated as messages are processed, and answers a digest whose edges fall on slot edges from
the slots alone: the top of a sync round, which covers every message, reads one row per
slot rather than one per message.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

FULL_RANGE = (0.0, float(1 << 33))
"""Every message time the sync covers: 1970 to the year 2242. Messages dated outside are not
replicated by sync (gossip still carries them)."""
DIGEST_SIZE = 32
SLOT_WIDTH = 1 << 13
"""Seconds of message time per kept digest (~2.3 h): the buckets five 16-way splits below
FULL_RANGE, so the levels a round walks above it are answered from the slots."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The half-open interval [start, end) of message times."""

    start: float
    end: float

    def split(self, parts: int) -> list[TimeRange]:
        edges = [*bucket_edges(self.start, self.end, parts), self.end]
        return [TimeRange(low, high) for low, high in pairwise(edges)]

    @property
    def width(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Bucket:
    count: int
    digest: str
    """XOR of sha256(item_hash), hex; empty for an empty bucket (shorter on the wire)."""


EMPTY = Bucket(0, "")


def bucket_edges(start: float, end: float, parts: int) -> list[float]:
    """The start of each of `parts` equal buckets of [start, end)."""
    return [start + (end - start) * index / parts for index in range(parts)]


def digest_buckets(
    rows: Iterable[tuple[str, float]], start: float, end: float, parts: int
) -> list[Bucket]:
    """The digest of each bucket of [start, end) from its (item_hash, time) rows; rows outside
    the range are a caller's bug and are refused."""
    return _bucketed(
        ((time, 1, hash_value(item_hash)) for item_hash, time in rows), start, end, parts
    )


def slot_buckets(
    slots: Iterable[tuple[int, int, int]], start: float, end: float, parts: int
) -> list[Bucket]:
    """The same from the (start, count, accumulator) of the slots in [start, end), whose
    bucket edges all fall on slot edges (`on_slot_edges`)."""
    return _bucketed(slots, start, end, parts)


def on_slot_edges(start: float, end: float, parts: int) -> bool:
    """Whether every edge of the `parts` buckets of [start, end) is a slot edge in FULL_RANGE."""
    low, high = FULL_RANGE
    edges = [*bucket_edges(start, end, parts), end]
    return low <= start and end <= high and all(edge % SLOT_WIDTH == 0 for edge in edges)


def fold_into_slots(rows: Iterable[tuple[str, float]]) -> dict[int, tuple[int, int]]:
    """(count, accumulator) by slot start of (item_hash, time) rows; rows outside FULL_RANGE
    are not replicated and left out."""
    low, high = FULL_RANGE
    slots: dict[int, tuple[int, int]] = {}
    for item_hash, time in rows:
        if low <= time < high:
            slot = int(time // SLOT_WIDTH) * SLOT_WIDTH
            count, accumulator = slots.get(slot, (0, 0))
            slots[slot] = (count + 1, accumulator ^ hash_value(item_hash))
    return slots


def hash_value(item_hash: str) -> int:
    """What a hash adds to a digest's accumulator."""
    return int.from_bytes(hashlib.sha256(item_hash.encode()).digest())


def _bucketed(
    entries: Iterable[tuple[float, int, int]], start: float, end: float, parts: int
) -> list[Bucket]:
    """The buckets of [start, end) from (time, count, accumulator) entries."""
    edges = bucket_edges(start, end, parts)
    counts = [0] * parts
    accumulators = [0] * parts
    for time, count, accumulator in entries:
        if not start <= time < end:
            raise ValueError(f"an entry at {time} is outside [{start}, {end})")
        index = bisect_right(edges, time) - 1
        counts[index] += count
        accumulators[index] ^= accumulator
    return [
        Bucket(count, accumulator.to_bytes(DIGEST_SIZE).hex()) if count else EMPTY
        for count, accumulator in zip(counts, accumulators, strict=True)
    ]
