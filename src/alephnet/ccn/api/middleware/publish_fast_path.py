"""Serve plain `POST /api/v0/messages` requests before the framework's machinery.

This route carries the node's whole ingest. Through FastAPI, a submission crosses every
middleware layer (each wrapping `receive` and `send`), the router, a `Request`, the route's
dependencies and a `Response`: about as much CPU as the submission itself (parsing, signature
checks, group commit). A plain request (no query string, a JSON content type, a declared
length within the body limit, a JSON object whose `message` is an object and whose `sync`, if
any, is a boolean) is answered here instead, with what the route itself would answer.

Anything else (a malformed body, a message that fails validation) is handed on to the app
with its body replayed, so refusals keep exactly their usual shape and status, and the route
keeps its place in the OpenAPI document. What the layers skipped would have done for a plain
request is done here: the request is counted in the metrics, and the body limit holds (only
a declared length within it is served here).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alephnet.ccn.api.messages import JSON_TYPE, plain_publication, publication_answer
from alephnet.ccn.api.telemetry import ApiTelemetry
from alephnet.protocol.errors import MessageError

PATH = "/api/v0/messages"
METHOD = "POST"
JSON_HEADERS = [(b"content-type", JSON_TYPE.encode())]


class PublishFastPath:
    def __init__(self, app: ASGIApp, telemetry: ApiTelemetry, body_limit: int) -> None:
        self.app = app
        self.telemetry = telemetry
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._eligible(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client left: no one to answer
        request = plain_publication(body)
        if request is None:
            await self.app(scope, _replaying(body, receive), send)
            return
        try:
            status, answer = await publication_answer(scope["state"]["node"], request)
        except MessageError:
            await self.app(scope, _replaying(body, receive), send)
            return
        headers = [*JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        self.telemetry.count_request(METHOD, PATH, status)

    def _eligible(self, scope: Scope) -> bool:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != METHOD
            or scope["query_string"]
        ):
            return False
        content_type = length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        return (
            content_type == JSON_HEADERS[0][1]
            and length is not None
            and length.isdigit()
            and int(length) <= self.body_limit
        )


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (its declared length is within the limit), or None on a disconnect."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then the server's own messages
    (the disconnect, when the client leaves)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
