"""The CRN application factory: `create_app(settings)` builds the app for one node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from fastapi import FastAPI

from alephnet import __version__
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.api import about, control, metrics, status, vm
from alephnet.crn.supervisor.api.errors import install_error_handlers
from alephnet.crn.supervisor.api.server_header import ServerHeaderMiddleware
from alephnet.crn.supervisor.executors import ExecutorSetup, executor_setup
from alephnet.crn.supervisor.node import CrnNode, running_node
from alephnet.crn.supervisor.routing import HostRoutingMiddleware


class State(TypedDict):
    node: CrnNode


def create_app(
    settings: CrnSettings,
    *,
    setup: ExecutorSetup | None = None,
    ccn_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """`setup`: the executor (default: the one `settings.executor` names); `ccn_transport`:
    how the CCN is reached (default: the network, at `settings.ccn_url`)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        chosen = setup if setup is not None else executor_setup(settings)
        async with running_node(settings, chosen, ccn_transport) as node:
            yield {"node": node}

    app = FastAPI(
        title="alephnet Compute Resource Node",
        version=__version__,
        description="Runs PROGRAMs fetched from a CCN; the reference CRN's HTTP API.",
        lifespan=lifespan,
    )
    for module in (about, status, control, metrics, vm):
        app.include_router(module.router)
    install_error_handlers(app)
    app.add_middleware(HostRoutingMiddleware, domain=settings.domain)
    app.add_middleware(ServerHeaderMiddleware)
    return app
