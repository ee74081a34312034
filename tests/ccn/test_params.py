"""The shared query-string helpers, on a small app of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Query
from hypothesis import given
from hypothesis import strategies as st

from alephnet.ccn.api.errors import install_error_handlers
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
    paginated,
    split_comma_separated,
)
from alephnet.protocol.enums import MessageType

router = APIRouter()


@router.get("/echo")
async def echo(
    page: PageDep,
    dates: DateRangeDep,
    order: SortOrderParam = SortOrder.DESCENDING,
    types: Annotated[CommaList[MessageType] | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    return {
        "page": [page.number, page.size],
        "dates": [dates.start, dates.end],
        "descending": order.descending,
        "types": types,
        "cursor": decode_cursor(cursor) if cursor else cursor,
    }


@router.get("/things/page/{page_number}.json")
async def things(page: PathPageDep) -> dict[str, Any]:
    return paginated("things", [], page, 0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_defaults(http: httpx.AsyncClient) -> None:
    body = (await http.get("/echo")).json()
    assert body == {
        "page": [1, 20],
        "dates": [None, None],
        "descending": True,
        "types": None,
        "cursor": None,
    }


async def test_lists_are_comma_separated_or_repeated(http: httpx.AsyncClient) -> None:
    body = (await http.get("/echo", params="types=POST,STORE&types=AGGREGATE,")).json()
    assert body["types"] == ["POST", "STORE", "AGGREGATE"]


async def test_values_are_parsed(http: httpx.AsyncClient) -> None:
    query = "page=3&pagination=0&sortOrder=1&startDate=1.5&endDate=2&cursor="
    body = (await http.get("/echo", params=query)).json()
    assert body["page"] == [3, 0]
    assert body["dates"] == [1.5, 2.0]
    assert body["descending"] is False
    assert body["cursor"] == ""


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("types=POST,NOPE", "types"),
        ("sortOrder=0", "sortOrder"),
        ("page=0", "page"),
        ("pagination=-1", "pagination"),
        ("startDate=-1", "startDate"),
        ("startDate=yesterday", "startDate"),
        ("startDate=10&endDate=5", "endDate"),
        ("cursor=!!!", "cursor"),
        ("cursor=" + encode_cursor({"h": "x"})[:-1] + "$", "cursor"),
    ],
)
async def test_bad_values_are_422_naming_the_parameter(
    http: httpx.AsyncClient, query: str, named: str
) -> None:
    response = await http.get("/echo", params=query)
    assert response.status_code == 422, response.text
    assert named in response.json()["error"]


async def test_an_equal_start_and_end_is_an_empty_range_not_an_error(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/echo", params="startDate=5&endDate=5")).status_code == 200


async def test_page_in_path_wins_and_keeps_the_query_size(http: httpx.AsyncClient) -> None:
    body = (await http.get("/things/page/4.json", params="page=2&pagination=7")).json()
    assert body == {
        "things": [],
        "pagination_page": 4,
        "pagination_total": 0,
        "pagination_per_page": 7,
        "pagination_item": "things",
    }
    assert (await http.get("/things/page/0.json")).status_code == 422


def test_paginated_envelope() -> None:
    assert paginated("items", [1, 2], Page(2, 2), 5) == {
        "items": [1, 2],
        "pagination_page": 2,
        "pagination_total": 5,
        "pagination_per_page": 2,
        "pagination_item": "items",
    }


def test_split_drops_blanks_and_spaces() -> None:
    assert split_comma_separated(" a, ,b ,") == ["a", "b"]
    assert split_comma_separated(["a,b", "c"]) == ["a", "b", "c"]


def test_cursor_is_unpadded_base64url_of_compact_sorted_json() -> None:
    cursor = encode_cursor({"t": 1.5, "h": "ab"})
    assert "=" not in cursor
    assert cursor == "eyJoIjoiYWIiLCJ0IjoxLjV9"


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(st.text(), st.floats(allow_nan=False, allow_infinity=False), st.integers()),
    )
)
def test_cursor_round_trip(position: dict[str, Any]) -> None:
    cursor = encode_cursor(position)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor) == position


def test_a_cursor_of_something_else_is_refused() -> None:
    with pytest.raises(HTTPException) as refused:
        decode_cursor(encode_cursor([1, 2]))  # type: ignore[arg-type]
    assert refused.value.status_code == 422
