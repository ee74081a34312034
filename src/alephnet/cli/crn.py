"""`alephnet crn ...`: run a Compute Resource Node."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alephnet.cli.node import HostOption, LogLevelOption, load_settings, serve, start_logging
from alephnet.gc_heap import pause_collection_for_start_up

app = typer.Typer(help="Run a Compute Resource Node (runs users' programs from a CCN).")


@app.command("run")
def run(
    ccn: Annotated[
        str | None, typer.Option(help="The CCN's API URL: programs and files come from it.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Node key, file cache, persistent volumes, logs [.alephnet/crn]."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [4020].")] = None,
    host: HostOption = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="microvm: each program in a QEMU micro-VM (strong isolation, slower start). "
            "sandbox: a host process in Linux namespaces + cgroups (fast, WEAKER isolation: "
            "programs share the host kernel). Default: sandbox."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A TOML file of settings (docs/crn.md)."),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(help="Programs also answer at {hash}.vm.{domain} (default: localhost)."),
    ] = None,
    log_level: LogLevelOption = None,
) -> None:
    """Start one CRN: programs answer at /vm/{item_hash}/..., the CRN API beside them.

    On start the node creates its key (DATA_DIR/keys/node.json) if needed and publishes its
    runtime as a STORE on its CCN (the hash is in the log and in /status/config `runtime_ref`:
    name it as `runtime.ref` in PROGRAM messages; the sandbox accepts any runtime ref).
    Settings come from defaults < --config TOML < ALEPHNET_CRN_* environment < these options.
    Ctrl-C or SIGTERM stops every program, then the node (exit 0).
    """
    pause_collection_for_start_up()
    from alephnet.crn.settings import CrnSettings
    from alephnet.crn.supervisor.api.app import create_app
    from alephnet.crn.supervisor.executors import ExecutorUnavailable, executor_setup

    settings = load_settings(
        CrnSettings,
        config,
        ccn_url=ccn,
        data_dir=data_dir,
        port=port,
        host=host,
        executor=executor,
        domain=domain,
        log_level=log_level,
    )
    start_logging(settings.log_level)
    try:
        setup = executor_setup(settings)
    except ExecutorUnavailable as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    isolation = "WEAKER isolation: shared kernel" if settings.executor == "sandbox" else "QEMU"
    typer.echo(
        f"alephnet CRN on http://{settings.host}:{settings.port} with the {settings.executor} "
        f"executor ({isolation}), CCN {settings.ccn_url}, data in {settings.data_dir}"
    )
    serve(
        create_app(settings, setup=setup),
        settings.host,
        settings.port,
        settings.log_level,
        server_header=False,
    )
