"""The root of the `alephnet` command: global options and the command groups.

Only groups with working commands are registered: a command that does nothing yet is not shown.
Groups of later issues (node, crn) slot in with one `add_typer` line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alephnet import __version__
from alephnet.cli import (
    account,
    aggregate,
    ccn,
    crn,
    devnet,
    file,
    instance,
    message,
    post,
    program,
)
from alephnet.cli.context import DEFAULT_API_URL, CliContext
from alephnet.cli.errors import AlephErrorGroup

app = typer.Typer(
    name="alephnet",
    cls=AlephErrorGroup,
    help="alephnet: a Python implementation of the Aleph.im network (nodes, SDK and tools).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals could hold private keys
)
app.add_typer(account.app, name="account")
app.add_typer(post.app, name="post")
app.add_typer(aggregate.app, name="aggregate")
app.add_typer(file.app, name="file")
app.add_typer(message.app, name="message")
app.add_typer(program.app, name="program")
app.add_typer(instance.app, name="instance")
app.add_typer(ccn.app, name="ccn")
app.add_typer(crn.app, name="crn")
app.add_typer(devnet.app, name="devnet")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"alephnet {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    api_url: Annotated[
        str,
        typer.Option(
            envvar="ALEPHNET_API_URL", help="The node to talk to (the local devnet by default)."
        ),
    ] = DEFAULT_API_URL,
    account_name: Annotated[
        str | None,
        typer.Option(
            "--account",
            envvar="ALEPHNET_ACCOUNT",
            help="The key to sign with, by name (see `account list`); default: the default key.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """alephnet: decentralised storage and compute, Aleph.im compatible."""
    ctx.obj = CliContext(api_url=api_url.rstrip("/"), account_name=account_name)


def main() -> None:
    app()
