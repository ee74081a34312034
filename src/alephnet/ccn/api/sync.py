"""The anti-entropy sync routes: digests of time buckets, and the hashes of one small bucket.

Peers call them to find what they miss (docs/sync.md); the messages themselves are then read
from `/api/v0/messages.json?hashes=…`, like any client would.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from alephnet.ccn.api.deps import NodeDep, SessionDep
from alephnet.ccn.db.accessors.sync import replicated_hashes
from alephnet.ccn.sync.digest import digest_buckets


def refuse_when_isolated(node: NodeDep) -> None:
    """A node isolated by the partition switch (docs/p2p.md) is cut off from sync both ways."""
    if node.gossip is not None and node.gossip.isolated:
        raise HTTPException(503, "this node is isolated from the network (partition drill)")


router = APIRouter(tags=["sync"], dependencies=[Depends(refuse_when_isolated)])

MAX_BUCKETS = 256
MAX_HASHES = 10_000

Start = Annotated[float, Query(ge=0)]
End = Annotated[float, Query(gt=0)]


def _check_range(start: float, end: float) -> None:
    if end <= start:
        raise HTTPException(422, f"empty range [{start}, {end})")


@router.get("/api/v0/sync/digest")
async def get_digest(
    session: SessionDep,
    start: Start,
    end: End,
    buckets: Annotated[int, Query(ge=1, le=MAX_BUCKETS)] = 1,
) -> dict[str, Any]:
    """`[count, digest]` for each of `buckets` equal parts of [start, end)."""
    _check_range(start, end)
    rows = await replicated_hashes(session, start, end)
    digests = digest_buckets(((row.item_hash, row.time) for row in rows), start, end, buckets)
    return {"buckets": [[bucket.count, bucket.digest] for bucket in digests]}


@router.get("/api/v0/sync/hashes")
async def get_hashes(
    session: SessionDep,
    start: Start,
    end: End,
    limit: Annotated[int, Query(ge=1, le=MAX_HASHES)] = MAX_HASHES,
) -> dict[str, Any]:
    """`[item_hash, time, forgotten]` of [start, end) in time order, at most `limit` of them."""
    _check_range(start, end)
    rows = await replicated_hashes(session, start, end, limit + 1)
    return {
        "hashes": [[row.item_hash, row.time, row.forgotten] for row in rows[:limit]],
        "truncated": len(rows) > limit,
    }
