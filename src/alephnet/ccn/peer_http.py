"""HTTP clients to other CCNs, made by an injected factory.

Sync and file fetching open a client per peer through a `ClientFactory`, so tests can hand
them clients bound to in-process apps (`httpx.ASGITransport`) instead of sockets.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import cache

import httpx

ClientFactory = Callable[[str], httpx.AsyncClient]
"""A new client whose base URL is the peer's API URL; the caller closes it."""

DEFAULT_PEER_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Per read, not per transfer: a large file streams for as long as bytes keep coming."""


def network_clients(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=DEFAULT_PEER_TIMEOUT, verify=_tls_context())


@cache
def _tls_context() -> ssl.SSLContext:
    """One for every client: an httpx client builds its own by default, loading the CA
    bundle, ~20 ms of CPU on the event loop, and sync opens a client per peer per round."""
    return httpx.create_ssl_context()
