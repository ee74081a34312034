"""The root of the `alephnet` command: global options and the command groups.

Only groups with working commands are registered: a command that does nothing yet is not shown.
"""

from __future__ import annotations

import typer

from alephnet import __version__
from alephnet.cli import ccn, file, message

app = typer.Typer(
    name="alephnet",
    help="alephnet: a Python implementation of the Aleph.im network (nodes, SDK and tools).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(message.app, name="message")
app.add_typer(file.app, name="file")
app.add_typer(ccn.app, name="ccn")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"alephnet {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """alephnet: decentralised storage and compute, Aleph.im compatible."""


def main() -> None:
    app()
