"""`alephnet file ...`: files as the network names them (sha256 or IPFS CID), and the STORE
messages that keep them on the nodes."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from alephnet.cli import output
from alephnet.cli.context import cli_context
from alephnet.cli.options import AddressOption, ChannelOption, JsonOption, QuietOption, ReasonOption
from alephnet.protocol.cid import CidBuilder
from alephnet.sdk import (
    AlephClient,
    AuthenticatedAlephClient,
    Message,
    MessageFilters,
    NotFound,
    Published,
)

app = typer.Typer(
    help="Upload, download, inspect and forget files; hash them offline.", no_args_is_help=True
)
READ_SIZE = 1 << 20
STORE = "STORE"
DISPLAY_MIN_SIZE = 64 * READ_SIZE
"""Smaller files hash in a blink: no progress bar for them."""


class Engine(enum.StrEnum):
    STORAGE = "storage"
    IPFS = "ipfs"


FileArgument = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file.")
]
HashArgument = Annotated[str, typer.Argument(help="The file's hash: sha256 hex or IPFS CID.")]


@app.command("hash")
def hash_file(path: FileArgument) -> None:
    """Print a file's two names: its sha256 (the `storage` engine) and its CIDv0 (`ipfs`).

    Reads the file once, in constant memory, with a progress bar for large files.
    """
    sha256 = hashlib.sha256()
    cid = CidBuilder()
    size = path.stat().st_size
    with (
        path.open("rb") as stream,
        output.transfer_progress(disable=size < DISPLAY_MIN_SIZE) as bar,
    ):
        task = bar.add_task(f"hashing {path.name}", total=size)
        while chunk := stream.read(READ_SIZE):
            sha256.update(chunk)
            cid.update(chunk)
            bar.advance(task, len(chunk))
    output.console.print(f"size     {size}")
    output.console.print(f"storage  {sha256.hexdigest()}")
    output.console.print(f"ipfs     {cid.cid_v0()}")


@app.command("upload")
def upload(
    ctx: typer.Context,
    path: FileArgument,
    engine: Annotated[
        Engine, typer.Option(help="storage: named by sha256; ipfs: named by CIDv0.")
    ] = Engine.STORAGE,
    ref: Annotated[str | None, typer.Option(help="A name or hash the STORE refers to.")] = None,
    channel: ChannelOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Upload a file with the STORE message that keeps it on the network.

    Prints the STORE message's hash; the file's own hash is in `file list` and `file info`.
    """
    with output.upload_bar(f"uploading {path.name}") as advance:
        published = cli_context(ctx).write(
            lambda client: client.create_store(
                path,
                storage_engine=engine.value,
                progress=advance,
                ref=ref,
                metadata={"name": path.name},
                channel=channel,
            )
        )
    output.print_published(published, as_json, quiet)


@app.command("download")
def download(
    ctx: typer.Context,
    file_hash: HashArgument,
    output_path: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write it (default: ./HASH); - for stdout."),
    ] = None,
) -> None:
    """Download a file and check that its bytes have the hash asked for.

    The file appears at its path only once verified: a failed or corrupt download leaves nothing.
    """
    context = cli_context(ctx)
    if output_path == Path("-"):
        context.read(lambda client: client.download_file(file_hash, sys.stdout.buffer))
        return
    target = output_path or Path(file_hash)
    with _verified_file(target) as stream, output.transfer_progress() as bar:
        task = bar.add_task(f"downloading {file_hash[:12]}…", total=None)

        def advance(received: int, total: int | None) -> None:
            bar.update(task, completed=received, total=total)

        size = context.read(
            lambda client: client.download_file(file_hash, stream, progress=advance)
        )
    output.console.print(f"{target} ({size} bytes, verified)", highlight=False)


@app.command("info")
def info(ctx: typer.Context, file_hash: HashArgument, as_json: JsonOption = False) -> None:
    """Show a file's size and the STORE messages that keep it (owner, time, name)."""
    stores = cli_context(ctx).read(
        lambda client: _stores(client, MessageFilters(content_hashes=[file_hash]))
    )
    if not stores:
        raise NotFound(f"no STORE message keeps the file {file_hash}")
    output.emit([_store_record(message) for message in stores], as_json, _print_stores)


@app.command("list")
def list_files(
    ctx: typer.Context, address: AddressOption = None, as_json: JsonOption = False
) -> None:
    """List the files an address keeps on the network (its STORE messages)."""
    context = cli_context(ctx)
    owner = context.address(address)
    stores = context.read(lambda client: _stores(client, MessageFilters(addresses=[owner])))
    output.emit([_store_record(message) for message in stores], as_json, _print_stores)


@app.command("forget")
def forget(
    ctx: typer.Context,
    hashes: Annotated[
        list[str], typer.Argument(help="File hashes, or item hashes of STORE messages.")
    ],
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Forget your STORE messages of these files; nodes delete a file nothing else keeps."""
    published = cli_context(ctx).write(lambda client: _forget_files(client, hashes, reason))
    output.print_published(published, as_json, quiet)


async def _forget_files(
    client: AuthenticatedAlephClient, hashes: list[str], reason: str | None
) -> Published:
    """A file hash stands for every STORE of it this account sent; other hashes are taken as
    message hashes, as the node expects."""
    mine = await _stores(client, MessageFilters(content_hashes=hashes, addresses=[client.address]))
    by_file = {message.content["item_hash"] for message in mine}
    targets = [message.item_hash for message in mine]
    targets += [item_hash for item_hash in hashes if item_hash not in by_file]
    return await client.forget(targets, reason=reason)


async def _stores(client: AlephClient, filters: MessageFilters) -> list[Message]:
    """Every STORE message matching `filters`, all pages."""
    filters["message_types"] = [STORE]
    return [message async for message in client.iter_messages(**filters)]


def _store_record(message: Message) -> dict[str, Any]:
    content = message.content if isinstance(message.content, dict) else {}
    metadata = content.get("metadata") or {}
    return {
        "file_hash": content.get("item_hash"),
        "engine": content.get("item_type"),
        "size": content.get("size"),
        "name": metadata.get("name") if isinstance(metadata, dict) else None,
        "ref": content.get("ref"),
        "owner": content.get("address"),
        "store_hash": message.item_hash,
        "time": message.time,
    }


def _print_stores(records: list[dict[str, Any]]) -> None:
    if not records:
        output.console.print("no files")
        return
    columns = ["file_hash", "engine", "size", "name", "owner", "store_hash"]
    rows = [
        [record[column] for column in columns] + [output.format_time(record["time"])]
        for record in records
    ]
    output.print_table(rows, [*columns, "time"])


@contextlib.contextmanager
def _verified_file(target: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `target`, renamed to it only if the block succeeds."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
