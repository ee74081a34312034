"""A minimal HTTP/1.1 keep-alive client for load generation, in the spirit of `wrk`.

The benchmark client shares the machine's two cores with the node it measures, so every
microsecond it spends per request is taken from the node. httpx spends about half a
millisecond of CPU per POST (request model, header objects, auth and redirect hooks); this
client writes requests encoded beforehand on one persistent connection and reads only the
status line and the Content-Length, about 20 µs per request. It speaks only what a loopback
benchmark against our own node needs: no TLS, no chunked responses, no redirects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson


def post_request(host: str, path: str, document: object) -> bytes:
    """The whole request for a JSON POST, ready to write."""
    body = orjson.dumps(document)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


class KeepAliveConnection:
    """One connection, one request at a time (as a client without pipelining does)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> KeepAliveConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> Response:
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status, length = _parse_head(head)
        return Response(status, await self._reader.readexactly(length))

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def _parse_head(head: bytes) -> tuple[int, int]:
    """The status code and the body length; a response without Content-Length is refused."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value)
    raise ValueError(f"response without Content-Length: {lines[0]!r}")
