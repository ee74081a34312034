"""Opening the byte stream to the supervisor as asyncio streams.

Two kinds of channel reach the guest: an inherited socket (the sandbox passes one end of a
socket pair) and a character device (the micro-VM's virtio-serial port). A device has no
socket API, so it is opened once and wrapped in a read pipe transport and a write pipe
transport, which asyncio accepts for character devices. A tty-like device is switched to raw
mode first, or its line discipline would rewrite the binary frames.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tty

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class WritePipeProtocol(asyncio.streams.FlowControlMixin):
    """Flow control for a write-only pipe, plus the close waiter `StreamWriter` expects."""

    def __init__(self) -> None:
        super().__init__()
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self._closed.done():
            self._closed.set_result(None)

    def _get_close_waiter(self, stream: asyncio.StreamWriter) -> asyncio.Future[None]:
        return self._closed


async def open_socket_channel(fd: int) -> Streams:
    sock = socket.socket(fileno=fd)
    return await asyncio.open_connection(sock=sock, limit=2**20)


async def open_device_channel(path: str) -> Streams:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    if os.isatty(fd):
        tty.setraw(fd)
    return await fd_streams(fd)


async def fd_streams(fd: int) -> Streams:
    """Streams over a readable and writable file descriptor that is not a socket."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    write_fd = os.dup(fd)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        WritePipeProtocol, os.fdopen(write_fd, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer
