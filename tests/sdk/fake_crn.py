"""A stand-in CRN: the reference CRN's routes, with its owner authentication, and no VMs.

Programs answer with what they were asked (method, path, body), so a test sees the request
went through unchanged. Owner calls are checked with `verify_operator_request`, as a real CRN
does, against the owner recorded for each VM. Serve it in-process (`CrnClient.for_app`) or on
loopback (`tests.servers.serving`) for subprocess tests of the CLI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from alephnet.protocol.crn_auth import CrnAuthError, verify_operator_request
from tests.servers import LoopbackApp

SSH_HOST_PORT = 24022


@dataclass
class FakeCrn(LoopbackApp):
    domain: str
    owners: dict[str, str] = field(default_factory=dict)
    """VM hash -> the address allowed to control it."""
    runtime_ref: str | None = None
    operations: list[tuple[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/vm/{vm_hash}/{path:path}", self._program, methods=["GET", "POST", "PUT"]),
                Route("/v2/about/executions/list", self._executions),
                Route("/status/config", self._config),
                Route("/control/machine/{vm_hash}/logs", self._logs),
                Route("/control/machine/{vm_hash}/{operation}", self._operate, methods=["POST"]),
            ]
        )

    async def _program(self, request: Request) -> Response:
        vm_hash = request.path_params["vm_hash"]
        if vm_hash not in self.owners:
            return JSONResponse({"detail": f"no program {vm_hash}"}, 404)
        body = (await request.body()).decode()
        path = "/" + request.path_params["path"]
        status = 500 if path == "/fail" else 200
        echo = {"method": request.method, "path": path, "body": body}
        if "x-test" in request.headers:
            echo["x-test"] = request.headers["x-test"]
        return JSONResponse(echo, status)

    async def _executions(self, _request: Request) -> Response:
        return JSONResponse({vm_hash: _execution(vm_hash) for vm_hash in self.owners})

    async def _config(self, _request: Request) -> Response:
        return JSONResponse({"DOMAIN_NAME": self.domain, "runtime_ref": self.runtime_ref})

    async def _logs(self, request: Request) -> Response:
        vm_hash, refused = self._authorize(request)
        if refused is not None:
            return refused
        entries = [
            {"MESSAGE": "booted", "file": "stdout", "__REALTIME_TIMESTAMP": "1700000000000000"},
            {"MESSAGE": f"serving {vm_hash}", "file": "stderr"},
        ]
        return JSONResponse(entries)

    async def _operate(self, request: Request) -> Response:
        vm_hash, refused = self._authorize(request)
        if refused is not None:
            return refused
        operation = request.path_params["operation"]
        self.operations.append((operation, vm_hash))
        return PlainTextResponse(f"{operation} done")

    def _authorize(self, request: Request) -> tuple[str, Response | None]:
        vm_hash: str = request.path_params["vm_hash"]
        try:
            sender = verify_operator_request(
                request.headers.get("X-SignedPubKey"),
                request.headers.get("X-SignedOperation"),
                request.method,
                request.url.path,
                self.domain,
                time.time(),
            )
        except CrnAuthError as error:
            return vm_hash, JSONResponse({"detail": error.reason}, error.status)
        if vm_hash not in self.owners:
            return vm_hash, JSONResponse({"detail": f"no VM {vm_hash}"}, 404)
        if sender.lower() != self.owners[vm_hash].lower():
            return vm_hash, JSONResponse({"detail": "Unauthorized sender"}, 403)
        return vm_hash, None


def _execution(vm_hash: str) -> dict[str, Any]:
    return {
        "networking": {
            "ipv4_ip": "172.16.4.2",
            "mapped_ports": {"22": {"host": SSH_HOST_PORT, "tcp": True, "udp": False}},
        },
        "status": {"started_at": "2026-11-25T15:00:00+00:00"},
        "running": True,
        "vm_type": "instance",
    }
