"""Delegations, read from `security` aggregates (`content.authorizations`, a list of entries
`{address, chain?, channels?, types?, post_types?, aggregate_keys?}`): those an address has
granted, and those it has received.

The filters (`channels`, `types`, `postTypes`, `chains`, `aggregateKeys`) keep the entries that
authorize one of the values asked for. An entry without a restriction authorizes every value,
so it is kept too: the answer is "who may do this", which is what a client wants to know.

Received authorizations are found by reading every `security` aggregate, since which addresses
an aggregate names is not indexed; fine while `security` aggregates number in the thousands.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from alephnet.ccn.api.deps import SessionDep
from alephnet.ccn.api.params import CommaList, Page, page_params, paginated
from alephnet.ccn.db.accessors.aggregates import (
    AggregateFilters,
    AggregateSort,
    find_aggregates,
    get_aggregate_content,
)
from alephnet.ccn.pipeline.permissions import SECURITY_KEY, same_address

router = APIRouter(tags=["authorizations"])

AuthorizationsPage = Annotated[
    Page, Depends(page_params(default_size=20, max_size=500, allow_all=False))
]


@dataclass(frozen=True, slots=True)
class AuthorizationFilters:
    channels: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    post_types: frozenset[str] = frozenset()
    chains: frozenset[str] = frozenset()
    aggregate_keys: frozenset[str] = frozenset()

    def selects(self, entry: dict[str, Any]) -> bool:
        return (
            _authorizes_any(entry.get("channels"), self.channels)
            and _authorizes_any(entry.get("types"), self.types)
            and _authorizes_any(entry.get("post_types"), self.post_types)
            and _authorizes_any(entry.get("chain"), self.chains)
            and _authorizes_any(entry.get("aggregate_keys"), self.aggregate_keys)
        )


def authorization_filters(
    channels: Annotated[CommaList[str] | None, Query()] = None,
    types: Annotated[CommaList[str] | None, Query(description="message types")] = None,
    post_types: Annotated[CommaList[str] | None, Query(alias="postTypes")] = None,
    chains: Annotated[CommaList[str] | None, Query()] = None,
    aggregate_keys: Annotated[CommaList[str] | None, Query(alias="aggregateKeys")] = None,
) -> AuthorizationFilters:
    return AuthorizationFilters(
        frozenset(channels or ()),
        frozenset(types or ()),
        frozenset(post_types or ()),
        frozenset(chains or ()),
        frozenset(aggregate_keys or ()),
    )


AuthorizationFiltersDep = Annotated[AuthorizationFilters, Depends(authorization_filters)]


@router.get("/api/v0/authorizations/granted/{address}.json")
async def granted_authorizations(
    address: str,
    session: SessionDep,
    filters: AuthorizationFiltersDep,
    page: AuthorizationsPage,
    grantee: Annotated[CommaList[str] | None, Query()] = None,
) -> dict[str, Any]:
    """The delegates of `address`, each with the authorizations it holds."""
    security = await get_aggregate_content(session, address, SECURITY_KEY)
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in _entries(security):
        delegate = entry["address"]
        if _named(delegate, grantee) and filters.selects(entry):
            groups.setdefault(delegate, []).append(_without_address(entry))
    return _answer(address, groups, page)


@router.get("/api/v0/authorizations/received/{address}.json")
async def received_authorizations(
    address: str,
    session: SessionDep,
    filters: AuthorizationFiltersDep,
    page: AuthorizationsPage,
    granter: Annotated[CommaList[str] | None, Query()] = None,
) -> dict[str, Any]:
    """The addresses that delegated to `address`, each with what it authorized."""
    aggregates = await find_aggregates(
        session,
        AggregateFilters(addresses=granter or (), keys=(SECURITY_KEY,)),
        AggregateSort.CREATION_TIME,
        descending=False,
        page=1,
        per_page=0,
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for aggregate in aggregates:
        for entry in _entries(aggregate.content):
            if same_address(entry["address"], address) and filters.selects(entry):
                groups.setdefault(aggregate.owner, []).append(_without_address(entry))
    return _answer(address, groups, page)


def _answer(address: str, groups: dict[str, list[dict[str, Any]]], page: Page) -> dict[str, Any]:
    """One page of the groups, in address order."""
    addresses = sorted(groups)
    start = (page.number - 1) * page.size
    shown = {other: groups[other] for other in addresses[start : start + page.size]}
    return paginated("authorizations", shown, page, len(addresses)) | {"address": address}


def _entries(security: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """The well-formed entries of a `security` aggregate: dicts naming an address."""
    authorizations = (security or {}).get("authorizations")
    if not isinstance(authorizations, list):
        return
    for entry in authorizations:
        if isinstance(entry, dict) and isinstance(entry.get("address"), str):
            yield entry


def _named(address: str, wanted: Iterable[str] | None) -> bool:
    return not wanted or any(same_address(address, other) for other in wanted)


def _without_address(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "address"}


def _authorizes_any(restriction: Any, wanted: frozenset[str]) -> bool:
    if not wanted or not restriction:
        return True
    if isinstance(restriction, str):
        return restriction in wanted
    return isinstance(restriction, list) and not wanted.isdisjoint(
        value for value in restriction if isinstance(value, str)
    )
