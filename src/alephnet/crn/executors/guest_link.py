"""The supervisor's end of the frame protocol (`alephnet.crn.guest.frames`).

One reader task takes every frame the guest sends and routes it: READY, CONFIGURED and HALTED
resolve the matching wait, RESPONSE and FAILURE resolve the request with the same `id`, LOG
lines go to a callback. Requests are sent concurrently; a request that times out is forgotten
(its late answer is dropped). When the stream ends, every waiter fails with `GuestGone`.

The guest's own requests (API_REQUEST, the guest API) each run as a task that hands them to
the API handler the supervisor sets, and send its answer back as API_RESPONSE. Until a
handler is set (a program may call the API while it starts, before the supervisor takes the
link over), they wait for one, up to `API_HANDLER_WAIT` seconds, then get a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from alephnet.crn.guest.api import ApiAnswer, error_answer
from alephnet.crn.guest.configuration import GuestConfiguration
from alephnet.crn.guest.frames import Frame, FrameError, FrameType, read_frame, write_frame

logger = logging.getLogger(__name__)

LogCallback = Callable[[str, str], None]
# LOG lines kept while no callback is set (an executor starts the link before the supervisor
# takes its lines over, and the first lines often say why a start failed).
EARLY_LOG_LINES = 1000
API_HANDLER_WAIT = 30.0


@dataclass(frozen=True)
class ApiRequest:
    """One request of the program to the guest API, as the API_REQUEST frame carries it."""

    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def from_frame(cls, frame: Frame) -> ApiRequest:
        header = frame.header
        headers = [(str(name), str(value)) for name, value in header.get("headers", [])]
        return cls(
            str(header.get("method", "GET")),
            str(header.get("path", "/")),
            str(header.get("query_string", "")),
            headers,
            frame.body,
        )


ApiHandler = Callable[[ApiRequest], Awaitable[ApiAnswer]]


class GuestError(Exception):
    """Base of what can go wrong talking to a guest."""


class GuestGone(GuestError):
    """The guest's stream ended (it exited, crashed or was killed)."""


