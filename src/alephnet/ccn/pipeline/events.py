"""In-process publication of processing results, for `sync=true` answers and WebSockets.

A subscriber gets a bounded queue: a WebSocket client too slow to keep up loses events (and is
told so by a closed connection) rather than making the node buffer without limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from alephnet.protocol.enums import MessageStatus

logger = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class ProcessingResult:
    """The outcome of processing one message. `message` is the API dict of a processed one."""

    item_hash: str
    status: MessageStatus
    message: dict[str, Any] | None = None
    error_code: int | None = None


class ResultSink(Protocol):
    """Where the processor hands its results: the node's `MessageEvents`, or the channel back
    to the node when processing runs in a process of its own."""

    def publish(self, result: ProcessingResult) -> None: ...


@dataclass(eq=False)
class Subscription:
    """Compared (and hashed) by identity: the subscriber set holds each one apart."""

    queue: asyncio.Queue[ProcessingResult] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
    )
    overflowed: bool = False


class MessageEvents:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._waiters: dict[str, list[asyncio.Future[ProcessingResult]]] = {}

    def publish(self, result: ProcessingResult) -> None:
        for future in self._waiters.pop(result.item_hash, []):
            if not future.done():
                future.set_result(result)
        for subscription in self._subscriptions:
            try:
                subscription.queue.put_nowait(result)
            except asyncio.QueueFull:
                subscription.overflowed = True

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def expect(self, item_hash: str) -> asyncio.Future[ProcessingResult]:
        """A future resolved by the next result for `item_hash`. Register it *before* the
        message can be processed, or the result may come and go unseen."""
        future: asyncio.Future[ProcessingResult] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(item_hash, []).append(future)
        return future

    def forget_waiter(self, item_hash: str, future: asyncio.Future[ProcessingResult]) -> None:
        waiters = self._waiters.get(item_hash)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[item_hash]
