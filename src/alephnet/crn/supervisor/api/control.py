"""`/control/...`: the scheduler's allocations, instance notifications and the owner's machine
operations.

`POST /control/allocations` must be signed (`Authorization: Aleph-EIP191-V1`) by an address of
`authorized_allocation_signers` (the linked CCN's key), and each signer's `iat` must grow (a
replayed call is refused). `POST /control/allocation/notify` is public, as in the reference: it
starts an INSTANCE (its payment check is "every address is funded" until payments exist).
`/control/machine/{ref}/...` must be signed by the VM's owner, or by an address its `security`
aggregate authorises for the message's type, PROGRAM or INSTANCE (`X-SignedPubKey` +
`X-SignedOperation`, see `alephnet.protocol.crn_auth`).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from alephnet.crn.supervisor.api.deps import NodeDep
from alephnet.crn.supervisor.errors import ProgramNotFound, SupervisorError
from alephnet.crn.supervisor.logs import LogEntry
from alephnet.crn.supervisor.node import CrnNode
from alephnet.crn.supervisor.pool import AllocationResult
from alephnet.crn.supervisor.routing import program_hash
from alephnet.crn.supervisor.vm_message import vm_owner
from alephnet.protocol.crn_auth import (
    SIGNED_OPERATION_HEADER,
    SIGNED_PUBKEY_HEADER,
    CrnAuthError,
    verify_allocation_request,
    verify_operator_request,
)

router = APIRouter(tags=["control"])


class Allocation(BaseModel):
    """The scheduler's desired set: persistent programs and instances (on-demand programs and
    jobs are ignored, as in the reference)."""

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
    programs = await node.pool.allocate(allocation.persistent_vms)
    instances = await node.instances.allocate(allocation.instances)
    result = AllocationResult(
        programs.successful + instances.successful,
        programs.failing + instances.failing,
        programs.stopped + instances.stopped,
        {**programs.errors, **instances.errors},
    )
    wanted = len(result.successful) + len(result.failing)
    status = 200 if not result.failing else 503 if len(result.failing) == wanted else 207
    return JSONResponse({"success": not result.failing, **_result_fields(result)}, status)


class Notification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    instance: str


@router.post("/control/allocation/notify")
async def notify(node: NodeDep, request: Request) -> JSONResponse:
    """Start an INSTANCE on this node (the reference's call for instances the user places
    on a CRN himself). Its answer has the allocations' fields; a refusal also carries
    `error`, with the status of the failure (400 not an instance, 503 no capacity...)."""
    try:
        vm_hash = program_hash(Notification.model_validate_json(await request.body()).instance)
    except ValidationError as error:
        return JSONResponse({"error": f'expected {{"instance": "<item hash>"}}: {error}'}, 400)
    if vm_hash is None:
        return JSONResponse({"error": "instance: not an item hash (64 hex digits)"}, 400)
    result = AllocationResult()
    try:
        await node.instances.notify(vm_hash)
    except SupervisorError as error:
        result.failing.append(vm_hash)
        result.errors[vm_hash] = error.message
        body = {"success": False, "error": error.message, **_result_fields(result)}
        return JSONResponse(body, error.status)
    result.successful.append(vm_hash)
    return JSONResponse({"success": True, **_result_fields(result)})


def _result_fields(result: AllocationResult) -> dict[str, Any]:
    return {
        "successful": result.successful,
        "failing": result.failing,
        "stopped": result.stopped,
        "errors": result.errors,
    }


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


class Machines(Protocol):
    """What the owner's calls do, on programs (the pool) and instances alike."""

    async def stop(self, vm_hash: str) -> bool: ...

    async def reboot(self, vm_hash: str) -> object: ...

    async def erase(self, vm_hash: str) -> None: ...

    def journal(self, vm_hash: str) -> list[LogEntry]: ...


@router.post("/control/machine/{ref}/stop", response_class=PlainTextResponse)
async def stop(node: NodeDep, ref: str, request: Request) -> str:
    vm_hash, machines = await _authenticate_owner(node, ref, request)
    stopped = await machines.stop(vm_hash)
    return "Stopped VM" if stopped else "VM not running"


@router.post("/control/machine/{ref}/reboot", response_class=PlainTextResponse)
async def reboot(node: NodeDep, ref: str, request: Request) -> str:
    vm_hash, machines = await _authenticate_owner(node, ref, request)
    await machines.reboot(vm_hash)
    return "Rebooted VM"


@router.post("/control/machine/{ref}/erase", response_class=PlainTextResponse)
async def erase(node: NodeDep, ref: str, request: Request) -> str:
    vm_hash, machines = await _authenticate_owner(node, ref, request)
    await machines.erase(vm_hash)
    return "Erased VM"


@router.get("/control/machine/{ref}/logs")
async def logs(node: NodeDep, ref: str, request: Request) -> list[dict[str, Any]]:
    """A program's latest LOG lines, an instance's console, as the reference's journald
    entries."""
    vm_hash, machines = await _authenticate_owner(node, ref, request)
    return [entry.as_journal_entry(vm_hash) for entry in machines.journal(vm_hash)]


async def _authenticate_owner(node: CrnNode, ref: str, request: Request) -> tuple[str, Machines]:
    """The VM's hash and what operates it, once the caller proved to be its owner (or one of
    its delegates for the message's type)."""
    vm_hash = program_hash(ref)
    if vm_hash is None:
        raise ProgramNotFound(f"{ref!r} is not a VM hash (64 hex digits)")
    sender = verify_operator_request(
        request.headers.get(SIGNED_PUBKEY_HEADER),
        request.headers.get(SIGNED_OPERATION_HEADER),
        request.method,
        request.url.path,
        node.settings.domain,
        time.time(),
    )
    owner, kind = vm_owner(vm_hash, await _message(node, vm_hash))
    if sender.lower() != owner.lower() and sender.lower() not in await node.source.delegates(
        owner, kind
    ):
        raise CrnAuthError(403, "Unauthorized sender")
    return vm_hash, node.instances if kind == "INSTANCE" else node.pool


async def _message(node: CrnNode, vm_hash: str) -> dict[str, Any]:
    """The VM's message; an instance of this node whose message is gone is erased if it
    was forgotten (`Forgotten`, 410)."""
    try:
        return await node.source.message(vm_hash)
    except ProgramNotFound:
        if node.instances.knows(vm_hash):
            await node.instances.forget_if_forgotten(vm_hash)
        raise
