"""`ANY /vm/{hash}/{path}`: a request to a program (hostname-routed requests arrive here too,
rewritten by `routing.HostRoutingMiddleware`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from alephnet.crn.supervisor.api.deps import NodeDep
from alephnet.crn.supervisor.errors import ProgramNotFound
from alephnet.crn.supervisor.proxy import forward
from alephnet.crn.supervisor.routing import program_hash

router = APIRouter(tags=["programs"])
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("/vm/{vm_hash}", methods=METHODS, include_in_schema=False)
@router.api_route("/vm/{vm_hash}/{path:path}", methods=METHODS, summary="Call a program")
async def run_program(node: NodeDep, vm_hash: str, request: Request, path: str = "") -> Response:
    checked = program_hash(vm_hash)
    if checked is None:
        raise ProgramNotFound(f"{vm_hash!r} is not a program hash (64 hex digits)")
    return await forward(node.pool, checked, "/" + path, request)
