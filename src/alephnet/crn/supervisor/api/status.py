"""`/status/...`: the node's configuration and its self-test."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from alephnet import __version__
from alephnet.crn.supervisor.api.deps import NodeDep

router = APIRouter(tags=["status"])


@router.get("/status/config")
async def config(node: NodeDep) -> dict[str, Any]:
    """The reference's shape, plus `runtime_ref` (the STORE to name as a PROGRAM's runtime
    on this node's CCN), `executor` and `node_address`."""
    settings = node.settings
    return {
        "DOMAIN_NAME": settings.domain,
        "node_hash": settings.node_hash,
        "node_address": node.account.address,
        "version": __version__,
        "executor": settings.executor,
        "runtime_ref": node.runtime.ref,
        "references": {
            "API_SERVER": settings.ccn_url,
            "CHECK_FASTAPI_VM_ID": node.self_check.program_hash,
            "CONNECTOR_URL": None,
        },
        "security": {
            "AUTHORIZED_ALLOCATION_SIGNERS": settings.authorized_allocation_signers,
        },
        "networking": {"IPV6_ADDRESS_POOL": None},
        "debug": {"LOG_LEVEL": settings.log_level},
        "payment": {
            "PAYMENT_RECEIVER_ADDRESS": node.account.address,
            "AVAILABLE_PAYMENTS": ["hold"],
            "PAYMENT_MONITOR_INTERVAL": None,
        },
        "computing": {
            "ENABLE_QEMU_SUPPORT": node.instances.supported,
            "INSTANCE_DEFAULT_HYPERVISOR": "qemu",
            "ENABLE_CONFIDENTIAL_COMPUTING": False,
            "ENABLE_GPU_SUPPORT": False,
            "REUSE_TIMEOUT": settings.reuse_timeout,
            "MEMORY_MIB": settings.memory_mib,
            "VCPUS": settings.vcpus,
        },
    }


@router.get("/status/check/fastapi")
async def check_fastapi(node: NodeDep) -> JSONResponse:
    """Deploys (once) and calls the hello-world example: 200 if it answered, else 503."""
    checks = await node.self_check.run()
    return JSONResponse(checks, 200 if checks.get("index") is True else 503)
