"""`alephnet file ...`: work with files as the network names them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from alephnet.protocol.cid import CidBuilder

app = typer.Typer(help="Hash files the way Aleph nodes name them.", no_args_is_help=True)
console = Console()
READ_SIZE = 1 << 20


@app.command("hash")
def hash_file(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to hash.")
    ],
) -> None:
    """Print a file's two names: its sha256 (the `storage` engine) and its CIDv0 (`ipfs`).

    Reads the file once, in constant memory, with a progress bar for large files.
    """
    sha256 = hashlib.sha256()
    cid = CidBuilder()
    size = path.stat().st_size
    with (
        path.open("rb") as stream,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
            disable=size < 64 * READ_SIZE,
        ) as progress,
    ):
        task = progress.add_task(f"hashing {path.name}", total=size)
        while chunk := stream.read(READ_SIZE):
            sha256.update(chunk)
            cid.update(chunk)
            progress.advance(task, len(chunk))
    console.print(f"size     {size}")
    console.print(f"storage  {sha256.hexdigest()}")
    console.print(f"ipfs     {cid.cid_v0()}")
