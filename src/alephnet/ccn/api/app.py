"""The API application factory: `create_app(settings)` builds the app for one node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI

from alephnet import __version__
from alephnet.ccn.api import info, messages
from alephnet.ccn.api.errors import install_error_handlers
from alephnet.ccn.api.middleware.body_limit import BodyLimitMiddleware
from alephnet.ccn.node import Node, running_node
from alephnet.ccn.settings import CcnSettings

UPLOAD_PATHS = ("/api/v0/storage/add_file", "/api/v0/ipfs/add_file")


class State(TypedDict):
    node: Node


def create_app(settings: CcnSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        async with running_node(settings) as node:
            yield {"node": node}

    app = FastAPI(
        title="alephnet Core Channel Node",
        version=__version__,
        description="The Aleph.im `/api/v0` HTTP API, served by an alephnet node.",
        lifespan=lifespan,
    )
    for module in (messages, info):
        app.include_router(module.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=_body_limits(settings))
    return app


def _body_limits(settings: CcnSettings) -> Callable[[str], int]:
    """Uploads may be as large as the largest file accepted; every other body is JSON."""
    upload_limit = max(settings.max_file_size, settings.max_ipfs_upload)

    def limit_for(path: str) -> int:
        return upload_limit if path in UPLOAD_PATHS else settings.max_request_body

    return limit_for
