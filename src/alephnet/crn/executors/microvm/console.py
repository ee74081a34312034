"""An instance's serial console, kept on the host in a file of bounded size.

A guest can write to its console forever (a program looping on `/dev/console`, a storm of
kernel warnings): a file QEMU wrote itself would fill the CRN's disk. So QEMU writes to a
pipe (`-serial file:/dev/fd/N`) and the host appends what comes out of it to `console.log`;
once the file passes twice `keep_bytes` it is cut back to its last `keep_bytes` (from the
start of a line). The file thus always ends with the latest output, the lines the owner's
`/control/machine/{ref}/logs` reads, and never holds more than `2 * keep_bytes`.

The host never stops draining the pipe, even when the file cannot be written (a full disk):
a full pipe would hold the guest's console writes back. It reads it at most every
`READ_PAUSE` seconds, so that a guest flooding its console costs the CRN a read of what
piled up meanwhile, not a wake-up per byte QEMU writes (it writes them one by one); a
flood beyond what the pipe holds per pause just slows the guest's console.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import cast

logger = logging.getLogger(__name__)

DEFAULT_KEEP_BYTES = 1024 * 1024
# Room for bursts while the event loop is busy (the pipe-max-size of an unprivileged user).
PIPE_BYTES = 1024 * 1024
# A reader still open after QEMU exited is given this long to read the pipe's end.
DRAIN_TIMEOUT = 5.0
READ_PAUSE = 0.05


class BoundedFile:
    """The console file: appended to, cut back to its tail when it grows past its bound."""

    def __init__(self, path: Path, keep_bytes: int = DEFAULT_KEEP_BYTES) -> None:
        self.path = path
        self._keep_bytes = keep_bytes
        # Each VM's console starts empty; unbuffered, so readers see every line at once.
        self._file = path.open("wb", buffering=0)
        self._size = 0
        self._failing = False

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
            self._size += len(data)
            if self._size > 2 * self._keep_bytes:
                self._keep_tail()
        except OSError as error:
            if not self._failing:
                logger.warning("console output of %s is dropped: %s", self.path, error)
            self._failing = True
            return
        self._failing = False

    def close(self) -> None:
        self._file.close()

    def _keep_tail(self) -> None:
        """Made under a temporary name, then renamed: a reader sees the old file or the new."""
        with self.path.open("rb") as current:
            end = current.seek(0, os.SEEK_END)
            current.seek(max(0, end - self._keep_bytes))
            tail = current.read()
        line_start = tail.find(b"\n") + 1
        tail = tail[line_start:] if 0 < line_start < len(tail) else tail
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_bytes(tail)
        partial.replace(self.path)
        self._file.close()
        self._file = self.path.open("ab", buffering=0)
        self._size = len(tail)


class _PipeReader(asyncio.Protocol):
    def __init__(self, output: BoundedFile, closed: asyncio.Future[None]) -> None:
        self._output = output
        self._closed = closed
        self._transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A pipe's read transport (uvloop's, under the CRN's server, is not registered as an
        # asyncio.ReadTransport: an isinstance check failed there and nothing was read).
        self._transport = cast(asyncio.ReadTransport, transport)

    def data_received(self, data: bytes) -> None:
        self._output.write(data)
        if self._transport is not None:
            self._transport.pause_reading()
            asyncio.get_running_loop().call_later(READ_PAUSE, self._transport.resume_reading)

    def connection_lost(self, exc: Exception | None) -> None:
        self._output.close()
        if not self._closed.done():
            self._closed.set_result(None)


class ConsolePipe:
    """The pipe between QEMU's serial port and the console file.

    Made before QEMU starts (it inherits `qemu_fd`); `follow()` once it runs, or `abandon()`
    if it did not start."""

    def __init__(self, path: Path, keep_bytes: int = DEFAULT_KEEP_BYTES) -> None:
        self.path = path
        self._keep_bytes = keep_bytes
        self._read_fd, self.qemu_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.qemu_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def follow(self) -> None:
        """Reads the pipe into the file until QEMU, the last writer, exits."""
        os.close(self.qemu_fd)
        output = BoundedFile(self.path, self._keep_bytes)
        pipe = os.fdopen(self._read_fd, "rb", buffering=0)
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: _PipeReader(output, self._closed), pipe
        )

    def abandon(self) -> None:
        os.close(self.qemu_fd)
        os.close(self._read_fd)

    async def drained(self) -> None:
        """Once QEMU exited: all it wrote is in the file."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed), DRAIN_TIMEOUT)
