"""The guest API: the Aleph API inside the guest, at `http://127.0.0.1:GUEST_API_PORT`.

A program with `environment.aleph_api` finds this address in `ALEPH_API_HOST`. Each HTTP
request it sends there goes to the supervisor as an API_REQUEST frame over the guest's one
channel, and the supervisor's API_RESPONSE is written back. So a program reaches its CCN
without any network (with `internet` false too, in the sandbox and the micro-VM alike), and
only through what the supervisor lets through (`alephnet.crn.supervisor.guest_api`). It is
the reference's guest API on vsock port 53, carried by our frames instead.

A deliberately small HTTP/1.1 server, stdlib only like all of the guest: one request per
connection (answered with `Connection: close`), request bodies by `Content-Length` only
(a chunked upload gets 411), a body limit, and a time limit on the supervisor's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

from alephnet.crn.guest.frames import Frame, FrameType

# Fixed, so that programs and their docs can rely on it, and unprivileged: port 53 (the
# reference's vsock port) would need root in the guest. Executable programs keep 8080.
GUEST_API_PORT = 8053
MAX_API_BODY_BYTES = 4 * 1024 * 1024
MAX_API_HEAD_BYTES = 64 * 1024
# The supervisor gives the CCN `API_TIME_LIMIT` seconds; the guest waits a little longer so
# that the supervisor's own 504 is what the program sees.
API_TIME_LIMIT = 30.0
ANSWER_TIMEOUT = API_TIME_LIMIT + 5.0
# Not forwarded either way: they describe one connection, not the request or its answer.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)


class HttpError(Exception):
    """A request the guest API answers itself, without asking the supervisor."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_answer(status: int, error: str) -> ApiAnswer:
    """The JSON error body that the guest API and the supervisor's proxy both answer with."""
    body = json.dumps({"error": error}).encode()
    return ApiAnswer(status, [("content-type", "application/json")], body)


class GuestApiServer:
    def __init__(self, send: Callable[[Frame], None]) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._server: asyncio.Server | None = None

    async def start(self, port: int) -> str:
        """Listen on loopback (`port` 0: any free port); the URL programs are given."""
        self._server = await asyncio.start_server(
            self._serve_connection, "127.0.0.1", port, limit=MAX_API_HEAD_BYTES
        )
        bound_port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{bound_port}"

    def answer(self, frame: Frame) -> None:
        """An API_RESPONSE from the supervisor: it completes the request with its `id`."""
        waiter = self._pending.get(int(frame.header.get("id", -1)))
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(HttpError(503, "the guest is shutting down"))

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        method = "GET"
        try:
            try:
                method, header, body = await read_request(reader)
                answer = await self._forward(header, body)
            except HttpError as refused:
                answer = error_answer(refused.status, refused.error)
            writer.write(encode_response(answer, with_body=method != "HEAD"))
            await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def _forward(self, header: dict[str, object], body: bytes) -> ApiAnswer:
        request_id = next(self._ids)
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        try:
            self._send(Frame(FrameType.API_REQUEST, {"id": request_id, **header}, body))
            frame = await asyncio.wait_for(waiter, ANSWER_TIMEOUT)
        except TimeoutError as error:
            raise HttpError(504, "the supervisor did not answer in time") from error
        finally:
            self._pending.pop(request_id, None)
        headers = [(str(name), str(value)) for name, value in frame.header.get("headers", [])]
        return ApiAnswer(int(frame.header.get("status", 502)), headers, frame.body)


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, object], bytes]:
    """The method, the API_REQUEST header fields and the body of one HTTP/1.1 request."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as error:
        raise HttpError(431, f"request head over {MAX_API_HEAD_BYTES} bytes") from error
    except asyncio.IncompleteReadError as error:
        raise HttpError(400, "the connection ended inside the request head") from error
    request_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    try:
        method, target, _version = request_line.split(" ")
        pairs = [line.split(":", 1) for line in header_lines]
        headers = [(name.strip().lower(), value.strip()) for name, value in pairs]
    except ValueError as error:
        raise HttpError(400, f"malformed request head: {request_line!r}") from error
    path, _, query = target.partition("?")
    body = await read_body(reader, dict(headers))
    fields: dict[str, object] = {
        "method": method.upper(),
        "path": path,
        "query_string": query,
        "headers": [pair for pair in headers if pair[0] not in HOP_BY_HOP and pair[0] != "host"],
    }
    return method.upper(), fields, body


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "transfer-encoding" in headers:
        raise HttpError(411, "send the body with a Content-Length (chunked is not supported)")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as error:
        raise HttpError(400, "Content-Length is not a number") from error
    if not 0 <= length <= MAX_API_BODY_BYTES:
        raise HttpError(413, f"request body over {MAX_API_BODY_BYTES} bytes")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as error:
        raise HttpError(400, "the connection ended inside the request body") from error


def encode_response(answer: ApiAnswer, with_body: bool) -> bytes:
    try:
        reason = http.HTTPStatus(answer.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {answer.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in answer.headers if name not in HOP_BY_HOP]
    lines += [f"content-length: {len(answer.body)}", "connection: close", "", ""]
    head = "\r\n".join(lines).encode("latin-1")
    return head + answer.body if with_body else head
