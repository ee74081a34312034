"""`alephnet ccn ...`: run a Core Channel Node."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alephnet.cli.node import HostOption, LogLevelOption, load_settings, serve, start_logging
from alephnet.gc_heap import pause_collection_for_start_up

app = typer.Typer(help="Run a Core Channel Node (the network's API and storage node).")


@app.command("run")
def run(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the database and files live [.alephnet/ccn].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port of the API [4024].")] = None,
    host: HostOption = None,
    config: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A TOML file of settings (see README)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql+asyncpg://user:pw@host/db to use PostgreSQL [SQLite]."),
    ] = None,
    log_level: LogLevelOption = None,
    peer: Annotated[
        list[str] | None,
        typer.Option(help="HTTP API URL of another CCN to sync with; repeat for several."),
    ] = None,
    p2p: Annotated[
        bool | None,
        typer.Option(
            "--p2p/--no-p2p",
            help="Gossip with other CCNs over libp2p (on when --p2p-port or --bootstrap is given).",
        ),
    ] = None,
    p2p_port: Annotated[
        int | None, typer.Option(help="libp2p TCP port, 0 for any free one [4025].")
    ] = None,
    bootstrap: Annotated[
        list[str] | None,
        typer.Option(
            help="libp2p multiaddr /ip4/…/tcp/…/p2p/<peer id> of a CCN to gossip with; repeat."
        ),
    ] = None,
) -> None:
    """Start one CCN: applies database migrations, then serves the /api/v0 API.

    Settings come from defaults < --config TOML < ALEPHNET_CCN_* environment < these options.
    Stops cleanly on Ctrl-C or SIGTERM: requests in flight finish, queued messages are committed.
    """
    pause_collection_for_start_up()
    from alephnet.ccn.pipeline.processor_process import spawn_worker
    from alephnet.ccn.settings import CcnSettings

    settings = load_settings(
        CcnSettings,
        config,
        data_dir=data_dir,
        port=port,
        host=host,
        database_url=database_url,
        log_level=log_level,
        peers=peer or None,
        p2p=p2p if p2p is not None else (True if p2p_port is not None or bootstrap else None),
        p2p_port=p2p_port,
        bootstrap_peers=bootstrap or None,
    )
    start_logging(settings.log_level)
    # The processing worker imports its modules while this process imports the node's stack.
    worker = spawn_worker() if settings.processing_process else None
    # Imported here: the node's stack takes a second to import, which every other command of
    # the CLI would otherwise pay.
    from alephnet.ccn.api.app import create_app

    typer.echo(
        f"alephnet CCN on http://{settings.host}:{settings.port} "
        f"(API docs at /docs), data in {settings.data_dir}"
    )
    serve(create_app(settings, worker=worker), settings.host, settings.port, settings.log_level)
