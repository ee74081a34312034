"""`/control/...`: the scheduler's allocations and the owner's machine operations.

`POST /control/allocations` must be signed (`Authorization: Aleph-EIP191-V1`) by an address of
`authorized_allocation_signers` (the linked CCN's key), and each signer's `iat` must grow (a
replayed call is refused). `/control/machine/{ref}/...` must be signed by the program's owner,
or by an address its `security` aggregate authorises for PROGRAMs (`X-SignedPubKey` +
`X-SignedOperation`, see `alephnet.protocol.crn_auth`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from alephnet.crn.supervisor.api.deps import NodeDep
from alephnet.crn.supervisor.errors import ProgramNotFound
from alephnet.crn.supervisor.node import CrnNode
from alephnet.crn.supervisor.program_spec import program_content
from alephnet.crn.supervisor.routing import program_hash
from alephnet.protocol.crn_auth import (
    SIGNED_OPERATION_HEADER,
    SIGNED_PUBKEY_HEADER,
    CrnAuthError,
    verify_allocation_request,
    verify_operator_request,
)

router = APIRouter(tags=["control"])


class Allocation(BaseModel):
    """The scheduler's desired set. Only persistent programs run here: instances are listed as
    failing, on-demand programs and jobs are ignored (as in the reference)."""

    model_config = ConfigDict(extra="ignore")

    persistent_vms: list[str] = []
    instances: list[str] = []
    on_demand_vms: list[str] | None = None
    jobs: list[str] | None = None


@router.post("/control/allocations")
async def allocations(node: NodeDep, request: Request) -> JSONResponse:
    body = await request.body()
    _authenticate_scheduler(node, request, body)
    try:
        allocation = Allocation.model_validate_json(body)
    except ValidationError as error:
        return JSONResponse({"error": f"invalid allocation: {error}"}, 400)
    result = await node.pool.allocate(allocation.persistent_vms)
    for instance in allocation.instances:
        result.failing.append(instance)
        result.errors[instance] = "instances are not supported by this node"
    wanted = len(allocation.persistent_vms) + len(allocation.instances)
    status = 200 if not result.failing else 503 if len(result.failing) == wanted else 207
    return JSONResponse(
        {
            "success": not result.failing,
            "successful": result.successful,
            "failing": result.failing,
            "stopped": result.stopped,
            "errors": result.errors,
        },
        status,
    )


def _authenticate_scheduler(node: CrnNode, request: Request, body: bytes) -> None:
    verified = verify_allocation_request(
        request.headers.get("authorization"),
        request.method,
        request.url.path,
        request.url.query,
        body,
        time.time(),
    )
    authorized = {address.lower() for address in node.settings.authorized_allocation_signers}
    if verified.signer.lower() not in authorized:
        raise CrnAuthError(401, f"{verified.signer} is not an authorized allocation signer")
    if not node.replay_guard.accept(verified):
        raise CrnAuthError(401, "this signed call was used already (replay)")


@router.post("/control/machine/{ref}/stop", response_class=PlainTextResponse)
async def stop(node: NodeDep, ref: str, request: Request) -> str:
    vm_hash = await _authenticate_owner(node, ref, request)
    stopped = await node.pool.stop(vm_hash)
    return "Stopped VM" if stopped else "VM not running"


@router.post("/control/machine/{ref}/reboot", response_class=PlainTextResponse)
async def reboot(node: NodeDep, ref: str, request: Request) -> str:
    vm_hash = await _authenticate_owner(node, ref, request)
    await node.pool.reboot(vm_hash)
    return "Rebooted VM"


@router.post("/control/machine/{ref}/erase", response_class=PlainTextResponse)
async def erase(node: NodeDep, ref: str, request: Request) -> str:
    vm_hash = await _authenticate_owner(node, ref, request)
    await node.pool.erase(vm_hash)
    return "Erased VM"


@router.get("/control/machine/{ref}/logs")
async def logs(node: NodeDep, ref: str, request: Request) -> list[dict[str, Any]]:
    """The program's latest LOG lines, as the reference's journald entries."""
    vm_hash = await _authenticate_owner(node, ref, request)
    return [entry.as_journal_entry(vm_hash) for entry in node.pool.log_of(vm_hash).entries()]


async def _authenticate_owner(node: CrnNode, ref: str, request: Request) -> str:
    vm_hash = program_hash(ref)
    if vm_hash is None:
        raise ProgramNotFound(f"{ref!r} is not a program hash (64 hex digits)")
    sender = verify_operator_request(
        request.headers.get(SIGNED_PUBKEY_HEADER),
        request.headers.get(SIGNED_OPERATION_HEADER),
        request.method,
        request.url.path,
        node.settings.domain,
        time.time(),
    )
    owner = program_content(vm_hash, await node.source.message(vm_hash)).address
    if sender.lower() != owner.lower() and sender.lower() not in await node.source.delegates(
        owner, "PROGRAM"
    ):
        raise CrnAuthError(403, "Unauthorized sender")
    return vm_hash
