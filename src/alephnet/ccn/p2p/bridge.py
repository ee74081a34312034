"""The bridge between the node's asyncio loop and a trio event loop running in its own thread.

py-libp2p is trio-native; the node is asyncio. Neither loop ever blocks on the other:

- asyncio -> trio: `TrioThread.call(fn, *args)` schedules `fn` as a task in the trio loop
  (`TrioToken.run_sync_soon`, thread-safe) and awaits an asyncio future that the task resolves
  through `call_soon_threadsafe`. A semaphore bounds the calls in flight, so a publisher that
  outruns libp2p waits instead of queueing without end.
- trio -> asyncio: `Inbox.offer(item)` hands an item over; the asyncio side reads it from a
  bounded queue. Items offered while the asyncio loop has not yet taken the previous ones go
  over together, with one `call_soon_threadsafe` (each wakes the loop through a socket: one
  wake-up per gossip message was a visible cost at 100 msg/s). libp2p delivers from
  synchronous callbacks that must not block, so a full inbox drops the item and counts the
  drop (a metric).

Both directions wake their reader; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import trio

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_CALLS_IN_FLIGHT = 1024


class BridgeClosed(Exception):
    """The trio side is not running (not started, stopped, or crashed)."""


class Inbox(Generic[T]):
    """Items from the trio thread to asyncio readers; at most `capacity` wait unread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[T] = asyncio.Queue(capacity)
        self._handed: list[T] = []
        """Offered, not yet taken by the asyncio loop (a hand-over is scheduled)."""
        self._lock = threading.Lock()
        self.dropped = 0

    def offer(self, item: T) -> None:
        """Hand `item` over; callable from any thread, never blocks."""
        with self._lock:
            self._handed.append(item)
            if len(self._handed) > 1:
                return
        self._loop.call_soon_threadsafe(self._take_handed)

    def _take_handed(self) -> None:
        with self._lock:
            handed, self._handed = self._handed, []
        for item in handed:
            try:
                self._queue.put_nowait(item)
            except asyncio.QueueFull:
                self.dropped += 1

    async def get(self) -> T:
        return await self._queue.get()

    def __aiter__(self) -> Inbox[T]:
        return self

    async def __anext__(self) -> T:
        return await self.get()


class TrioThread:
    """Runs `main(portal)` under `trio.run` in a daemon thread; `main` calls `portal.ready()`
    once it can take calls, and returns when cancelled by `stop`."""

    def __init__(self, main: Callable[[TrioPortal], Awaitable[None]], name: str) -> None:
        self._main = main
        self._name = name
        self._portal: TrioPortal | None = None
        self._thread: threading.Thread | None = None
        self._slots = asyncio.Semaphore(MAX_CALLS_IN_FLIGHT)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        """Start the thread; return once `main` is ready, raise what it raised if it failed."""
        loop = asyncio.get_running_loop()
        portal = TrioPortal(loop)
        self._portal = portal
        self._thread = threading.Thread(
            target=self._run, args=(portal,), name=self._name, daemon=True
        )
        self._thread.start()
        try:
            await portal.started
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Cancel `main` and wait for the thread to end."""
        portal, thread = self._portal, self._thread
        if portal is None or thread is None:
            return
        portal.cancel()
        await asyncio.to_thread(thread.join)
        self._portal = self._thread = None

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`await fn(*args)` in the trio loop, from asyncio."""
        portal = self._portal
        if portal is None or not self.running:
            raise BridgeClosed(f"{self._name} is not running")
        async with self._slots:
            return await portal.call(fn, *args)

    def _run(self, portal: TrioPortal) -> None:
        try:
            trio.run(portal.serve, self._main)
        except BaseException as error:  # the thread's last stop: nothing above to raise to
            logger.exception("%s stopped on an error", self._name)
            portal.fail(_sole(error))
        else:
            portal.fail(BridgeClosed(f"{self._name} stopped"))


class TrioPortal:
    """The trio loop's side of a `TrioThread`: its token, its nursery, the pending calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.started: asyncio.Future[None] = loop.create_future()
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._pending: set[asyncio.Future[Any]] = set()

    async def serve(self, main: Callable[[TrioPortal], Awaitable[None]]) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await main(self)
            nursery.cancel_scope.cancel()

    def ready(self) -> None:
        """Called by `main` from the trio loop once calls may come."""
        self.loop.call_soon_threadsafe(_resolve, self.started, None)

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start a background task in the trio loop (from the trio thread)."""
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)

    def cancel(self) -> None:
        """Stop `main` (callable from any thread)."""
        if self._token is not None and self._nursery is not None:
            nursery = self._nursery
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(nursery.cancel_scope.cancel)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        future: asyncio.Future[T] = self.loop.create_future()
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        if self._token is None:
            raise BridgeClosed("the trio loop is not running")
        try:
            self._token.run_sync_soon(self.spawn, self._settle, future, fn, args)
        except trio.RunFinishedError as error:
            raise BridgeClosed("the trio loop has stopped") from error
        return await future

    async def _settle(
        self, future: asyncio.Future[T], fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
    ) -> None:
        try:
            result = await fn(*args)
        except Exception as error:
            self.loop.call_soon_threadsafe(_fail, future, error)
        else:
            self.loop.call_soon_threadsafe(_resolve, future, result)

    def fail(self, error: BaseException) -> None:
        """The loop is gone (called from its thread): every waiting call, and a start still
        waited for, fails. Nothing is left to tell if the asyncio loop is already closed."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._fail_all, error)

    def _fail_all(self, error: BaseException) -> None:
        for future in [self.started, *self._pending]:
            _fail(future, error)


def _resolve(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _sole(error: BaseException) -> BaseException:
    """The one error inside trio's nested exception groups (a nursery wraps what its task
    raised), so that callers see an OSError as an OSError."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
