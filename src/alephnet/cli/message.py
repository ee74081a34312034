"""`alephnet message ...`: signed messages, offline (verify) and on a node (get, find, watch,
forget)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from alephnet.cli import output
from alephnet.cli.context import cli_context
from alephnet.cli.options import (
    AddressesOption,
    ChainsOption,
    ChannelsOption,
    ContentKeysOption,
    ContentTypesOption,
    HashesOption,
    JsonOption,
    PageOption,
    PaginationOption,
    QuietOption,
    ReasonOption,
    RefsOption,
    TagsOption,
    TypesOption,
    message_filters,
)
from alephnet.protocol import MessageError, validate_message
from alephnet.sdk import AlephClient, Message, MessageFilters, MessageInfo, MessagePage

app = typer.Typer(help="Verify, read, search, watch and forget messages.", no_args_is_help=True)

MESSAGE_COLUMNS = ["hash", "type", "sender", "channel", "time"]


@app.command("verify")
def verify(
    source: Annotated[
        str, typer.Argument(help="A JSON file holding one message or a list of them; - for stdin.")
    ],
) -> None:
    """Check format, item hash and signature of messages, offline.

    Prints one line per message; exits with status 1 if any message is invalid.
    """
    try:
        document = _read_json(source)
    except (OSError, json.JSONDecodeError) as error:
        output.console.print(f"[red]cannot read {source}:[/red] {error}")
        raise typer.Exit(2) from error
    messages = document if isinstance(document, list) else [document]
    failures = sum(not _verify_one(raw) for raw in messages)
    if failures:
        output.console.print(f"[red]{failures} of {len(messages)} messages are invalid[/red]")
        raise typer.Exit(1)


@app.command("get")
def get(
    ctx: typer.Context,
    item_hash: Annotated[str, typer.Argument(help="The message's item hash.")],
    as_json: JsonOption = False,
) -> None:
    """Show a message, its status and its content.

    A rejected message shows its error code and reason; a forgotten one who forgot it.
    """
    found = cli_context(ctx).read(lambda client: client.get_message(item_hash))
    output.emit(found, as_json, _print_info)


@app.command("find")
def find(
    ctx: typer.Context,
    types: TypesOption = None,
    addresses: AddressesOption = None,
    channels: ChannelsOption = None,
    refs: RefsOption = None,
    content_types: ContentTypesOption = None,
    content_keys: ContentKeysOption = None,
    chains: ChainsOption = None,
    tags: TagsOption = None,
    hashes: HashesOption = None,
    statuses: Annotated[
        list[str] | None,
        typer.Option(
            "--status", help="Statuses (default: processed): pending, rejected, forgotten..."
        ),
    ] = None,
    start: Annotated[datetime | None, typer.Option(help="Sent at or after (UTC).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Sent before (UTC).")] = None,
    page: PageOption = 1,
    pagination: PaginationOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Search messages, newest first; every filter given must match (values within one: any)."""
    filters = message_filters(
        types=types,
        addresses=addresses,
        channels=channels,
        refs=refs,
        content_types=content_types,
        content_keys=content_keys,
        chains=chains,
        tags=tags,
        hashes=hashes,
        statuses=statuses,
        start=start,
        end=end,
    )
    found = cli_context(ctx).read(
        lambda client: client.get_messages(page=page, pagination=pagination, **filters)
    )
    output.emit(found, as_json, _print_page)


@app.command("watch")
def watch(
    ctx: typer.Context,
    types: TypesOption = None,
    addresses: AddressesOption = None,
    channels: ChannelsOption = None,
    refs: RefsOption = None,
    content_types: ContentTypesOption = None,
    content_keys: ContentKeysOption = None,
    chains: ChainsOption = None,
    tags: TagsOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each message as one JSON line (JSON Lines).")
    ] = False,
) -> None:
    """Print each new matching message as the node processes it, until Ctrl-C.

    Survives dropped connections: it reconnects and resumes without printing a message twice.
    """
    filters = message_filters(
        types=types,
        addresses=addresses,
        channels=channels,
        refs=refs,
        content_types=content_types,
        content_keys=content_keys,
        chains=chains,
        tags=tags,
    )
    try:
        cli_context(ctx).read(lambda client: _print_stream(client, filters, as_json))
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends: not a failure


@app.command("forget")
def forget(
    ctx: typer.Context,
    hashes: Annotated[list[str], typer.Argument(help="Item hashes of your messages.")],
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Erase messages you sent (or may write for): their content is deleted on every node."""
    published = cli_context(ctx).write(lambda client: client.forget(hashes, reason=reason))
    output.print_published(published, as_json, quiet)


async def _print_stream(client: AlephClient, filters: MessageFilters, as_json: bool) -> None:
    async for message in client.watch_messages(**filters):
        if as_json:
            output.print_json_line(message)
        else:
            output.console.print(*_row(message), highlight=False)


def _row(message: Message) -> list[str]:
    return [
        message.item_hash,
        message.type,
        message.sender,
        message.channel or "",
        output.format_time(message.time),
    ]


def _print_page(page: MessagePage) -> None:
    total = "" if page.total is None else f" of {page.total}"
    title = f"messages: page {page.page or 1}, {len(page.messages)}{total}"
    output.print_table([_row(message) for message in page.messages], MESSAGE_COLUMNS, title)


def _print_info(info: MessageInfo) -> None:
    fields: dict[str, Any] = {
        "hash": info.item_hash,
        "status": info.status.value,
        "received": output.format_time(info.reception_time),
    }
    message = info.message
    if message is not None:
        fields.update(zip(MESSAGE_COLUMNS[1:], _row(message)[1:], strict=True))
        fields["chain"] = message.chain
    output.print_fields(fields)
    if message is not None:
        output.print_document(message.content, title="content")


def _read_json(source: str) -> Any:
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    return json.loads(text)


def _verify_one(raw: Any) -> bool:
    item_hash = raw.get("item_hash", "?") if isinstance(raw, dict) else "?"
    try:
        message = validate_message(raw)
    except MessageError as error:
        output.console.print(f"[red]invalid[/red] {item_hash}: {error}")
        return False
    output.console.print(
        f"[green]valid[/green]   {message.item_hash} {message.type} from {message.sender}"
    )
    return True