class GuestFailure(GuestError):
    """The guest reported an error: its program raised, or configuration failed."""

    def __init__(self, error: str, traceback: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.traceback = traceback


@dataclass(frozen=True)
class GuestResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class GuestLink:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_log: LogCallback | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_log = on_log
        self._early_lines: deque[tuple[str, str]] = deque(maxlen=EARLY_LOG_LINES)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[Frame] = loop.create_future()
        self._configured: asyncio.Future[Frame] = loop.create_future()
        self._halted: asyncio.Future[Frame] = loop.create_future()
        self._write_lock = asyncio.Lock()
        self._api_handler: asyncio.Future[ApiHandler] = loop.create_future()
        self._api_calls: set[asyncio.Task[None]] = set()
        self._reader_task = asyncio.create_task(self._read_frames(), name="guest-link-reader")

    @property
    def closed(self) -> bool:
        return self._reader_task.done()

    def set_log_callback(self, on_log: LogCallback | None) -> None:
        """Send the LOG lines to `on_log` from now on: the supervisor takes them over (for its
        per-execution log) once the executor hands it the link. Lines that arrived while no
        callback was set are replayed to it first."""
        self._on_log = on_log
        while on_log is not None and self._early_lines:
            on_log(*self._early_lines.popleft())

    def set_api_handler(self, handler: ApiHandler) -> None:
        """Answer the guest's API_REQUESTs with `handler` (the supervisor's guest API proxy)."""
        if self._api_handler.done():
            self._api_handler = asyncio.get_running_loop().create_future()
        self._api_handler.set_result(handler)

    async def wait_ready(self, timeout: float) -> str:
        """The guest runtime's protocol version, once it says it is up."""
        frame = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        return str(frame.header.get("version", ""))

    async def configure(
        self, configuration: GuestConfiguration, code: bytes, timeout: float
    ) -> None:
        await self._send(Frame(FrameType.CONFIGURE, configuration.to_header(), code))
        frame = await asyncio.wait_for(asyncio.shield(self._configured), timeout)
        if not frame.header.get("success"):
            raise GuestFailure(
                str(frame.header.get("error", "configuration failed")),
                str(frame.header.get("traceback", "")),
            )

    async def request(self, scope: dict[str, Any], body: bytes, timeout: float) -> GuestResponse:
        """Run one HTTP request in the guest; `asyncio.TimeoutError` after `timeout` seconds."""
        request_id = next(self._ids)
        answer: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await self._send(Frame(FrameType.REQUEST, {"id": request_id, "scope": scope}, body))
            frame = await asyncio.wait_for(answer, timeout)
        finally:
            self._pending.pop(request_id, None)
        if frame.type is FrameType.FAILURE:
            raise GuestFailure(
                str(frame.header.get("error", "")), str(frame.header.get("traceback", ""))
            )
        headers = [(str(name), str(value)) for name, value in frame.header.get("headers", [])]
        return GuestResponse(int(frame.header["status"]), headers, frame.body)

    async def halt(self, timeout: float) -> bool:
        """Ask the guest to shut its program down; True if it confirmed in time."""
        try:
            await self._send(Frame(FrameType.HALT))
            await asyncio.wait_for(asyncio.shield(self._halted), timeout)
        except (GuestError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        self._reader_task.cancel()
        for call in list(self._api_calls):
            call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    async def _send(self, frame: Frame) -> None:
        if self.closed:
            raise GuestGone("the guest is gone")
        try:
            async with self._write_lock:
                await write_frame(self._writer, frame)
        except (OSError, ConnectionError) as error:
            raise GuestGone(f"cannot write to the guest: {error}") from error

    async def _read_frames(self) -> None:
        reason = "the guest closed its stream"
        try:
            while (frame := await read_frame(self._reader)) is not None:
                self._dispatch(frame)
        except FrameError as error:
            reason = f"the guest sent a malformed frame: {error}"
            logger.warning(reason)
        except (OSError, ConnectionError) as error:
            reason = f"the guest's stream broke: {error}"
        finally:
            self._fail_waiters(reason)

    def _dispatch(self, frame: Frame) -> None:
        if frame.type in (FrameType.RESPONSE, FrameType.FAILURE):
            answer = self._pending.get(int(frame.header.get("id", -1)))
            if answer is not None and not answer.done():
                answer.set_result(frame)
        elif frame.type is FrameType.API_REQUEST:
            call = asyncio.create_task(self._answer_api(frame), name="guest-api-call")
            self._api_calls.add(call)
            call.add_done_callback(self._api_calls.discard)
        elif frame.type is FrameType.LOG:
            line = (str(frame.header.get("stream", "stdout")), str(frame.header.get("line", "")))
            if self._on_log is None:
                self._early_lines.append(line)
            else:
                self._on_log(*line)
        else:
            waiter = {
                FrameType.READY: self._ready,
                FrameType.CONFIGURED: self._configured,
                FrameType.HALTED: self._halted,
            }.get(frame.type)
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)

    async def _answer_api(self, frame: Frame) -> None:
        try:
            handler = await asyncio.wait_for(asyncio.shield(self._api_handler), API_HANDLER_WAIT)
            answer = await handler(ApiRequest.from_frame(frame))
        except TimeoutError:
            answer = error_answer(503, "this program has no guest API")
        except Exception:
            logger.exception("the guest API handler failed")
            answer = error_answer(500, "the guest API failed; see the CRN's log")
        header = {"id": frame.header.get("id"), "status": answer.status}
        reply = Frame(FrameType.API_RESPONSE, {**header, "headers": answer.headers}, answer.body)
        with contextlib.suppress(GuestGone):
            await self._send(reply)

    def _fail_waiters(self, reason: str) -> None:
        waiters = [self._ready, self._configured, self._halted, *self._pending.values()]
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(GuestGone(reason))
        # Retrieve the exceptions nobody awaits, so asyncio does not log them as lost.
        for waiter in (self._ready, self._configured, self._halted):
            if waiter.done() and not waiter.cancelled():
                waiter.exception()
