"""`/metrics` (Prometheus text format) and `/metrics.json` (the same samples as JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.api.deps import NodeDep, SessionDep
from alephnet.ccn.api.telemetry import ApiTelemetry, PipelineCounts, TelemetryDep
from alephnet.ccn.db.accessors.pending import count_pending
from alephnet.ccn.node import Node
from alephnet.ccn.sync.service import SyncCounts

router = APIRouter(tags=["info"])


@router.get("/metrics", response_class=Response)
async def metrics_text(node: NodeDep, session: SessionDep, telemetry: TelemetryDep) -> Response:
    await _copy_pipeline_counts(telemetry, node, session)
    return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics.json")
async def metrics_json(
    node: NodeDep, session: SessionDep, telemetry: TelemetryDep
) -> dict[str, Any]:
    """Unlabelled samples as `name: value`; labelled ones as `name: [{labels..., value}]`."""
    await _copy_pipeline_counts(telemetry, node, session)
    return samples_as_json(telemetry.registry)


async def _copy_pipeline_counts(telemetry: ApiTelemetry, node: Node, session: AsyncSession) -> None:
    sync = node.sync.counts if node.sync is not None else SyncCounts()
    telemetry.pipeline.counts = PipelineCounts(
        processed=node.processor.processed_total,
        rejected=node.processor.rejected_total,
        pending=await count_pending(session),
        sync_rounds=sync.rounds,
        sync_pulled=sync.pulled,
        sync_peer_failures=sync.peer_failures,
    )


def samples_as_json(registry: CollectorRegistry) -> dict[str, Any]:
    """Creation-time samples (`*_created`) are left out: they say when a series was born,
    not what it measures."""
    samples: dict[str, Any] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            if sample.labels:
                samples.setdefault(sample.name, []).append(sample.labels | {"value": sample.value})
            else:
                samples[sample.name] = sample.value
    return samples
