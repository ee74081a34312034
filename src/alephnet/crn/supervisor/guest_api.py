"""The supervisor's half of the guest API: a program's calls to the Aleph API, sent on to the
CRN's CCN (the guest's half, and why it exists: `alephnet.crn.guest.api`).

What goes through is what the SDK needs and nothing more: GET and HEAD of the CCN's
`/api/v0/...` routes (reading), POST of `/api/v0/messages` and of the legacy pubsub routes
(publishing), and POST of `/api/v0/price/estimate` (a read that takes a body). Uploads to
the CCN's storage are not among them: a program publishes inline messages only. A published
message is forwarded as it is: the program signed it with its own key and the CCN verifies
it, so the CRN lends its position, never its identity. Everything else is refused with a
JSON error (404 outside the API, 403 for a method the route does not allow). Requests go to
the configured CCN URL only, whatever the path says; bodies are limited both ways, and the
CCN gets `API_TIME_LIMIT` seconds to answer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from urllib.parse import unquote

import certifi
import httpx

from alephnet.crn.executors.guest_link import ApiRequest
from alephnet.crn.guest.api import (
    API_TIME_LIMIT,
    HOP_BY_HOP,
    MAX_API_BODY_BYTES,
    ApiAnswer,
    error_answer,
)

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v0/"
READ_METHODS = frozenset({"GET", "HEAD"})
POST_PATHS = frozenset(
    {
        "/api/v0/messages",
        "/api/v0/ipfs/pubsub/pub",
        "/api/v0/p2p/pubsub/pub",
        "/api/v0/price/estimate",
    }
)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
FORWARDED_REQUEST_HEADERS = frozenset({"accept", "content-type", "user-agent"})
# httpx decodes compressed answers, so their encoding no longer describes the body.
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"content-encoding", "set-cookie"}


class ResponseTooLarge(Exception):
    """The CCN's answer is over `MAX_RESPONSE_BYTES`."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs tens of milliseconds, a client per call none."""
    return ssl.create_default_context(cafile=certifi.where())


class GuestApiProxy:
    """The API handler of one program's `GuestLink`."""

    def __init__(self, ccn_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._ccn = httpx.URL(ccn_url)
        self._transport = transport

    async def handle(self, request: ApiRequest) -> ApiAnswer:
        refusal = refusal_of(request)
        if refusal is not None:
            return refusal
        try:
            return await asyncio.wait_for(self._forward(request), API_TIME_LIMIT)
        except TimeoutError:
            return error_answer(504, f"the CCN did not answer within {API_TIME_LIMIT:g} s")
        except ResponseTooLarge:
            return error_answer(502, f"the CCN's answer is over {MAX_RESPONSE_BYTES} bytes")
        except httpx.HTTPError as error:
            logger.info("guest API: %s %s failed: %s", request.method, request.path, error)
            return error_answer(502, f"the CCN could not be reached: {error}")

    async def _forward(self, request: ApiRequest) -> ApiAnswer:
        async with httpx.AsyncClient(
            base_url=self._ccn, transport=self._transport, verify=_tls_context(), timeout=None
        ) as client:
            outgoing = client.build_request(
                request.method,
                request.path + (f"?{request.query_string}" if request.query_string else ""),
                headers=[
                    (name, value)
                    for name, value in request.headers
                    if name.lower() in FORWARDED_REQUEST_HEADERS
                ],
                content=request.body,
            )
            if not self._is_ccn(outgoing.url):
                return error_answer(404, f"{request.path!r} does not name a CCN route")
            response = await client.send(outgoing, stream=True)
            try:
                body = await read_limited(response)
            finally:
                await response.aclose()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers.raw
            if name.decode("latin-1").lower() not in DROPPED_RESPONSE_HEADERS
        ]
        return ApiAnswer(response.status_code, headers, body)

    def _is_ccn(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == (
            self._ccn.scheme,
            self._ccn.host,
            self._ccn.port,
        )


def refusal_of(request: ApiRequest) -> ApiAnswer | None:
    """The error answer for a request the guest API does not forward, or None."""
    path = request.path
    segments = unquote(path).split("/")
    if not path.startswith(API_PREFIX) or "\\" in path or {".", ".."} & set(segments):
        return error_answer(404, f"{path!r} is not on the guest API: it serves {API_PREFIX}...")
    if request.method not in READ_METHODS and not (
        request.method == "POST" and path.rstrip("/") in POST_PATHS
    ):
        allowed = ", ".join(sorted(POST_PATHS))
        return error_answer(
            403,
            f"{request.method} {path} is not allowed on the guest API: only GET and HEAD of "
            f"{API_PREFIX}... and POST of {allowed}",
        )
    if len(request.body) > MAX_API_BODY_BYTES:
        return error_answer(413, f"request body over {MAX_API_BODY_BYTES} bytes")
    return None


async def read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ResponseTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)
