"""The guest runtime run as a plain subprocess over a socket pair, with a `GuestLink` to it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from alephnet.crn.executors.guest_link import GuestLink
from alephnet.crn.guest.configuration import GuestConfiguration


@dataclass
class LogLines:
    """A `GuestLink` log callback that keeps what it gets."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))


@dataclass
class RunningGuest:
    link: GuestLink
    process: asyncio.subprocess.Process
    logs: LogLines


@contextlib.asynccontextmanager
async def guest_process(code_dir: Path) -> AsyncIterator[RunningGuest]:
    parent, child = socket.socketpair()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alephnet.crn.guest",
        "--channel-fd",
        str(child.fileno()),
        "--code-dir",
        str(code_dir),
        pass_fds=[child.fileno()],
    )
    child.close()
    reader, writer = await asyncio.open_connection(sock=parent)
    logs = LogLines()
    guest = RunningGuest(GuestLink(reader, writer, logs), process, logs)
    try:
        yield guest
    finally:
        await guest.link.close()
        if process.returncode is None:
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def configured_guest(
    code_dir: Path, configuration: GuestConfiguration, code: bytes
) -> AsyncIterator[RunningGuest]:
    async with guest_process(code_dir) as guest:
        await guest.link.wait_ready(timeout=10)
        await guest.link.configure(configuration, code, timeout=20)
        yield guest
