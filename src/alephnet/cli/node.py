"""What `alephnet ccn run` and `alephnet crn run` share: the options both take alike, settings
errors, logging, and a server that stops cleanly."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
import uvicorn
from pydantic import ValidationError

from alephnet.gc_heap import freeze_startup_objects, gc_pauses

if TYPE_CHECKING:
    from alephnet.settings_sources import NodeSettings

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
GRACEFUL_SHUTDOWN_SECONDS = 30
STARTUP_FAILURE = 3
"""uvicorn's exit status for a server that did not start."""

S = TypeVar("S", bound="NodeSettings")

HostOption = Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1].")]
LogLevelOption = Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING... [INFO]")]


def load_settings(settings_class: type[S], config: Path | None, **options: Any) -> S:
    """The node's settings from `config` and the command line's `options`. Invalid settings are a
    usage error (exit 2) that names the faulty key, not a traceback."""
    try:
        return settings_class.load(config, **options)
    except ValidationError as error:
        typer.echo(f"invalid settings: {error}", err=True)
        raise typer.Exit(2) from error


def start_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


def serve(app: Any, host: str, port: int, log_level: str, **options: Any) -> None:
    """Serve the node's ASGI app until Ctrl-C or SIGTERM; requests in flight finish first."""
    exit_cleanly_on_sigterm()
    gc_pauses()  # observed from here on, the app's start-up included
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **options,
    )
    server = NodeServer(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


class NodeServer(uvicorn.Server):
    """uvicorn's server, which freezes what the node's start-up made once it serves: it
    lives as long as the process, and full garbage collections walking it paused the node
    for 110-290 ms (`alephnet.gc_heap`)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        freeze_startup_objects()


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM is how supervisors (systemd, containers, the tests) stop a node, so a node stopped
    by it exits 0. uvicorn handles the signal with a graceful shutdown and then re-raises it to
    the handler it found at start: the default one would kill the process (status 143) after a
    clean stop. A SIGTERM before uvicorn takes over, during start-up, also ends with status 0."""
    signal.signal(signal.SIGTERM, _exit_zero)


def _exit_zero(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)
