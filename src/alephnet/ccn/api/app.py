"""The API application factory: `create_app(settings)` builds the app for one node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import Depends, FastAPI

from alephnet import __version__
from alephnet.ccn.api import (
    addresses,
    aggregates,
    authorizations,
    info,
    ipfs,
    message_list,
    messages,
    metrics,
    posts,
    prices,
    pubsub,
    storage,
    sync,
    websocket,
)
from alephnet.ccn.api.errors import install_error_handlers
from alephnet.ccn.api.middleware.body_limit import BodyLimitMiddleware
from alephnet.ccn.api.middleware.publish_fast_path import PublishFastPath
from alephnet.ccn.api.middleware.request_metrics import RequestMetricsMiddleware
from alephnet.ccn.api.request_checks import refuse_nul_characters
from alephnet.ccn.api.telemetry import ApiTelemetry, gossip_metrics
from alephnet.ccn.node import Node, running_node
from alephnet.ccn.peer_http import ClientFactory, network_clients
from alephnet.ccn.pipeline.processor_process import Worker
from alephnet.ccn.settings import CcnSettings

UPLOAD_PATHS = ("/api/v0/storage/add_file", "/api/v0/ipfs/add_file")
JSON_UPLOAD_PATHS = ("/api/v0/storage/add_json", "/api/v0/ipfs/add_json")


class State(TypedDict):
    node: Node
    telemetry: ApiTelemetry


def create_app(
    settings: CcnSettings,
    clients: ClientFactory = network_clients,
    worker: Worker | None = None,
) -> FastAPI:
    """`clients` reach the peers (tests give clients bound to in-process apps); `worker` is a
    processing worker the CLI started early (`processing_process`)."""
    telemetry = ApiTelemetry()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        async with running_node(settings, clients, worker) as node, gossip_metrics(node, telemetry):
            yield {"node": node, "telemetry": telemetry}

    app = FastAPI(
        title="alephnet Core Channel Node",
        version=__version__,
        description="The Aleph.im `/api/v0` HTTP API, served by an alephnet node.",
        lifespan=lifespan,
        dependencies=[Depends(refuse_nul_characters)],
    )
    # message_list before messages: /messages/hashes must not match /messages/{item_hash}
    for module in (
        message_list,
        messages,
        info,
        storage,
        ipfs,
        aggregates,
        posts,
        pubsub,
        websocket,
        addresses,
        authorizations,
        prices,
        metrics,
        sync,
    ):
        app.include_router(module.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=_body_limits(settings))
    app.add_middleware(RequestMetricsMiddleware, telemetry=telemetry)
    app.add_middleware(PublishFastPath, telemetry=telemetry, body_limit=settings.max_request_body)
    return app


def _body_limits(settings: CcnSettings) -> Callable[[str], int]:
    """Uploads may be as large as the largest file accepted, plus a form's metadata part; JSON
    documents stored as files as large as an anonymous upload; every other body is JSON."""
    upload_limit = max(settings.max_file_size, settings.max_ipfs_upload) + settings.max_request_body

    def limit_for(path: str) -> int:
        if path in UPLOAD_PATHS:
            return upload_limit
        if path in JSON_UPLOAD_PATHS:
            return settings.max_unauthenticated_upload
        return settings.max_request_body

    return limit_for
