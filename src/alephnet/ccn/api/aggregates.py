"""Aggregates: the merged values of an address (`/aggregates/{address}.json`, what the SDK's
`fetch_aggregate(s)` reads) and a paged list across addresses (`/aggregates.json`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from alephnet.ccn.api.deps import SessionDep
from alephnet.ccn.api.messages import iso_time
from alephnet.ccn.api.params import (
    CommaList,
    Page,
    SortOrder,
    SortOrderParam,
    page_params,
    paginated,
)
from alephnet.ccn.db.accessors.aggregates import (
    AggregateFilters,
    AggregateSort,
    aggregates_of,
    count_aggregates,
    find_aggregates,
)
from alephnet.ccn.db.models import AggregateRow

router = APIRouter(tags=["aggregates"])

MAX_PER_PAGE = 500

KeysParam = Annotated[CommaList[str] | None, Query(description="only these keys")]


@router.get("/api/v0/aggregates/{address}.json")
async def address_aggregates(
    address: str,
    session: SessionDep,
    keys: KeysParam = None,
    limit: Annotated[
        int | None, Query(ge=1, description="accepted for compatibility; has no effect")
    ] = None,
    with_info: bool = False,
    value_only: bool = False,
) -> Any:
    """The merged value of each key of `address`. `value_only` with exactly one key answers
    that value alone. `with_info` adds when each key was created and last updated, and by
    which revisions.

    Two choices differ from the reference (ccn.md §2.2 [Q]): `with_info` describes only the
    keys asked for, and `original_item_hash` is the first revision, not the last one again.
    """
    rows = await aggregates_of(session, address, keys or ())
    if not rows:
        raise HTTPException(404, "No aggregate found for this address")
    if value_only and keys is not None and len(keys) == 1:
        return rows[0].content
    info = {row.key: _revision_info(row) for row in rows} if with_info else {}
    return {"address": address, "data": {row.key: row.content for row in rows}, "info": info}


def _revision_info(row: AggregateRow) -> dict[str, str]:
    return {
        "created": iso_time(row.created),
        "last_updated": iso_time(row.last_updated),
        "original_item_hash": row.first_revision_hash,
        "last_update_item_hash": row.last_revision_hash,
    }


@router.get("/api/v0/aggregates.json")
@router.get("/api/v0/aggregates")
async def list_aggregates(
    session: SessionDep,
    page: Annotated[Page, Depends(page_params(max_size=MAX_PER_PAGE, allow_all=False))],
    keys: KeysParam = None,
    addresses: Annotated[CommaList[str] | None, Query(description="owners")] = None,
    sort_by: Annotated[AggregateSort, Query(alias="sortBy")] = AggregateSort.LAST_MODIFIED,
    sort_order: SortOrderParam = SortOrder.DESCENDING,
) -> dict[str, Any]:
    """Aggregates of any address, newest change first by default."""
    filters = AggregateFilters(addresses=addresses or (), keys=keys or ())
    rows = await find_aggregates(
        session, filters, sort_by, sort_order.descending, page.number, page.size
    )
    total = await count_aggregates(session, filters)
    return paginated("aggregates", _listed(rows), page, total)


def _listed(rows: Sequence[AggregateRow]) -> list[dict[str, Any]]:
    return [
        {
            "address": row.owner,
            "key": row.key,
            "content": row.content,
            "created": iso_time(row.created),
            "last_updated": iso_time(row.last_updated),
        }
        for row in rows
    ]
