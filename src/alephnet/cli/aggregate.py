"""`alephnet aggregate ...`: an address's key-value store (each key holds a JSON object)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from alephnet.cli import output
from alephnet.cli.context import cli_context
from alephnet.cli.inputs import ContentFileOption, ContentOption, read_object
from alephnet.cli.options import AddressOption, ChannelOption, JsonOption, QuietOption, ReasonOption
from alephnet.sdk import AlephClient, AuthenticatedAlephClient, NotFound, Published

app = typer.Typer(
    help="Set, read and forget aggregates: per-address JSON objects merged key by key.",
    no_args_is_help=True,
)

KeyArgument = Annotated[str, typer.Argument(help="The aggregate key, e.g. `profile`.")]


@app.command("set")
def set_key(
    ctx: typer.Context,
    key: KeyArgument,
    content: ContentOption = None,
    file: ContentFileOption = None,
    channel: ChannelOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Merge a JSON object (--content, --file, or stdin) into the key.

    The merge is shallow: top-level fields given replace those stored, the others stay; a
    field set to null stays, with the value null.
    """
    document = read_object(content, file)
    published = cli_context(ctx).write(
        lambda client: client.create_aggregate(key, document, channel=channel)
    )
    output.print_published(published, as_json, quiet)


@app.command("get")
def get(
    ctx: typer.Context, key: KeyArgument, address: AddressOption = None, as_json: JsonOption = False
) -> None:
    """Show the merged value of one key."""
    context = cli_context(ctx)
    owner = context.address(address)
    value = context.read(lambda client: client.fetch_aggregate(owner, key))
    output.emit(value, as_json, output.print_document)


@app.command("list")
def list_keys(
    ctx: typer.Context, address: AddressOption = None, as_json: JsonOption = False
) -> None:
    """Show every key of an address, with its value."""
    context = cli_context(ctx)
    owner = context.address(address)
    aggregates = context.read(lambda client: _all_aggregates(client, owner))
    output.emit(aggregates, as_json, _print_aggregates)


@app.command("forget")
def forget(
    ctx: typer.Context,
    key: KeyArgument,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Erase a whole key of the current account: every revision, for good."""
    published = cli_context(ctx).write(lambda client: _forget_key(client, key, reason))
    output.print_published(published, as_json, quiet)


async def _forget_key(client: AuthenticatedAlephClient, key: str, reason: str | None) -> Published:
    """Forget every AGGREGATE message of the key by hash. The protocol's own `aggregates` field
    of FORGET only takes hash-shaped keys (a compatibility rule), so most keys, such as
    `profile`, cannot be forgotten through it."""
    revisions = client.iter_messages(
        message_types=["AGGREGATE"], addresses=[client.address], content_keys=[key]
    )
    hashes = [message.item_hash async for message in revisions]
    if not hashes:
        raise NotFound(f"{client.address} has no aggregate {key!r}")
    return await client.forget(hashes, reason=reason)


async def _all_aggregates(client: AlephClient, address: str) -> dict[str, Any]:
    """An address without aggregates has an empty list, not an error."""
    try:
        return await client.fetch_aggregates(address)
    except NotFound:
        return {}


def _print_aggregates(aggregates: dict[str, Any]) -> None:
    if not aggregates:
        output.console.print("no aggregates")
        return
    output.print_table(sorted(aggregates.items()), ["key", "value"])
