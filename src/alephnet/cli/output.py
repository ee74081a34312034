"""How every command prints: Rich tables for people, plain JSON for scripts.

Read commands take `--json` (`options.JsonOption`) and hand their data to `emit`, which prints
either the JSON document and nothing else, or the human rendering the command passes in. Keeping
the choice here means a script can rely on `--json` output being parseable on every command.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from alephnet.sdk import Published

# Piped output is not cut at 80 columns: hashes and addresses must stay whole for grep and cut.
PIPE_WIDTH = 240
console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
# Progress bars go to stderr: stdout stays clean for --json and for `file download -o -`.
progress_console = Console(stderr=True)

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    """The JSON form of SDK values: pydantic models, dataclasses, enums, paths."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_jsonable(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def print_json_line(value: Any) -> None:
    """One compact JSON document per line (JSON Lines), for streams such as `message watch`."""
    typer.echo(json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":")))


def emit(value: T, as_json: bool, render: Callable[[T], None]) -> None:
    """Print `value` as JSON, or hand it to the command's human rendering."""
    if as_json:
        print_json(value)
    else:
        render(value)


def print_table(
    rows: Sequence[Sequence[Any]], columns: Sequence[str], title: str | None = None
) -> None:
    """A table with one row per item; cells are printed as text, never as Rich markup."""
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def print_fields(fields: Mapping[str, Any], title: str | None = None) -> None:
    """One record as a two-column table of names and values."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in fields.items():
        table.add_row(name, _cell(value))
    console.print(table)


def print_document(value: Any, title: str | None = None) -> None:
    """A JSON document (message content, aggregate value) shown highlighted for people."""
    if title:
        console.print(title, style="bold", markup=False)
    console.print_json(json.dumps(to_jsonable(value), ensure_ascii=False))


def transfer_progress(*, disable: bool = False) -> Progress:
    """A bar for bytes moving (hashing, uploads, downloads), erased once done."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=progress_console,
        transient=True,
        disable=disable,
    )


@contextmanager
def upload_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A bar for one upload; yields the `progress(sent, total)` callback the SDK calls."""
    with transfer_progress() as bar:
        task = bar.add_task(description, total=None)
        yield lambda sent, total: bar.update(task, completed=sent, total=total)


def format_time(epoch: float | None) -> str:
    if epoch is None:
        return ""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _cell(value: Any) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, dict | list):
        return Text(json.dumps(to_jsonable(value), ensure_ascii=False))
    return Text(str(to_jsonable(value)))


def print_published(published: Published, as_json: bool, quiet: bool = False) -> None:
    """What every write command prints: the message's hash and what the node made of it, or
    (`--quiet`) the hash alone."""
    if quiet and not as_json:
        typer.echo(published.item_hash)
        return
    emit(published, as_json, _print_published)


def _print_published(published: Published) -> None:
    message = published.message
    console.print(
        f"{message['type']} {published.item_hash} {published.status.value}", highlight=False
    )
