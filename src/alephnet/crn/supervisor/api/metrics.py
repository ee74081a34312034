"""`/metrics`: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alephnet.crn.supervisor.api.deps import NodeDep

router = APIRouter(tags=["status"])


@router.get("/metrics", response_class=Response)
async def metrics_text(node: NodeDep) -> Response:
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)
