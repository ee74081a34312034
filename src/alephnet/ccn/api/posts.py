"""Posts: original posts as their latest amend shows them, in two shapes.

`/api/v0/posts.json` answers the legacy record the official SDK validates as its `Post` model,
which forbids unknown keys and needs every one of its keys: the item key set is part of the
protocol. `/api/v1/posts.json` answers the lighter merged record. Both take the same filters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.api.deps import SessionDep
from alephnet.ccn.api.messages import iso_time
from alephnet.ccn.api.params import (
    CommaList,
    DateRangeDep,
    Page,
    PageDep,
    SortOrder,
    SortOrderParam,
    paginated,
)
from alephnet.ccn.db.accessors.posts import (
    MergedPost,
    MergedPostMessages,
    PostQuery,
    PostSort,
    count_merged_posts,
    find_merged_posts,
    find_merged_posts_with_messages,
)

router = APIRouter(tags=["posts"])

PostT = TypeVar("PostT", bound=MergedPost)

ListParam = Annotated[CommaList[str] | None, Query()]


def post_query(
    dates: DateRangeDep,
    addresses: Annotated[CommaList[str] | None, Query(description="owners")] = None,
    hashes: Annotated[CommaList[str] | None, Query(description="original hashes")] = None,
    refs: ListParam = None,
    types: Annotated[CommaList[str] | None, Query(description="post types")] = None,
    tags: Annotated[CommaList[str] | None, Query(description="any of these tags")] = None,
    channels: ListParam = None,
    sort_by: Annotated[PostSort, Query(alias="sortBy")] = PostSort.TIME,
    sort_order: SortOrderParam = SortOrder.DESCENDING,
) -> PostQuery:
    return PostQuery(
        addresses=addresses or (),
        hashes=hashes or (),
        refs=refs or (),
        types=types or (),
        tags=tags or (),
        channels=channels or (),
        start_date=dates.start,
        end_date=dates.end,
        sort_by=sort_by,
        descending=sort_order.descending,
    )


PostQueryDep = Annotated[PostQuery, Depends(post_query)]


def page_in_path(page_number: Annotated[int, Path(ge=1)], query_page: PageDep) -> Page:
    """`/posts/page/{n}.json`: the legacy spelling of `?page=n`; the path wins."""
    return Page(page_number, query_page.size)


PathPageDep = Annotated[Page, Depends(page_in_path)]


@dataclass(frozen=True, slots=True)
class PostShape(Generic[PostT]):
    """How one API version reads its posts and shapes each of them."""

    find: Callable[[AsyncSession, PostQuery, int, int], Awaitable[list[PostT]]]
    shape: Callable[[PostT], dict[str, Any]]


def v0_item(post: MergedPostMessages) -> dict[str, Any]:
    """The legacy record: the latest version's message, under the original's identity."""
    original, latest, message = post.original, post.latest, post.latest_message
    return {
        "chain": post.original_message.chain,
        "item_hash": latest.item_hash,
        "sender": original.owner,
        "type": latest.type,
        "channel": original.channel,
        "confirmed": bool(message.confirmations),
        "content": latest.content,
        "item_content": message.item_content,
        "item_type": message.item_type,
        "signature": message.signature,
        "size": message.size,
        "time": message.time,
        "confirmations": message.confirmations or [],
        "original_item_hash": original.item_hash,
        "original_signature": post.original_message.signature,
        "original_type": original.type,
        "hash": original.item_hash,
        "address": original.owner,
        "ref": original.ref,
    }


def v1_item(post: MergedPost) -> dict[str, Any]:
    original, latest = post.original, post.latest
    return {
        "item_hash": latest.item_hash,
        "content": latest.content,
        "original_item_hash": original.item_hash,
        "original_type": original.type,
        "address": original.owner,
        "ref": original.ref,
        "channel": original.channel,
        "created": iso_time(original.time),
        "last_updated": iso_time(original.last_updated),
    }


V0 = PostShape(find_merged_posts_with_messages, v0_item)
V1 = PostShape(find_merged_posts, v1_item)


async def _posts_page(
    session: AsyncSession, shape: PostShape[PostT], query: PostQuery, page: Page
) -> dict[str, Any]:
    posts = await shape.find(session, query, page.number, page.size)
    total = len(posts) if page.size == 0 else await count_merged_posts(session, query)
    return paginated("posts", [shape.shape(post) for post in posts], page, total)


@router.get("/api/v0/posts.json")
async def posts_v0(session: SessionDep, query: PostQueryDep, page: PageDep) -> dict[str, Any]:
    return await _posts_page(session, V0, query, page)


@router.get("/api/v0/posts/page/{page_number}.json")
async def posts_v0_page(
    session: SessionDep, query: PostQueryDep, page: PathPageDep
) -> dict[str, Any]:
    return await _posts_page(session, V0, query, page)


@router.get("/api/v1/posts.json")
async def posts_v1(session: SessionDep, query: PostQueryDep, page: PageDep) -> dict[str, Any]:
    return await _posts_page(session, V1, query, page)


@router.get("/api/v1/posts/page/{page_number}.json")
async def posts_v1_page(
    session: SessionDep, query: PostQueryDep, page: PathPageDep
) -> dict[str, Any]:
    return await _posts_page(session, V1, query, page)
