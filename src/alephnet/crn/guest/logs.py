"""The program's standard output and error, forwarded line by line as LOG frames.

Both file descriptors 1 and 2 are replaced by pipes, so every writer is captured: `print` in
the ASGI app, C extensions, and child processes that inherit them. Each pipe is drained by a
thread, not by the event loop: a program that prints a lot from blocking code would otherwise
fill the pipe and block the very loop that should empty it. Lines are handed to the loop,
which sends them in order.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import io
import os
import sys
import termios
import threading
from collections.abc import Callable

LineSink = Callable[[str, str], None]
MAX_LINE_BYTES = 16 * 1024
SETTLE_TIMEOUT = 0.2


def forward_lines(
    stream: str, read_fd: int, sink: LineSink, loop: asyncio.AbstractEventLoop
) -> None:
    """Read `read_fd` until its end, calling `sink(stream, line)` in the loop for each line."""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        reader = io.BufferedReader(pipe)
        while line := reader.readline(MAX_LINE_BYTES):
            text = line.decode(errors="replace").rstrip("\n")
            loop.call_soon_threadsafe(sink, stream, text)


def unread_bytes(fd: int) -> int:
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


class OutputCapture:
    def __init__(self, sink: LineSink, loop: asyncio.AbstractEventLoop) -> None:
        """Point fds 1 and 2 at pipes forwarded to `sink`."""
        self._threads: list[threading.Thread] = []
        self._read_fds: list[int] = []
        for stream, target_fd in (("stdout", 1), ("stderr", 2)):
            read_fd, write_fd = os.pipe()
            os.dup2(write_fd, target_fd)
            os.close(write_fd)
            thread = threading.Thread(
                target=forward_lines,
                args=(stream, read_fd, sink, loop),
                name=f"log-{stream}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
            self._read_fds.append(read_fd)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)

    async def settle(self) -> None:
        """Let what was written so far reach the sink (briefly: a busy child may never stop).

        CONFIGURED is sent after this, so a program's start-up output comes before it.
        """
        sys.stdout.flush()
        sys.stderr.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        while any(unread_bytes(fd) for fd in self._read_fds) and loop.time() < deadline:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.001)

    def release(self, timeout: float) -> None:
        """Close our ends of the pipes and wait for what is still buffered to be read.

        A child that still holds the pipes open keeps its thread reading; it is a daemon, so the
        guest does not wait for it past `timeout`.
        """
        sys.stdout.flush()
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        for target_fd in (1, 2):
            os.dup2(devnull, target_fd)
        os.close(devnull)
        for thread in self._threads:
            thread.join(timeout)
