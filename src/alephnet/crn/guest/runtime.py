"""The guest runtime: one conversation with the supervisor, from READY to HALTED.

It reads frames in order and answers them: CONFIGURE is handled inline (nothing else may run
before the program is configured), each REQUEST runs as its own task so that requests are
served concurrently and answered in any order, HALT stops the program and ends the guest.
Frames are written with a plain `write` (whole frames, so they never interleave); the stream
is drained only at the points where it matters.

Cold start counts (above all under the micro-VM's emulation), so what only some programs need
is imported when they need it: the executable proxy (http.client, a thread pool), zipfile,
subprocess, the guest API (only for programs with `aleph_api`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from alephnet.crn.guest.asgi import AsgiProgram, HttpResponse
from alephnet.crn.guest.code import (
    executable_command,
    install_code,
    load_asgi_app,
    prepare_import_path,
)
from alephnet.crn.guest.configuration import GuestConfiguration
from alephnet.crn.guest.environment import mount_volumes, set_variables
from alephnet.crn.guest.frames import (
    PROTOCOL_VERSION,
    Frame,
    FrameError,
    FrameType,
    encode_frame,
    read_frame,
)
from alephnet.crn.guest.logs import OutputCapture

if TYPE_CHECKING:
    from alephnet.crn.guest.api import GuestApiServer

LOG_FLUSH_TIMEOUT = 2.0


class Program(Protocol):
    async def handle(self, scope: dict[str, Any], body: bytes) -> HttpResponse: ...

    async def stop(self) -> None: ...


class GuestRuntime:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        code_dir: Path,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._code_dir = code_dir
        self._program: Program | None = None
        self._api: GuestApiServer | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self._output: OutputCapture | None = None
        self._exit_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def run(self) -> int:
        """Serve until HALT, the end of the stream, or the program's exit; the exit status."""
        self._output = OutputCapture(self._send_log, asyncio.get_running_loop())
        self._send(Frame(FrameType.READY, {"version": PROTOCOL_VERSION}))
        reading = asyncio.create_task(self._read_frames(), name="guest-frames")
        ending: list[asyncio.Future[Any]] = [reading, self._exit_code]
        await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
        reading.cancel()
        code = self._exit_code.result() if self._exit_code.done() else 0
        await self._shut_down(halted=False)
        return code

    async def _read_frames(self) -> None:
        try:
            while (frame := await read_frame(self._reader)) is not None:
                if frame.type is FrameType.REQUEST:
                    self._start_request(frame)
                elif frame.type is FrameType.API_RESPONSE:
                    if self._api is not None:
                        self._api.answer(frame)
                elif frame.type is FrameType.CONFIGURE:
                    await self._configure(frame)
                elif frame.type is FrameType.HALT:
                    await self._shut_down(halted=True)
                    self._finish(0)
                    return
        except FrameError as error:
            print(f"guest: malformed frame from the supervisor: {error}", file=sys.stderr)
            self._finish(2)
        except (OSError, ConnectionError) as error:
            print(f"guest: the channel broke: {error}", file=sys.stderr)
        self._finish(0)

    def _finish(self, code: int) -> None:
        if not self._exit_code.done():
            self._exit_code.set_result(code)

    async def _configure(self, frame: Frame) -> None:
        if self._program is not None:
            already = {"success": False, "error": "the guest is already configured"}
            self._send(Frame(FrameType.CONFIGURED, already))
            return
        try:
            configuration = GuestConfiguration.from_header(frame.header)
            self._program = await self._start_program(configuration, frame.body)
        except Exception as error:
            answer = {"success": False, **failure(error)}
        else:
            answer = {"success": True}
        if self._output is not None:
            await self._output.settle()
        self._send(Frame(FrameType.CONFIGURED, answer))
        await self._writer.drain()

    async def _start_program(self, configuration: GuestConfiguration, code: bytes) -> Program:
        set_variables(configuration, await self._start_api(configuration))
        mount_volumes(configuration.volumes)
        code_folder = install_code(configuration, code, self._code_dir)
        if configuration.interface == "asgi":
            asgi = AsgiProgram(load_asgi_app(configuration, code, code_folder))
            await asgi.start()
            return asgi
        if configuration.interface == "executable":
            from alephnet.crn.guest.executable import ExecutableProgram

            prepare_import_path(code_folder)
            executable = ExecutableProgram(
                executable_command(configuration, code_folder),
                code_folder,
                configuration.executable_port,
            )
            await executable.start(self._program_exited)
            return executable
        raise ValueError(f"unknown interface {configuration.interface!r}")

    async def _start_api(self, configuration: GuestConfiguration) -> str | None:
        """The guest API's URL, for programs that have one (the CCN's URL says they do)."""
        if not configuration.api_host:
            return None
        from alephnet.crn.guest.api import GuestApiServer

        self._api = GuestApiServer(self._send)
        return await self._api.start(configuration.api_port)

    def _program_exited(self, code: int) -> None:
        print(f"guest: the program exited with status {code}", file=sys.stderr)
        self._finish(code or 1)

    def _start_request(self, frame: Frame) -> None:
        task = asyncio.create_task(self._serve(frame), name=f"request-{frame.header.get('id')}")
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _serve(self, frame: Frame) -> None:
        request_id = frame.header.get("id")
        try:
            if self._program is None:
                raise RuntimeError("the program is not configured")
            response = await self._program.handle(dict(frame.header.get("scope", {})), frame.body)
            answer = Frame(
                FrameType.RESPONSE,
                {"id": request_id, "status": response.status, "headers": response.headers},
                response.body,
            )
            self._send(answer)
        except Exception as error:
            self._send(Frame(FrameType.FAILURE, {"id": request_id, **failure(error)}))

    async def _shut_down(self, halted: bool) -> None:
        """Stop the program, flush its last output, then (on HALT) confirm with HALTED."""
        for task in list(self._requests):
            task.cancel()
        program, self._program = self._program, None
        if program is not None:
            with contextlib.suppress(Exception):
                await program.stop()
        api, self._api = self._api, None
        if api is not None:
            await api.stop()
        if self._output is not None:
            output, self._output = self._output, None
            await asyncio.to_thread(output.release, LOG_FLUSH_TIMEOUT)
            await asyncio.sleep(0)
        if halted:
            self._send(Frame(FrameType.HALTED))
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.drain()

    def _send(self, frame: Frame) -> None:
        try:
            data = encode_frame(frame)
        except FrameError as error:
            data = encode_frame(
                Frame(FrameType.FAILURE, {"id": frame.header.get("id"), "error": str(error)})
            )
        if not self._writer.is_closing():
            self._writer.write(data)

    def _send_log(self, stream: str, line: str) -> None:
        self._send(Frame(FrameType.LOG, {"stream": stream, "line": line}))


def failure(error: BaseException) -> dict[str, str]:
    """The error fields of a CONFIGURED or FAILURE header, for the exception being handled."""
    return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def exit_now(code: int) -> None:
    """Leave without waiting for threads still blocked on a program (they die with us)."""
    sys.stdout.flush()
    os._exit(code)
