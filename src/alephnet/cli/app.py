"""The root of the `alephnet` command: global options and the command groups.

Only groups with working commands are registered: a command that does nothing yet is not shown.
Groups of later issues (node, ...) slot in with one line in `GROUPS`; they are imported only when
run (`alephnet.cli.lazy`), so this module imports none of them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alephnet import __version__
from alephnet.cli.context import DEFAULT_API_URL, CliContext
from alephnet.cli.errors import AlephErrorGroup
from alephnet.cli.lazy import LazyGroup, LazyGroups

GROUPS = {
    "account": LazyGroup(
        "alephnet.cli.account", "Create, import and inspect the keys that sign your messages."
    ),
    "post": LazyGroup("alephnet.cli.post", "Publish, amend and read posts."),
    "aggregate": LazyGroup(
        "alephnet.cli.aggregate",
        "Set, read and forget aggregates: per-address JSON objects merged key by key.",
    ),
    "file": LazyGroup(
        "alephnet.cli.file", "Upload, download, inspect and forget files; hash them offline."
    ),
    "message": LazyGroup(
        "alephnet.cli.message", "Verify, read, search, watch and forget messages."
    ),
    "program": LazyGroup(
        "alephnet.cli.program",
        "Deploy, update and delete programs; call them on a CRN, read their logs, stop them.",
    ),
    "instance": LazyGroup(
        "alephnet.cli.instance",
        "Create, list and delete instances (VMs); ssh, logs, stop, reboot, erase on their CRN.",
    ),
    "node": LazyGroup(
        "alephnet.cli.nodes",
        "List the network's core (CCN) and compute (CRN) nodes from its node registry.",
    ),
    "ccn": LazyGroup(
        "alephnet.cli.ccn", "Run a Core Channel Node (the network's API and storage node)."
    ),
    "crn": LazyGroup(
        "alephnet.cli.crn", "Run a Compute Resource Node (runs users' programs from a CCN)."
    ),
    "devnet": LazyGroup(
        "alephnet.cli.devnet",
        "Run a whole local network (CCNs on loopback) in one command: up, status, down.",
    ),
}


class RootGroup(LazyGroups, AlephErrorGroup):
    """`alephnet`: its groups load on first use, and SDK errors end as one line of advice."""

    lazy_groups = GROUPS


app = typer.Typer(
    name="alephnet",
    cls=RootGroup,
    help="alephnet: a Python implementation of the Aleph.im network (nodes, SDK and tools).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals could hold private keys
)


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
