"""The anti-entropy sync routes: digests of time buckets, and the hashes of one small bucket.

Peers call them to find what they miss (docs/sync.md), then read the messages themselves: a
whole range they mostly lack page by page from `/api/v0/sync/messages`, single hashes from
`/api/v0/messages.json?hashes=…` like any client would.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Response

from alephnet.ccn.api.deps import NodeDep, SessionDep
from alephnet.ccn.db.accessors.sync import live_envelopes, replicated_digests, replicated_hashes


def refuse_when_isolated(node: NodeDep) -> None:
    """A node isolated by the partition switch (docs/p2p.md) is cut off from sync both ways."""
    if node.gossip is not None and node.gossip.isolated:
        raise HTTPException(503, "this node is isolated from the network (partition drill)")


router = APIRouter(tags=["sync"], dependencies=[Depends(refuse_when_isolated)])

MAX_BUCKETS = 256
MAX_HASHES = 10_000
MAX_MESSAGES = 5_000
DEFAULT_MESSAGES = 1_000

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
    digests = await replicated_digests(session, start, end, buckets)
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


@router.get("/api/v0/sync/messages")
async def get_messages(
    session: SessionDep,
    start: Start,
    end: End,
    after_time: Annotated[float | None, Query(ge=0)] = None,
    after_hash: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = DEFAULT_MESSAGES,
) -> Response:
    """The signed envelopes of the live messages of [start, end) in (time, hash) order, after
    the cursor (`after_time`, `after_hash`: the last message of the previous page), at most
    `limit`; `next` is the cursor of the following page, null when this one is not full.
    Encoded with orjson: a page holds thousands of messages, and FastAPI's encoder would cost
    more than the query."""
    _check_range(start, end)
    if (after_time is None) != (after_hash is None):
        raise HTTPException(422, "after_time and after_hash go together (the previous page's last)")
    after = None if after_time is None or after_hash is None else (after_time, after_hash)
    envelopes = await live_envelopes(session, start, end, after, limit)
    last = envelopes[-1] if len(envelopes) == limit else None
    body = {
        "messages": envelopes,
        "next": None if last is None else [last["time"], last["item_hash"]],
    }
    return Response(orjson.dumps(body), media_type="application/json")
