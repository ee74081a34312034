"""Reading a JSON document given on the command line, in a file, or on stdin.

Posts and aggregates take their content the same three ways; a bad document is a usage error
(exit status 2) naming where it came from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

ContentOption = Annotated[
    str | None, typer.Option("--content", "-c", help="The content as a JSON document.")
]
ContentFileOption = Annotated[
    Path | None,
    typer.Option(
        "--file", "-f", exists=True, dir_okay=False, help="Read the JSON content from this file."
    ),
]


def read_document(content: str | None, file: Path | None) -> Any:
    """The document from --content, else --file, else stdin when it is piped."""
    if content is not None and file is not None:
        raise typer.BadParameter("give the content with --content or --file, not both")
    if content is not None:
        return _parse(content, "--content")
    if file is not None:
        return _parse(file.read_text(), str(file))
    if sys.stdin.isatty():
        raise typer.BadParameter("give the content with --content, --file, or on stdin")
    return _parse(sys.stdin.read(), "stdin")


def read_object(content: str | None, file: Path | None) -> dict[str, Any]:
    """Like `read_document`, for content that must be a JSON object (aggregates)."""
    document = read_document(content, file)
    if not isinstance(document, dict):
        raise typer.BadParameter("the content must be a JSON object ({...})")
    return document


def _parse(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"{source} is not valid JSON: {error}") from error
