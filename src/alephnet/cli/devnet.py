"""`alephnet devnet ...`: a local network of CCNs on loopback, in one command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from alephnet.cli import output
from alephnet.cli.errors import fail
from alephnet.cli.options import JsonOption
from alephnet.devnet import supervisor
from alephnet.devnet.control import DevnetError, live_state, stop_devnet
from alephnet.devnet.layout import (
    DEFAULT_BASE_PORT,
    DEFAULT_CCNS,
    DEFAULT_CRN_BASE_PORT,
    DEFAULT_CRNS,
    DEFAULT_DIR,
    DevnetLayout,
)
from alephnet.devnet.state import DevnetState
from alephnet.devnet.status import NodeStatus, probe_crns, probe_nodes

app = typer.Typer(
    help="Run a whole local network (CCNs on loopback) in one command: up, status, down.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        file_okay=False,
        help="The devnet's folder: node data, logs, configs, dev wallet, state file.",
    ),
]


@app.command("up")
def up(
    ccns: Annotated[int, typer.Option(min=1, max=50, help="How many CCNs to start.")] = (
        DEFAULT_CCNS
    ),
    directory: DirOption = DEFAULT_DIR,
    base_port: Annotated[
        int,
        typer.Option(
            min=1, max=65000, help="Port of CCN 1 (the CLI's default --api-url); CCN i gets +i-1."
        ),
    ] = DEFAULT_BASE_PORT,
    crns: Annotated[
        int,
        typer.Option(
            min=0,
            max=20,
            help="How many compute nodes (CRNs) to start; CRN i runs "
            "programs from CCN i (round robin).",
        ),
    ] = DEFAULT_CRNS,
    crn_base_port: Annotated[
        int, typer.Option(min=1, max=65000, help="Port of CRN 1; CRN i gets +i-1.")
    ] = DEFAULT_CRN_BASE_PORT,
    crn_executor: Annotated[
        str,
        typer.Option(
            help="The CRNs' executor: sandbox (programs only) or microvm (programs and "
            "instances; the devnet then publishes the instance base image)."
        ),
    ] = "sandbox",
) -> None:
    """Start CCNs on 127.0.0.1, each syncing with all the others, and keep them running.

    Creates a dev wallet on first start and prints its key file
    (with ALEPHNET_HOME=DIR the CLI signs with it), waits until every node
    answers, prints their URLs, then shows a live status line.
    Ctrl-C stops every node cleanly, as `devnet down` does from another terminal.
    Data stays in DIR between runs: delete DIR for a fresh network.
    """
    if crn_executor not in ("sandbox", "microvm"):
        raise fail(f"--crn-executor {crn_executor}: choose sandbox or microvm")
    layout = DevnetLayout(directory.resolve(), ccns, base_port, crns, crn_base_port, crn_executor)
    try:
        supervisor.run_devnet(layout, output.console)
    except DevnetError as error:
        raise fail(str(error)) from error


@app.command("status")
def status(directory: DirOption = DEFAULT_DIR, as_json: JsonOption = False) -> None:
    """Show the devnet's nodes: whether each answers, messages processed, pending.

    Exits 1 when no devnet runs from DIR.
    """
    layout = DevnetLayout(directory.resolve())
    state = live_state(layout)
    if state is None:
        raise fail(f"no devnet is running from {layout.root}: start one with `alephnet devnet up`")
    statuses = asyncio.run(probe_nodes(state.nodes))
    crn_statuses = asyncio.run(probe_crns(state.crns))
    output.emit(_status_document(state, statuses, crn_statuses), as_json, _print_status)


def _status_document(
    state: DevnetState, statuses: list[NodeStatus], crn_statuses: list[NodeStatus]
) -> dict[str, Any]:
    """The state file's facts with what the nodes answer now (`up`) and whether each recorded
    process still runs (`running`: a node can run and not answer, while starting)."""
    return {
        "supervisor": {"pid": state.supervisor.pid, "running": state.supervisor.process.alive()},
        "wallet": state.wallet,
        "nodes": [
            {
                "name": record.name,
                "url": record.url,
                "pid": record.process.pid,
                "running": record.process.process.alive(),
                "up": status.up,
                "processed": status.processed,
                "pending": status.pending,
                "log_file": record.log_file,
            }
            for record, status in zip(state.nodes, statuses, strict=True)
        ],
        "crns": [
            {
                "name": record.name,
                "url": record.url,
                "pid": record.process.pid,
                "running": record.process.process.alive(),
                "up": status.up,
                "programs": status.programs,
                "log_file": record.log_file,
            }
            for record, status in zip(state.crns, crn_statuses, strict=True)
        ],
    }


def _print_status(document: dict[str, Any]) -> None:
    columns = ["name", "url", "pid", "running", "up", "processed", "pending", "log_file"]
    rows = [[node[column] for column in columns] for node in document["nodes"]]
    output.print_table(rows, columns, title="devnet")
    if document["crns"]:
        crn_columns = ["name", "url", "pid", "running", "up", "programs", "log_file"]
        crn_rows = [[crn[column] for column in crn_columns] for crn in document["crns"]]
        output.print_table(crn_rows, crn_columns, title="compute nodes")
    wallet = document["wallet"]
    output.console.print(
        f"dev wallet {wallet.address}, key file {wallet.key_file}", highlight=False
    )


@app.command("down")
def down(directory: DirOption = DEFAULT_DIR) -> None:
    """Stop the devnet of DIR, from any terminal.

    Every node gets SIGTERM (a clean stop), those still running after 30 s
    SIGKILL; the state file is removed. Node data stays in DIR.
    """
    layout = DevnetLayout(directory.resolve())
    stopped = stop_devnet(layout)
    if stopped is None:
        typer.echo(f"no devnet is running from {layout.root}: nothing to stop")
        return
    typer.echo(f"stopped {len(stopped.running)} processes")
    if stopped.killed:
        typer.echo(f"killed after 30 s: pids {', '.join(map(str, stopped.killed))}")
