"""Digests of the replicated message set over time buckets: pure, shared by both sides.

A bucket's digest is its count and the XOR of sha256(item_hash) over its hashes. XOR needs no
sorting, so a bucket is digested in one pass over the rows, and two nodes holding the same set
compute the same digest whatever their row order. Bucket edges are computed by one formula
from (start, end, n) on both sides, so a sub-range asked of a peer selects exactly the rows
that the bucket held (same float comparisons in SQL and here).
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
    edges = bucket_edges(start, end, parts)
    counts = [0] * parts
    accumulators = [0] * parts
    for item_hash, time in rows:
        if not start <= time < end:
            raise ValueError(f"{item_hash} at {time} is outside [{start}, {end})")
        index = bisect_right(edges, time) - 1
        counts[index] += 1
        accumulators[index] ^= int.from_bytes(hashlib.sha256(item_hash.encode()).digest())
    return [
        Bucket(count, accumulator.to_bytes(DIGEST_SIZE).hex()) if count else EMPTY
        for count, accumulator in zip(counts, accumulators, strict=True)
    ]
