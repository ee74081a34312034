"""Per-address views: balance, message statistics, post types and channels; the channel list.

Balances come from the `balances` table (0 when the node knows none). Locked amounts and
credits need the payments service, so they are 0 until it exists; the official CLI only needs
an answer of this shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from alephnet.ccn.api.deps import SessionDep
from alephnet.ccn.api.params import CommaList, PageDep, SortOrder, SortOrderParam, paginated
from alephnet.ccn.db.accessors.address_queries import (
    AddressStats,
    StatsSort,
    address_stats,
    balances_of,
    channels_of,
    count_addresses,
    post_types_of,
)
from alephnet.protocol.enums import Chain

router = APIRouter(tags=["addresses"])


@router.get("/api/v0/addresses/{address}/balance")
async def address_balance(
    address: str, session: SessionDep, chain: Annotated[Chain | None, Query()] = None
) -> dict[str, Any]:
    """The address's token balance over every chain (exact-case address match)."""
    per_chain = await balances_of(session, address, chain)
    return {
        "address": address,
        "balance": sum(per_chain.values()),
        "details": per_chain,
        "locked_amount": 0.0,
        "credit_balance": 0,
    }


@router.get("/api/v0/addresses/stats.json")
async def address_stats_v0(
    session: SessionDep,
    addresses: Annotated[CommaList[str] | None, Query(alias="addresses[]")] = None,
) -> dict[str, Any]:
    """Message counts of the addresses given (`addresses[]` repeated), or of every address."""
    stats = await address_stats(session, addresses=addresses or ())
    return {"data": _by_address(stats)}


@router.get("/api/v1/addresses/stats.json")
async def address_stats_v1(
    session: SessionDep,
    page: PageDep,
    contains: Annotated[str | None, Query(alias="addressContains")] = None,
    sort_by: Annotated[StatsSort, Query(alias="sortBy")] = StatsSort.MESSAGES,
    order: SortOrderParam = SortOrder.DESCENDING,
) -> dict[str, Any]:
    """Message counts per address, busiest first by default; `addressContains` ignores case."""
    stats = await address_stats(
        session,
        contains=contains,
        sort_by=sort_by,
        descending=order.descending,
        page=page.number,
        per_page=page.size,
    )
    total = await count_addresses(session, contains)
    return paginated("data", _by_address(stats), page, total)


@router.get("/api/v0/addresses/{address}/post_types")
async def address_post_types(address: str, session: SessionDep) -> dict[str, Any]:
    return {"address": address, "post_types": await post_types_of(session, address)}


@router.get("/api/v0/addresses/{address}/channels")
async def address_channels(address: str, session: SessionDep) -> dict[str, Any]:
    """The channels the address has sent messages on."""
    return {"address": address, "channels": await channels_of(session, address)}


@router.get("/api/v0/channels/list.json")
async def channel_list(session: SessionDep) -> dict[str, list[str]]:
    return {"channels": await channels_of(session)}


def _by_address(stats: list[AddressStats]) -> dict[str, dict[str, int]]:
    return {entry.address: entry.counts for entry in stats}
