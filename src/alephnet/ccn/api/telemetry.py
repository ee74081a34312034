"""The API's Prometheus metrics, in a registry of its own per app.

The global registry of prometheus-client refuses a metric name twice, and a test process builds
many apps; one registry per app also keeps two nodes in one process apart. The counts that the
pipeline keeps (processed, rejected, pending) are copied in when scraped.
"""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import HTTPConnection

from alephnet import __version__
from alephnet.ccn.node import Node
from alephnet.ccn.p2p.metrics import GossipCollector
from alephnet.gc_heap import GcCollector


@dataclass(frozen=True, slots=True)
class PipelineCounts:
    processed: int = 0
    rejected: int = 0
    pending: int = 0
    sync_rounds: int = 0
    sync_pulled: int = 0
    sync_peer_failures: int = 0


class PipelineCollector(Collector):
    """Serves the pipeline's last copied counts, with their proper metric types."""

    def __init__(self) -> None:
        self.counts = PipelineCounts()

    def collect(self) -> Iterable[Metric]:
        counts = self.counts
        yield CounterMetricFamily(
            "alephnet_messages_processed", "Messages processed", value=counts.processed
        )
        yield CounterMetricFamily(
            "alephnet_messages_rejected", "Messages rejected", value=counts.rejected
        )
        yield GaugeMetricFamily(
            "alephnet_pending_messages", "Messages waiting to be processed", value=counts.pending
        )
        yield CounterMetricFamily(
            "alephnet_sync_rounds", "Anti-entropy sync rounds run", value=counts.sync_rounds
        )
        yield CounterMetricFamily(
            "alephnet_sync_pulled", "Messages pulled from peers by sync", value=counts.sync_pulled
        )
        yield CounterMetricFamily(
            "alephnet_sync_peer_failures",
            "Sync rounds with a peer that failed (down, or answering nonsense)",
            value=counts.sync_peer_failures,
        )


class ApiTelemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.open_websockets = 0
        self.pipeline = PipelineCollector()
        self.registry.register(self.pipeline)
        self.registry.register(GcCollector())
        build_info = Gauge(
            "alephnet_build_info",
            "The running alephnet build",
            ["python_version", "version"],
            registry=self.registry,
        )
        build_info.labels(platform.python_version(), __version__).set(1)
        self.http_requests = Counter(
            "alephnet_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        websockets = Gauge(
            "alephnet_websocket_connections",
            "Open message WebSocket connections",
            registry=self.registry,
        )
        websockets.set_function(lambda: self.open_websockets)

    def count_request(self, method: str, route: str, status: int) -> None:
        self.http_requests.labels(method, route, str(status)).inc()

    @contextmanager
    def websocket_open(self) -> Iterator[None]:
        self.open_websockets += 1
        try:
            yield
        finally:
            self.open_websockets -= 1


@asynccontextmanager
async def gossip_metrics(node: Node, telemetry: ApiTelemetry) -> AsyncIterator[None]:
    """The gossip's metrics in the app's registry while the node runs (if it gossips)."""
    if node.gossip is None:
        yield
        return
    collector = GossipCollector(node.gossip)
    telemetry.registry.register(collector)
    try:
        yield
    finally:
        telemetry.registry.unregister(collector)


def get_telemetry(connection: HTTPConnection) -> ApiTelemetry:
    telemetry: ApiTelemetry = connection.state.telemetry
    return telemetry


TelemetryDep = Annotated[ApiTelemetry, Depends(get_telemetry)]
