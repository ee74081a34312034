"""What the `program` and `instance` groups share: the CRN to talk to, and VM messages on the CCN.

Programs and instances are messages on a CCN (published, listed, forgotten there) that run on a
CRN (called, logged, stopped there). The CRN is `--crn-url` (env `ALEPHNET_CRN_URL`), the one
`alephnet crn run` starts by default. What the CRN lets a VM's owner do (read its logs, stop,
reboot or erase it) reads and behaves the same for programs and instances: `show_logs` and
`control`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import typer

from alephnet.cli import output
from alephnet.cli.context import cli_context
from alephnet.cli.errors import fail
from alephnet.sdk import (
    AlephClient,
    CrnClient,
    LogEntry,
    Message,
    MessageFilters,
    NodeUnreachable,
    NotFound,
    RequestTimeout,
)

T = TypeVar("T")

CrnUrlOption = Annotated[
    str,
    typer.Option(
        "--crn-url",
        "--crn",
        envvar="ALEPHNET_CRN_URL",
        help="The compute node (CRN) that runs it (`alephnet crn run` starts one here).",
    ),
]
HashArgument = Annotated[str, typer.Argument(help="The item hash of its message.")]
Operation = Literal["stop", "reboot", "erase"]
DONE: dict[Operation, str] = {"stop": "stopped", "reboot": "rebooted", "erase": "erased"}


def on_crn(
    ctx: typer.Context,
    crn_url: str,
    call: Callable[[CrnClient], Awaitable[T]],
    *,
    as_owner: bool = False,
) -> T:
    """Run `call` with a client of the CRN, signing as the current account for owner calls.
    An unreachable CRN gets advice about CRNs, not the CCN's."""
    account = cli_context(ctx).account() if as_owner else None
    try:
        return asyncio.run(_with_crn(CrnClient(crn_url, account=account), call))
    except NodeUnreachable as error:
        raise fail(
            f"CRN at {_origin(crn_url)} is not reachable: start one with `alephnet crn run`, "
            "or pass --crn-url / set ALEPHNET_CRN_URL"
        ) from error
    except NotFound as error:
        raise fail(
            f"{error}: check the hash, and that the CRN at {_origin(crn_url)} reads the CCN "
            "that holds the message"
        ) from error
    except RequestTimeout as error:
        raise fail(
            f"CRN at {_origin(crn_url)} did not answer in time: a first call boots the VM; "
            "see `alephnet program logs HASH`, or try again"
        ) from error


def show_logs(ctx: typer.Context, crn_url: str, item_hash: str, as_json: bool) -> None:
    """Print what the VM wrote (stdout and stderr) on the CRN; the CRN asks for its owner."""
    entries = on_crn(ctx, crn_url, lambda client: client.logs(item_hash), as_owner=True)
    output.emit(entries, as_json, _print_logs)


def _print_logs(entries: list[LogEntry]) -> None:
    if not entries:
        output.console.print("no logs yet: nothing was printed on this CRN")
    for entry in entries:
        stream = "err" if entry.stream == "stderr" else "out"
        output.console.print(
            f"{output.format_time(entry.time)} {stream} {entry.message}",
            highlight=False,
            markup=False,
        )


def control(ctx: typer.Context, crn_url: str, item_hash: str, operation: Operation) -> None:
    """Stop, reboot or erase the VM on the CRN, signed as its owner, and say it is done."""
    on_crn(ctx, crn_url, lambda client: _operate(client, operation, item_hash), as_owner=True)
    output.console.print(f"{DONE[operation]} {item_hash}", highlight=False)


async def _operate(client: CrnClient, operation: Operation, item_hash: str) -> None:
    match operation:
        case "stop":
            await client.stop(item_hash)
        case "reboot":
            await client.reboot(item_hash)
        case "erase":
            await client.erase(item_hash)


async def _with_crn(client: CrnClient, call: Callable[[CrnClient], Awaitable[T]]) -> T:
    async with client:
        return await call(client)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


async def vm_messages(client: AlephClient, message_type: str, address: str) -> list[Message]:
    """Every PROGRAM or INSTANCE message of `address`, newest first."""
    filters = MessageFilters(message_types=[message_type], addresses=[address])
    return [message async for message in client.iter_messages(**filters)]


async def vm_message(client: AlephClient, message_type: str, item_hash: str) -> Message:
    """The PROGRAM or INSTANCE message `item_hash`; `NotFound` if it is something else."""
    message = (await client.get_message(item_hash)).message
    if message is None or message.type != message_type:
        raise NotFound(f"no {message_type} message {item_hash}")
    return message


Record = Callable[[Message], dict[str, Any]]
"""A VM message's summary fields (with its `hash` and `time`), as `list` and `show` print them."""


def list_vms(
    ctx: typer.Context,
    message_type: str,
    address: str | None,
    as_json: bool,
    record: Record,
    columns: list[str],
) -> None:
    """List an address's PROGRAM or INSTANCE messages (the current account's by default)."""
    context = cli_context(ctx)
    owner = context.address(address)
    messages = context.read(lambda client: vm_messages(client, message_type, owner))
    output.emit(
        [record(message) for message in messages],
        as_json,
        lambda records: print_vm_table(records, columns),
    )


def show_vm(
    ctx: typer.Context, message_type: str, item_hash: str, as_json: bool, record: Record
) -> None:
    """Show one PROGRAM or INSTANCE message: its summary fields, then its whole content."""
    message = cli_context(ctx).read(lambda client: vm_message(client, message_type, item_hash))
    if as_json:
        output.print_json(message)
        return
    fields = record(message)
    del fields["hash"], fields["time"]
    print_vm(message, fields)


def resources(content: dict[str, Any]) -> dict[str, Any]:
    found = content.get("resources")
    return found if isinstance(found, dict) else {}


def print_vm(message: Message, fields: dict[str, Any]) -> None:
    """A VM message for people: its summary fields, then its whole content."""
    output.print_fields(
        {
            "hash": message.item_hash,
            "owner": message.content.get("address") if isinstance(message.content, dict) else None,
            **fields,
            "time": output.format_time(message.time),
        }
    )
    output.print_document(message.content, title="content")


def print_vm_table(records: list[dict[str, Any]], columns: list[str]) -> None:
    """VM records as a table: the `columns` asked for, then the time."""
    if not records:
        output.console.print("none")
        return
    rows = [
        [record[name] for name in columns] + [output.format_time(record["time"])]
        for record in records
    ]
    output.print_table(rows, [*columns, "time"])


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    """`--env KEY=VALUE` options as a dict; a pair without `=` is a usage error."""
    env: dict[str, str] = {}
    for pair in pairs or ():
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        env[key] = value
    return env
