"""Query-building helpers that accessors share: pagination, sort direction, and the one JSON test
whose SQL differs between SQLite and PostgreSQL (does a JSON array hold any of these values?)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import UnaryExpression

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


SQL_MAX_INT = 2**63 - 1
"""The largest LIMIT or OFFSET the databases take; no table comes near it."""


def paginate(statement: SelectT, page: int, per_page: int) -> SelectT:
    """Page `page` (from 1) of `per_page` rows; `per_page == 0` means every row. A page past
    any possible row is empty, not an overflow: the bounds are clamped to what SQL takes."""
    if per_page == 0:
        return statement
    offset = (page - 1) * per_page
    return statement.limit(min(per_page, SQL_MAX_INT)).offset(min(offset, SQL_MAX_INT))


def ordered(column: SQLColumnExpression[Any], descending: bool) -> UnaryExpression[Any]:
    return column.desc() if descending else column.asc()


class _JsonArrayOverlap(ColumnElement[bool]):
    """True when a JSON array holds at least one of the strings `values`; NULL, absent or not
    an array (a string, an object): false on both dialects. PostgreSQL has an operator for it,
    SQLite a table function."""

    type = Boolean()
    inherit_cache = False

    def __init__(
        self, column: SQLColumnExpression[Any], values: Sequence[str], key: str | None
    ) -> None:
        self.column = column
        self.values = list(values)
        self.key = key


@compiles(_JsonArrayOverlap, "postgresql")
def _overlap_postgresql(element: _JsonArrayOverlap, compiler: SQLCompiler, **kw: Any) -> str:
    document = cast(element.column, JSONB)
    array_value = document[element.key] if element.key is not None else document
    expression = and_(
        func.jsonb_typeof(array_value) == "array", array_value.has_any(array(element.values))
    )
    return compiler.process(expression, **kw)


@compiles(_JsonArrayOverlap)
def _overlap_sqlite(element: _JsonArrayOverlap, compiler: SQLCompiler, **kw: Any) -> str:
    path = () if element.key is None else (f'$."{element.key}"',)
    items = func.json_each(element.column, *path).table_valued("value", "type")
    holds_one = (
        select(literal(1))
        .select_from(items)
        .where(items.c.type == "text", items.c.value.in_(element.values))
        .exists()
    )
    expression = and_(func.json_type(element.column, *path) == "array", holds_one)
    return compiler.process(expression, **kw)


def json_array_overlaps(
    column: SQLColumnExpression[Any], values: Sequence[str], key: str | None = None
) -> ColumnElement[bool]:
    """Whether the JSON array in `column` (or under its top-level `key`) shares an element
    with `values`: the reference's tag filter."""
    return _JsonArrayOverlap(column, values, key)
