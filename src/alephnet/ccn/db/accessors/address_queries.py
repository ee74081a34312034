"""What the node knows per address: message counts by type, post types, channels, balances.

The counts are computed from `messages` on demand (grouped by sender, the reference's meaning
of an address's messages); a node with millions of messages would keep them in a summary table
instead, as the reference node does with a materialised view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import BalanceRow, MessageRow
from alephnet.ccn.db.query import SelectT, ordered, paginate
from alephnet.protocol.content.post import AMEND
from alephnet.protocol.enums import MessageType


class StatsSort(StrEnum):
    """The `sortBy` values of address statistics: a message type, or all messages."""

    MESSAGES = "messages"
    TOTAL = "total"
    POST = "post"
    AGGREGATE = "aggregate"
    STORE = "store"
    FORGET = "forget"
    PROGRAM = "program"
    INSTANCE = "instance"


@dataclass(frozen=True, slots=True)
class AddressStats:
    address: str
    counts: dict[str, int]
    """`messages` (all types) and one count per type, named as in the API (`post`, ...)."""


async def address_stats(
    session: AsyncSession,
    *,
    addresses: Sequence[str] = (),
    contains: str | None = None,
    sort_by: StatsSort = StatsSort.MESSAGES,
    descending: bool = True,
    page: int = 1,
    per_page: int = 0,
) -> list[AddressStats]:
    counts = _count_columns()
    sort_column = counts["messages" if sort_by == StatsSort.TOTAL else sort_by.value]
    statement = (
        _senders(select(MessageRow.sender, *counts.values()), addresses, contains)
        .group_by(MessageRow.sender)
        .order_by(ordered(sort_column, descending), MessageRow.sender)
    )
    result = await session.execute(paginate(statement, page, per_page))
    names = list(counts)
    return [
        AddressStats(row[0], {name: int(value) for name, value in zip(names, row[1:], strict=True)})
        for row in result
    ]


async def count_addresses(session: AsyncSession, contains: str | None = None) -> int:
    statement = _senders(select(func.count(distinct(MessageRow.sender))), (), contains)
    return int((await session.execute(statement)).scalar_one())


async def post_types_of(session: AsyncSession, owner: str) -> list[str]:
    """The post types an owner has used (amends are not a type of their own)."""
    result = await session.execute(
        select(MessageRow.content_type)
        .distinct()
        .where(
            MessageRow.owner == owner,
            MessageRow.type == MessageType.POST,
            MessageRow.content_type.is_not(None),
            MessageRow.content_type != AMEND,
        )
        .order_by(MessageRow.content_type)
    )
    return [value for value in result.scalars() if value is not None]


async def channels_of(session: AsyncSession, sender: str | None = None) -> list[str]:
    """The channels used (by `sender`, when given), in alphabetical order."""
    statement = select(MessageRow.channel).distinct().where(MessageRow.channel.is_not(None))
    if sender is not None:
        statement = statement.where(MessageRow.sender == sender)
    result = await session.execute(statement.order_by(MessageRow.channel))
    return [value for value in result.scalars() if value is not None]


async def balances_of(
    session: AsyncSession, address: str, chain: str | None = None
) -> dict[str, float]:
    """The known balance of `address` on each chain (on one chain, when given)."""
    statement = select(BalanceRow.chain, BalanceRow.balance).where(BalanceRow.address == address)
    if chain is not None:
        statement = statement.where(BalanceRow.chain == chain)
    result = await session.execute(statement.order_by(BalanceRow.chain))
    return {row.chain: row.balance for row in result}


def _count_columns() -> dict[str, ColumnElement[Any]]:
    columns: dict[str, ColumnElement[Any]] = {"messages": func.count().label("messages")}
    for message_type in MessageType:
        name = message_type.value.lower()
        columns[name] = func.sum(case((MessageRow.type == message_type, 1), else_=0)).label(name)
    return columns


def _senders(statement: SelectT, addresses: Sequence[str], contains: str | None) -> SelectT:
    if addresses:
        statement = statement.where(MessageRow.sender.in_(addresses))
    if contains:
        statement = statement.where(MessageRow.sender.icontains(contains, autoescape=True))
    return statement
