"""The `posts` table: originals and their amends, and the lists of merged posts the API serves
(each original as its latest amend shows it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from alephnet.ccn.db.models import MessageRow, PostRow
from alephnet.ccn.db.query import SelectT, json_array_overlaps, ordered, paginate


async def get_post(session: AsyncSession, item_hash: str) -> PostRow | None:
    return await session.get(PostRow, item_hash)


async def newest_amend(session: AsyncSession, original_hash: str) -> PostRow | None:
    result = await session.execute(
        select(PostRow)
        .where(PostRow.amends == original_hash)
        .order_by(PostRow.time.desc(), PostRow.item_hash.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def amend_hashes(session: AsyncSession, original_hash: str) -> list[str]:
    result = await session.execute(select(PostRow.item_hash).where(PostRow.amends == original_hash))
    return list(result.scalars())


async def delete_post(session: AsyncSession, item_hash: str) -> None:
    await session.execute(delete(PostRow).where(PostRow.item_hash == item_hash))


async def delete_amends_of(session: AsyncSession, original_hash: str) -> None:
    await session.execute(delete(PostRow).where(PostRow.amends == original_hash))


class PostSort(StrEnum):
    """The API's `sortBy` values for post lists."""

    TIME = "time"
    TX_TIME = "tx-time"


@dataclass(frozen=True, slots=True)
class PostQuery:
    """Which original posts to list and in what order. Empty lists filter nothing; dates
    bound `last_updated`, start inclusive and end exclusive."""

    addresses: Sequence[str] = ()
    hashes: Sequence[str] = ()
    refs: Sequence[str] = ()
    types: Sequence[str] = ()
    tags: Sequence[str] = ()
    channels: Sequence[str] = ()
    start_date: float | None = None
    end_date: float | None = None
    sort_by: PostSort = PostSort.TIME
    descending: bool = True


@dataclass(frozen=True, slots=True)
class MergedPost:
    """An original post seen through its latest amend (`latest` is the original when none)."""

    original: PostRow
    latest: PostRow


@dataclass(frozen=True, slots=True)
class MergedPostMessages(MergedPost):
    """A merged post with the messages of both versions, for the legacy (v0) shape."""

    original_message: MessageRow
    latest_message: MessageRow


_Original = aliased(PostRow, name="original")
_Latest = aliased(PostRow, name="latest")
_OriginalMessage = aliased(MessageRow, name="original_message")
_LatestMessage = aliased(MessageRow, name="latest_message")


async def find_merged_posts(
    session: AsyncSession, query: PostQuery, page: int, per_page: int
) -> list[MergedPost]:
    statement = _listing(_with_latest(select(_Original, _Latest)), query)
    result = await session.execute(paginate(statement, page, per_page))
    return [MergedPost(original, latest) for original, latest in result]


async def find_merged_posts_with_messages(
    session: AsyncSession, query: PostQuery, page: int, per_page: int
) -> list[MergedPostMessages]:
    statement = _listing(
        _with_latest(select(_Original, _Latest, _OriginalMessage, _LatestMessage))
        .join(_OriginalMessage, _OriginalMessage.item_hash == _Original.item_hash)
        .join(_LatestMessage, _LatestMessage.item_hash == _Latest.item_hash),
        query,
    )
    result = await session.execute(paginate(statement, page, per_page))
    return [MergedPostMessages(*row) for row in result]


async def count_merged_posts(session: AsyncSession, query: PostQuery) -> int:
    statement = _filtered(_with_latest(select(func.count()).select_from(_Original)), query)
    return int((await session.execute(statement)).scalar_one())


def _with_latest(statement: SelectT) -> SelectT:
    """Originals only, each joined to its latest version (itself when never amended)."""
    latest_hash = func.coalesce(_Original.latest_amend, _Original.item_hash)
    return statement.join(_Latest, _Latest.item_hash == latest_hash).where(
        _Original.amends.is_(None)
    )


def _listing(statement: SelectT, query: PostQuery) -> SelectT:
    """Filtered and sorted. `tx-time` (first on-chain confirmation) sorts by creation time:
    this node records no confirmations yet, and the reference lists unconfirmed posts by
    creation time. The tie-breaker is the original's hash, ascending in either order, as the
    reference sorts."""
    sort_column = _Original.last_updated if query.sort_by == PostSort.TIME else _Original.time
    return _filtered(statement, query).order_by(
        ordered(sort_column, query.descending), _Original.item_hash
    )


def _filtered(statement: SelectT, query: PostQuery) -> SelectT:
    conditions: list[ColumnElement[bool]] = [
        column.in_(values)
        for column, values in (
            (_Original.owner, query.addresses),
            (_Original.item_hash, query.hashes),
            (_Original.ref, query.refs),
            (_Original.type, query.types),
            (_Original.channel, query.channels),
        )
        if values
    ]
    if query.tags:
        conditions.append(json_array_overlaps(_Latest.content, query.tags, key="tags"))
    if query.start_date is not None:
        conditions.append(_Original.last_updated >= query.start_date)
    if query.end_date is not None:
        conditions.append(_Original.last_updated < query.end_date)
    return statement.where(*conditions)
