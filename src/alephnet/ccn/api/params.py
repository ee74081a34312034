"""Query-string conventions shared by the list endpoints of the reference API.

- lists are comma-separated (`?hashes=a,b`); repeating the parameter (`?hashes=a&hashes=b`)
  works too;
- `pagination` (per page, 0 = all where allowed) and `page` (from 1), answered with the
  `pagination_*` keys next to the items;
- `sortOrder` is -1 (descending, the default) or 1;
- `startDate`/`endDate` are epoch seconds, start inclusive and end exclusive;
- a cursor is base64url (no padding) of compact JSON: opaque to clients, readable when debugging.

A bad value is a 422 whose error text names the parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Query
from pydantic import BeforeValidator, WithJsonSchema

T = TypeVar("T")


def split_comma_separated(value: Any) -> Any:
    """`["a,b", "c"]` (the repeated values FastAPI collects) → `["a", "b", "c"]`."""
    values = value if isinstance(value, list) else [value]
    return [part.strip() for item in values for part in str(item).split(",") if part.strip()]


CommaList = Annotated[
    list[T],
    BeforeValidator(split_comma_separated),
    WithJsonSchema({"type": "string", "description": "a comma-separated list"}),
]
"""A list query parameter given as `a,b`; `CommaList[MessageType]` also checks each item.
The OpenAPI document says what clients send, a string: any string is a list of one or more."""


def invalid_parameter(name: str, reason: str) -> HTTPException:
    return HTTPException(422, f"invalid parameter {name}: {reason}")


class SortOrder(IntEnum):
    DESCENDING = -1
    ASCENDING = 1

    @property
    def descending(self) -> bool:
        return self is SortOrder.DESCENDING


SortOrderParam = Annotated[SortOrder, Query(alias="sortOrder")]


@dataclass(frozen=True, slots=True)
class Page:
    """Page `number` (from 1) of `size` items; size 0 means every item on one page."""

    number: int
    size: int


def page_params(
    default_size: int = 20, max_size: int | None = None, allow_all: bool = True
) -> Callable[..., Page]:
    """A dependency reading `page` and `pagination`; endpoints differ in default and bounds.

    The bounds are checked in the body: FastAPI resolves annotations in the module's globals
    (they are strings here), so an annotation cannot use this function's arguments.
    """
    smallest = 0 if allow_all else 1

    def read_page(
        page: Annotated[int, Query(ge=1)] = 1,
        pagination: Annotated[int, Query(ge=0, description="items per page")] = default_size,
    ) -> Page:
        if pagination < smallest or (max_size is not None and pagination > max_size):
            upper = "" if max_size is None else f" and at most {max_size}"
            raise invalid_parameter("pagination", f"must be at least {smallest}{upper}")
        return Page(page, pagination)

    return read_page


PageDep = Annotated[Page, Depends(page_params())]


def page_in_path(page_number: Annotated[int, Path(ge=1)], query_page: PageDep) -> Page:
    """`/…/page/{page_number}.json`: the legacy spelling of `?page=n`; the path wins."""
    return Page(page_number, query_page.size)


PathPageDep = Annotated[Page, Depends(page_in_path)]


def paginated(item: str, items: Any, page: Page, total: int) -> dict[str, Any]:
    """The reference envelope: the items (a list, or a mapping) under `item`, and where this
    page stands."""
    return {
        item: items,
        "pagination_page": page.number,
        "pagination_total": total,
        "pagination_per_page": page.size,
        "pagination_item": item,
    }


@dataclass(frozen=True, slots=True)
class DateRange:
    start: float | None = None
    end: float | None = None


def date_range(
    start: Annotated[float | None, Query(alias="startDate", ge=0)] = None,
    end: Annotated[float | None, Query(alias="endDate", ge=0)] = None,
) -> DateRange:
    if start is not None and end is not None and end < start:
        raise invalid_parameter("endDate", f"{end} is before startDate {start}")
    return DateRange(start, end)


DateRangeDep = Annotated[DateRange, Depends(date_range)]


def encode_cursor(position: dict[str, Any]) -> str:
    text = json.dumps(position, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, name: str = "cursor") -> dict[str, Any]:
    """The position a cursor holds; a cursor this node did not make is a 422."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError) as error:
        raise invalid_parameter(name, "not a cursor given by this API") from error
    if not isinstance(position, dict):
        raise invalid_parameter(name, "not a cursor given by this API")
    return position
