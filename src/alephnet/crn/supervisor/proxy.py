"""An HTTP request to a program: turned into an ASGI scope for the guest, answered with the
guest's response, under the reference's rules.

- The guest's status and headers are kept, except `Content-Encoding`, `Transfer-Encoding` and
  `Vary` (the body has been read whole); `Content-Length` is set; `Aleph-Program-ItemHash` and
  `Aleph-Program-Code-Ref` are added.
- The program raised: 500, the traceback as text. The guest went away: 502, and the
  execution is stopped. The program ran past `resources.seconds`: 504, and the execution is
  stopped (the next request gets a fresh guest).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from alephnet.crn.executors.guest_link import GuestFailure, GuestGone, GuestResponse
from alephnet.crn.supervisor.execution import ProgramExecution
from alephnet.crn.supervisor.pool import ExecutionPool

logger = logging.getLogger(__name__)

DROPPED_HEADERS = frozenset({"content-encoding", "transfer-encoding", "vary", "content-length"})
MAX_REQUEST_BODY = 16 * 1024 * 1024


def guest_scope(request: Request, path: str) -> dict[str, Any]:
    """The ASGI HTTP scope the program sees: JSON-safe (strings, not bytes)."""
    scope = request.scope
    client, server = scope.get("client"), scope.get("server")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": scope.get("http_version", "1.1"),
        "method": request.method,
        "scheme": scope.get("scheme", "http"),
        "path": path,
        "query_string": scope.get("query_string", b"").decode("latin-1"),
        "root_path": "",
        "headers": [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]
        ],
        "client": list(client) if client else None,
        "server": list(server) if server else None,
    }


async def forward(pool: ExecutionPool, vm_hash: str, path: str, request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_REQUEST_BODY:
        return error_response(413, f"request bodies are limited to {MAX_REQUEST_BODY} bytes")
    started = time.monotonic()
    outcome = "error"
    try:
        async with pool.serving(vm_hash) as record:
            response, outcome = await _call(pool, record, guest_scope(request, path), body)
            return response
    finally:
        pool.metrics.request_seconds.labels(outcome).observe(time.monotonic() - started)


async def _call(
    pool: ExecutionPool, record: ProgramExecution, scope: dict[str, Any], body: bytes
) -> tuple[Response, str]:
    seconds = record.resources.seconds if record.resources else 1.0
    metrics_failures = pool.metrics.failures
    try:
        answer = await record.execution.link.request(scope, body, seconds)
    except TimeoutError:
        metrics_failures.labels("timeout").inc()
        record.log.append("stderr", f"a request ran past the {seconds:g} s limit: stopped")
        await pool.stop(record.vm_hash, grace_seconds=0)
        return error_response(504, f"the program did not answer within {seconds:g} s"), "timeout"
    except GuestFailure as failure:
        metrics_failures.labels("exception").inc()
        text = f"{failure.error}\n{failure.traceback}".strip()
        return Response(text, 500, media_type="text/plain"), "exception"
    except GuestGone as gone:
        metrics_failures.labels("gone").inc()
        await pool.stop(record.vm_hash, grace_seconds=0)
        return error_response(502, f"the program's guest is gone: {gone}"), "gone"
    return program_response(answer, record), "ok"


def program_response(answer: GuestResponse, record: ProgramExecution) -> Response:
    response = Response(answer.body, answer.status)
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in answer.headers
        if name.lower() not in DROPPED_HEADERS
    ]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    headers.append((b"aleph-program-itemhash", record.vm_hash.encode()))
    if record.prepared is not None:
        headers.append((b"aleph-program-code-ref", record.prepared.content.code.ref.encode()))
    response.raw_headers = headers
    return response


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)
