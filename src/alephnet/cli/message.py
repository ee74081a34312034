"""`alephnet message ...`: work with signed messages."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from alephnet.protocol import MessageError, validate_message

app = typer.Typer(help="Check signed Aleph messages.", no_args_is_help=True)
console = Console()


def _read_json(source: str) -> Any:
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    return json.loads(text)


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
        console.print(f"[red]cannot read {source}:[/red] {error}")
        raise typer.Exit(2) from error
    messages = document if isinstance(document, list) else [document]
    failures = sum(not _verify_one(raw) for raw in messages)
    if failures:
        console.print(f"[red]{failures} of {len(messages)} messages are invalid[/red]")
        raise typer.Exit(1)


def _verify_one(raw: Any) -> bool:
    item_hash = raw.get("item_hash", "?") if isinstance(raw, dict) else "?"
    try:
        message = validate_message(raw)
    except MessageError as error:
        console.print(f"[red]invalid[/red] {item_hash}: {error}")
        return False
    console.print(
        f"[green]valid[/green]   {message.item_hash} {message.type} from {message.sender}"
    )
    return True
