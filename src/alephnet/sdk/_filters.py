"""Message and post filters: Python keyword arguments, and the query parameters they become.

The keywords are checked by mypy (`Unpack` of these TypedDicts) and at run time (an unknown
keyword is a TypeError, not a filter silently ignored by the node).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TypedDict


class PostFilters(TypedDict, total=False):
    addresses: Iterable[str]
    hashes: Iterable[str]
    refs: Iterable[str]
    types: Iterable[str]
    tags: Iterable[str]
    channels: Iterable[str]
    start_date: float | datetime
    end_date: float | datetime
    sort_by: str
    sort_order: int


class MessageFilters(TypedDict, total=False):
    message_types: Iterable[str]
    statuses: Iterable[str]
    addresses: Iterable[str]
    owners: Iterable[str]
    refs: Iterable[str]
    content_hashes: Iterable[str]
    content_keys: Iterable[str]
    content_types: Iterable[str]
    chains: Iterable[str]
    channels: Iterable[str]
    tags: Iterable[str]
    hashes: Iterable[str]
    payment_types: Iterable[str]
    start_date: float | datetime
    end_date: float | datetime
    sort_by: str
    sort_order: int
    content_format: str


QUERY_NAMES = {
    "message_types": "msgTypes",
    "statuses": "msgStatuses",
    "content_hashes": "contentHashes",
    "content_keys": "contentKeys",
    "content_types": "contentTypes",
    "payment_types": "paymentTypes",
    "start_date": "startDate",
    "end_date": "endDate",
    "sort_by": "sortBy",
    "sort_order": "sortOrder",
    "content_format": "contentFormat",
}


def query_params(
    filters: Mapping[str, object], allowed: Iterable[str]
) -> dict[str, str | int | float]:
    """The node's query parameters; lists comma-joined, dates as epoch seconds, empty values
    left out (as the official SDK does)."""
    unknown = set(filters) - set(allowed)
    if unknown:
        raise TypeError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    params: dict[str, str | int | float] = {}
    for name, value in filters.items():
        encoded = _encode(value)
        if encoded != "":
            params[QUERY_NAMES.get(name, name)] = encoded
    return params


def _encode(value: object) -> str | int | float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, Iterable):
        return ",".join(str(item) for item in value)
    raise TypeError(f"a filter value is a string, number, date or list, not {value!r}")


MESSAGE_FILTERS = frozenset(MessageFilters.__annotations__)
POST_FILTERS = frozenset(PostFilters.__annotations__)
