"""GuestLink against a scripted guest on the other end of a socket pair."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from alephnet.crn.executors.guest_link import GuestFailure, GuestGone, GuestLink
from alephnet.crn.guest.configuration import GuestConfiguration, GuestVolume
from alephnet.crn.guest.frames import Frame, FrameType, read_frame, write_frame
from tests.crn.guest_process import LogLines
from tests.crn.programs import http_scope

CONFIGURATION = GuestConfiguration(
    vm_hash="ef" * 32,
    interface="asgi",
    encoding="zip",
    entrypoint="main:app",
    volumes=[GuestVolume("/data", None, read_only=False)],
)


@dataclass
class FakeGuest:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, frame: Frame) -> None:
        await write_frame(self.writer, frame)

    async def receive(self) -> Frame:
        frame = await read_frame(self.reader)
        assert frame is not None
        return frame


@contextlib.asynccontextmanager
async def linked() -> AsyncIterator[tuple[GuestLink, FakeGuest]]:
    host, guest = socket.socketpair()
    link = GuestLink(*await asyncio.open_connection(sock=host))
    fake = FakeGuest(*await asyncio.open_connection(sock=guest))
    try:
        yield link, fake
    finally:
        await link.close()
        fake.writer.close()


async def test_ready_and_configure_round_trip() -> None:
    async with linked() as (link, guest):
        await guest.send(Frame(FrameType.READY, {"version": "1"}))
        assert await link.wait_ready(timeout=1) == "1"
        configuring = asyncio.create_task(link.configure(CONFIGURATION, b"zip bytes", timeout=1))
        frame = await guest.receive()
        assert frame.type is FrameType.CONFIGURE
        assert GuestConfiguration.from_header(frame.header) == CONFIGURATION
        assert frame.body == b"zip bytes"
        await guest.send(Frame(FrameType.CONFIGURED, {"success": True}))
        await configuring


async def test_configuration_failure_carries_error_and_traceback() -> None:
    async with linked() as (link, guest):
        configuring = asyncio.create_task(link.configure(CONFIGURATION, b"", timeout=1))
        await guest.receive()
        failed = {"success": False, "error": "ImportError: x", "traceback": "Traceback..."}
        await guest.send(Frame(FrameType.CONFIGURED, failed))
        with pytest.raises(GuestFailure) as failure:
            await configuring
        assert (failure.value.error, failure.value.traceback) == ("ImportError: x", "Traceback...")


async def test_concurrent_requests_answered_out_of_order() -> None:
    async with linked() as (link, guest):
        requests = [
            asyncio.create_task(link.request(http_scope(f"/{n}"), str(n).encode(), timeout=2))
            for n in range(3)
        ]
        frames = [await guest.receive() for _ in range(3)]
        for frame in reversed(frames):
            answer = {"id": frame.header["id"], "status": 200, "headers": [["x-n", "1"]]}
            await guest.send(Frame(FrameType.RESPONSE, answer, frame.body * 2))
        responses = await asyncio.gather(*requests)
        assert [response.body for response in responses] == [b"00", b"11", b"22"]
        assert responses[0].headers == [("x-n", "1")]


async def test_failure_frame_raises_guest_failure() -> None:
    async with linked() as (link, guest):
        request = asyncio.create_task(link.request(http_scope("/"), b"", timeout=2))
        frame = await guest.receive()
        failed = {"id": frame.header["id"], "error": "ValueError: no", "traceback": "tb"}
        await guest.send(Frame(FrameType.FAILURE, failed))
        with pytest.raises(GuestFailure, match="ValueError: no"):
            await request


async def test_timed_out_request_is_forgotten_and_late_answer_dropped() -> None:
    async with linked() as (link, guest):
        with pytest.raises(TimeoutError):
            await link.request(http_scope("/slow"), b"", timeout=0.1)
        late = await guest.receive()
        await guest.send(Frame(FrameType.RESPONSE, {"id": late.header["id"], "status": 200}))
        request = asyncio.create_task(link.request(http_scope("/next"), b"", timeout=2))
        frame = await guest.receive()
        await guest.send(Frame(FrameType.RESPONSE, {"id": frame.header["id"], "status": 201}))
        assert (await request).status == 201


async def test_log_lines_go_to_the_callback_including_early_ones() -> None:
    async with linked() as (link, guest):
        await guest.send(Frame(FrameType.LOG, {"stream": "stderr", "line": "early"}))
        await guest.send(Frame(FrameType.READY, {"version": "1"}))
        await link.wait_ready(timeout=1)
        logs = LogLines()
        link.set_log_callback(logs)
        await guest.send(Frame(FrameType.LOG, {"stream": "stdout", "line": "later"}))
        await guest.send(Frame(FrameType.HALTED))
        assert await link.halt(timeout=1)
        assert logs.lines == [("stderr", "early"), ("stdout", "later")]


async def test_guest_dying_mid_request_fails_every_waiter() -> None:
    async with linked() as (link, guest):
        request = asyncio.create_task(link.request(http_scope("/"), b"", timeout=5))
        await guest.receive()
        guest.writer.close()
        with pytest.raises(GuestGone, match="closed its stream"):
            await request
        with pytest.raises(GuestGone):
            await link.wait_ready(timeout=1)
        assert link.closed
        with pytest.raises(GuestGone):
            await link.request(http_scope("/"), b"", timeout=1)
        assert not await link.halt(timeout=1)


async def test_malformed_frame_from_the_guest_ends_the_link() -> None:
    async with linked() as (link, guest):
        request = asyncio.create_task(link.request(http_scope("/"), b"", timeout=5))
        await guest.receive()
        guest.writer.write(b"\x00\x00\x00\x08\x00\x00\x00\x04nope")
        with pytest.raises(GuestGone, match="malformed frame"):
            await request
