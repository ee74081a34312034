"""The SDK's only door to the network: one `request` method.

`HttpxTransport` is the default. Tests and in-process nodes use the same class over another
httpx transport: `FunctionTransport` answers with a plain function (as httpx's `MockTransport`),
`AsgiTransport` calls an ASGI app in the same process. Whatever backs it, a transport raises
only `alephnet.sdk.exceptions` errors (`map_transport_errors`), never httpx's.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import httpx

from alephnet.sdk.exceptions import NodeUnreachable, RequestTimeout

DEFAULT_TIMEOUT_SECONDS = 15.0
"""Per read/write/connect step, as the official SDK's HTTP_REQUEST_TIMEOUT; a large download
only has to make progress within it."""

Params = Mapping[str, str | int | float]
RequestContent = bytes | AsyncIterable[bytes]


class Transport(Protocol):
    """What the clients need from the network. The response is httpx's: a plain value object
    (status, headers, body), whatever backs the transport."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        content: RequestContent | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request. With `stream`, the body is left unread: the caller iterates it
        (`aiter_bytes`) and must `aclose` the response."""

    async def aclose(self) -> None: ...


class HttpxTransport:
    """A transport over an `httpx.AsyncClient` rooted at `api_url`."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.api_url, timeout=timeout, transport=transport)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        content: RequestContent | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        request = self._http.build_request(
            method, path, params=params, json=json, content=content, headers=headers
        )
        with map_transport_errors(str(request.url)):
            response = await self._http.send(request, stream=True)
            if not stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            return response

    async def aclose(self) -> None:
        await self._http.aclose()


Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


class FunctionTransport(HttpxTransport):
    """Answers every request with `handler(request)`: the tool for tests of error paths."""

    def __init__(self, handler: Handler, api_url: str = "http://aleph.test") -> None:
        super().__init__(api_url, transport=httpx.MockTransport(handler))


class AsgiTransport(HttpxTransport):
    """Calls an ASGI app (a CCN built by `create_app`) in this process, without a socket. The
    app's lifespan is the caller's business (e.g. `asgi_lifespan.LifespanManager`)."""

    def __init__(self, app: Any, api_url: str = "http://aleph.local") -> None:
        super().__init__(api_url, transport=httpx.ASGITransport(app=app))


@contextmanager
def map_transport_errors(url: str) -> Iterator[None]:
    """Turn httpx's transport errors into ours, naming the URL that was tried."""
    try:
        yield
    except httpx.TimeoutException as error:
        raise RequestTimeout(url) from error
    except httpx.TransportError as error:
        raise NodeUnreachable(url, f"node is not reachable ({error.__class__.__name__})") from error
