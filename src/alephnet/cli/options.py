"""Options several command groups share, declared once so they read and behave the same.

List options can be repeated (`--type POST --type STORE`) or comma-separated
(`--type POST,STORE`), or both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import typer

from alephnet.sdk import MessageFilters

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON only (for scripts).")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print the item hash only (for shell variables).")
]
AddressOption = Annotated[
    str | None, typer.Option("--address", "-a", help="Whose data (default: the current account's).")
]
ChannelOption = Annotated[
    str | None, typer.Option("--channel", help="The channel to publish on (default: ALEPHNET).")
]
ReasonOption = Annotated[str | None, typer.Option(help="Why, kept in the FORGET message.")]
PageOption = Annotated[int, typer.Option(min=1, help="Which page of results.")]
PaginationOption = Annotated[int, typer.Option(min=1, max=500, help="Results per page.")]

TypesOption = Annotated[
    list[str] | None, typer.Option("--type", "-t", help="Message types: POST, STORE, ...")
]
AddressesOption = Annotated[
    list[str] | None, typer.Option("--address", "-a", help="Senders or content owners.")
]
ChannelsOption = Annotated[list[str] | None, typer.Option("--channel", help="Channels.")]
RefsOption = Annotated[list[str] | None, typer.Option("--ref", help="Content refs.")]
ContentTypesOption = Annotated[
    list[str] | None, typer.Option("--content-type", help="Post types (content.type).")
]
ContentKeysOption = Annotated[
    list[str] | None, typer.Option("--content-key", help="Aggregate keys (content.key).")
]
ChainsOption = Annotated[list[str] | None, typer.Option("--chain", help="Chains: ETH, SOL, ...")]
TagsOption = Annotated[list[str] | None, typer.Option("--tag", help="Tags (any of them).")]
HashesOption = Annotated[list[str] | None, typer.Option("--hash", help="Item hashes.")]


def split(values: Iterable[str] | None) -> list[str]:
    """Repeated and comma-separated values, flattened; empty items dropped."""
    return [item.strip() for value in values or () for item in value.split(",") if item.strip()]


def message_filters(
    *,
    types: list[str] | None = None,
    addresses: list[str] | None = None,
    channels: list[str] | None = None,
    refs: list[str] | None = None,
    content_types: list[str] | None = None,
    content_keys: list[str] | None = None,
    chains: list[str] | None = None,
    tags: list[str] | None = None,
    hashes: list[str] | None = None,
    statuses: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> MessageFilters:
    """The SDK filters of the options given (those left out filter nothing)."""
    filters = MessageFilters(
        message_types=[kind.upper() for kind in split(types)],
        addresses=split(addresses),
        channels=split(channels),
        refs=split(refs),
        content_types=split(content_types),
        content_keys=split(content_keys),
        chains=[chain.upper() for chain in split(chains)],
        tags=split(tags),
        hashes=split(hashes),
        statuses=split(statuses),
    )
    if start is not None:
        filters["start_date"] = start
    if end is not None:
        filters["end_date"] = end
    return filters
