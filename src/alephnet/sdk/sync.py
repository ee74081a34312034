"""Blocking clients for scripts and notebooks, driving the async ones.

One event loop runs in a background thread for the life of the facade, and each call is sent
to it (`run_coroutine_threadsafe`). Chosen over `asyncio.run` per call because the async
client keeps a connection pool bound to one loop (a loop per call would open and close it
every time), and because `asyncio.run` fails inside an already running loop, which is exactly
where notebooks run user code.

No method is written twice: `__getattr__` wraps the async client's public methods on the fly,
and one facade class serves every client (`SyncAlephClient`, `SyncAuthenticatedAlephClient`,
`SyncCrnClient`).
A coroutine method becomes a blocking call; an async iterator (`iter_messages`,
`watch_messages`) becomes a plain iterator that fetches each item through the loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from alephnet.protocol import Signer
from alephnet.sdk._lifecycle import TransportOwner
from alephnet.sdk.accounts import Account
from alephnet.sdk.authenticated import AuthenticatedAlephClient
from alephnet.sdk.client import AlephClient
from alephnet.sdk.crn import CrnClient

T = TypeVar("T")
ClientT = TypeVar("ClientT", bound=TransportOwner)


class _SyncFacade(Generic[ClientT]):
    """A `client_class` client, built with the facade's arguments and driven from a loop in a
    background thread."""

    client_class: type[ClientT]

    def __init__(self, *args: Any, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client = self._run(self._opened(self.client_class(*args, **options)))

    @property
    def client(self) -> ClientT:
        """The async client behind the facade."""
        return self._client

    def __getattr__(self, name: str) -> Any:
        """Async methods become blocking ones; plain values (`address`, `api_url`) pass
        through; synchronous methods are not offered (they would bypass the loop's thread)."""
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._client, name)
        if inspect.isasyncgenfunction(method):
            return functools.wraps(method)(lambda *a, **k: self._iterate(method(*a, **k)))
        if inspect.iscoroutinefunction(method):
            return functools.wraps(method)(lambda *a, **k: self._run(method(*a, **k)))
        if callable(method):
            raise AttributeError(name)
        return method

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self._client.aclose())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    async def _opened(client: ClientT) -> ClientT:
        return await client.__aenter__()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(_next(iterator))
                except StopAsyncIteration:
                    return
        finally:
            self._run(_aclose(iterator))


class SyncAlephClient(_SyncFacade[AlephClient]):
    """`AlephClient`'s methods, blocking. Use it in a `with` block, or call `close()`."""

    client_class = AlephClient


class SyncAuthenticatedAlephClient(_SyncFacade[AuthenticatedAlephClient]):
    """`AuthenticatedAlephClient`'s methods, blocking."""

    client_class = AuthenticatedAlephClient

    def __init__(self, account: Account | Signer, **options: Any) -> None:
        super().__init__(account, **options)


class SyncCrnClient(_SyncFacade[CrnClient]):
    """`CrnClient`'s methods, blocking."""

    client_class = CrnClient


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
