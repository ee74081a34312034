"""Listing messages: `/api/v0/messages.json`, `/api/v0/messages/page/{page}.json` and
`/api/v0/messages/hashes`.

`sortBy=tx-time` (order of first on-chain confirmation) is accepted and sorts like `time`: this
node confirms nothing on chain yet, and with no confirmations both orders are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.api.deps import SessionDep
from alephnet.ccn.api.message_params import (
    ContentFormat,
    ContentFormatDep,
    MessageFiltersDep,
    shape_content,
)
from alephnet.ccn.api.messages import iso_time
from alephnet.ccn.api.params import (
    CommaList,
    DateRangeDep,
    Page,
    PageDep,
    PathPageDep,
    SortOrder,
    SortOrderParam,
    decode_cursor,
    encode_cursor,
    invalid_parameter,
    paginated,
)
from alephnet.ccn.db.accessors.message_queries import (
    Position,
    count_messages,
    count_snapshots,
    count_statuses,
    list_messages,
    list_snapshots,
    list_statuses,
)
from alephnet.ccn.db.models import MessageRow, MessageStatusRow
from alephnet.ccn.message_filters import SNAPSHOT_STATUSES, VISIBLE_STATUSES, MessageFilters
from alephnet.ccn.serialization import message_to_dict, snapshot_to_dict
from alephnet.protocol.enums import MessageStatus

router = APIRouter(tags=["messages"])

MAX_CURSOR_PAGE = 200


class SortBy(StrEnum):
    TIME = "time"
    TX_TIME = "tx-time"


@dataclass(frozen=True, slots=True)
class MessageListQuery:
    filters: MessageFilters
    descending: bool
    cursor: str | None
    content: ContentFormat

    @property
    def snapshots(self) -> bool:
        """Forgotten and removed messages live in their own table, without content."""
        return bool(self.filters.statuses & SNAPSHOT_STATUSES)


def message_list_query(
    filters: MessageFiltersDep,
    page: PageDep,
    order: SortOrderParam = SortOrder.DESCENDING,
    sort_by: Annotated[SortBy, Query(alias="sortBy")] = SortBy.TIME,
    msg_statuses: Annotated[CommaList[MessageStatus] | None, Query(alias="msgStatuses")] = None,
    cursor: Annotated[
        str | None, Query(description="keyset paging: empty for the first page")
    ] = None,
    content: ContentFormatDep = ContentFormat.FULL,
) -> MessageListQuery:
    query = MessageListQuery(
        replace(filters, statuses=_statuses(msg_statuses)), order.descending, cursor, content
    )
    _check_snapshot_query(query)
    if cursor is not None:
        _check_cursor_query(page, sort_by)
    return query


MessageListQueryDep = Annotated[MessageListQuery, Depends(message_list_query)]


@router.get("/api/v0/messages.json")
async def messages_json(
    query: MessageListQueryDep, page: PageDep, session: SessionDep
) -> dict[str, Any]:
    """Messages matching every filter given; with `cursor`, keyset pages (no total)."""
    return await _answer(session, query, page)


@router.get("/api/v0/messages/page/{page_number}.json")
async def messages_page(
    query: MessageListQueryDep, page: PathPageDep, session: SessionDep
) -> dict[str, Any]:
    return await _answer(session, query, page)


async def _answer(session: AsyncSession, query: MessageListQuery, page: Page) -> dict[str, Any]:
    if query.snapshots:
        return await _snapshot_page(session, query, page)
    if query.cursor is not None:
        return await _keyset_page(session, query, query.cursor, page.size)
    rows = await list_messages(
        session, query.filters, descending=query.descending, page=page.number, per_page=page.size
    )
    total = len(rows) if page.size == 0 else await count_messages(session, query.filters)
    return paginated("messages", _shaped(rows, query.content), page, total)


async def _keyset_page(
    session: AsyncSession, query: MessageListQuery, cursor: str, size: int
) -> dict[str, Any]:
    rows = await list_messages(
        session,
        query.filters,
        descending=query.descending,
        per_page=size + 1,
        after=_position(cursor) if cursor else None,
    )
    page, more = rows[:size], len(rows) > size
    next_cursor = encode_cursor({"h": page[-1].item_hash, "t": page[-1].time}) if more else None
    return {
        "messages": _shaped(page, query.content),
        "pagination_per_page": size,
        "pagination_item": "messages",
        "next_cursor": next_cursor,
    }


async def _snapshot_page(
    session: AsyncSession, query: MessageListQuery, page: Page
) -> dict[str, Any]:
    rows = await list_snapshots(
        session, query.filters, descending=query.descending, page=page.number, per_page=page.size
    )
    total = await count_snapshots(session, query.filters)
    items = [snapshot_to_dict(row) | {"forgotten_by": row.forgotten_by} for row in rows]
    return paginated("messages", items, page, total)


def _shaped(rows: Sequence[MessageRow], content: ContentFormat) -> list[dict[str, Any]]:
    return [shape_content(message_to_dict(row), content) for row in rows]


def _statuses(requested: list[MessageStatus] | None) -> frozenset[MessageStatus]:
    if not requested:
        return VISIBLE_STATUSES
    statuses = frozenset(requested)
    if statuses & SNAPSHOT_STATUSES and not statuses <= SNAPSHOT_STATUSES:
        raise HTTPException(
            400, "msgStatuses: forgotten and removed cannot be mixed with other statuses"
        )
    return statuses


def _check_snapshot_query(query: MessageListQuery) -> None:
    """A snapshot keeps no content, so content filters cannot apply to it (400, as the
    reference node answers)."""
    if not query.snapshots:
        return
    if query.filters.content_filtered:
        raise HTTPException(
            400,
            "refs, contentHashes, contentKeys, contentTypes and tags do not apply to "
            "forgotten or removed messages",
        )
    if query.cursor is not None:
        raise HTTPException(400, "cursor does not apply to forgotten or removed messages")


def _check_cursor_query(page: Page, sort_by: SortBy) -> None:
    if page.size == 0:
        raise invalid_parameter("pagination", "0 (everything) cannot be used with a cursor")
    if page.size > MAX_CURSOR_PAGE:
        raise invalid_parameter("pagination", f"at most {MAX_CURSOR_PAGE} with a cursor")
    if sort_by is SortBy.TX_TIME:
        raise invalid_parameter("sortBy", "tx-time cannot be used with a cursor")


def _position(cursor: str) -> Position:
    position = decode_cursor(cursor)
    item_hash, time = position.get("h"), position.get("t")
    if not isinstance(item_hash, str) or not isinstance(time, int | float):
        raise invalid_parameter("cursor", "not a cursor of this list")
    return Position(float(time), item_hash)


@router.get("/api/v0/messages/hashes")
async def message_hashes(
    session: SessionDep,
    dates: DateRangeDep,
    page: PageDep,
    order: SortOrderParam = SortOrder.DESCENDING,
    status: Annotated[MessageStatus | None, Query()] = None,
    hash_only: Annotated[bool, Query()] = True,
) -> dict[str, Any]:
    """Every hash the node has heard of, by reception time (startDate/endDate apply to it)."""
    rows = await list_statuses(
        session,
        status,
        dates.start,
        dates.end,
        descending=order.descending,
        page=page.number,
        per_page=page.size,
    )
    total = await count_statuses(session, status, dates.start, dates.end)
    items = [row.item_hash if hash_only else _status_entry(row) for row in rows]
    return paginated("hashes", items, page, total)


def _status_entry(row: MessageStatusRow) -> dict[str, Any]:
    return {
        "status": row.status,
        "item_hash": row.item_hash,
        "reception_time": iso_time(row.reception_time),
    }
