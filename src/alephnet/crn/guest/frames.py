"""The wire format between the supervisor (host) and the guest runtime.

One ordered, reliable byte stream joins them: a virtio-serial port for the micro-VM, a socket
pair for the sandbox. A virtio-serial port is a single stream (unlike vsock it has no
connections), so requests are multiplexed over it by `id`, and the guest answers them
concurrently, in any order.

A frame is::

    u32 length N (big-endian) | u32 header length H | H bytes of JSON header | N-4-H bytes body

The header is a JSON object whose `type` is one of `FrameType`; the body carries raw bytes
(program code, HTTP bodies) so that nothing is base64-encoded. Conversation::

    guest -> host  READY       {"version"}                      once the runtime is up
    host  -> guest CONFIGURE   {see `GuestConfiguration`}       body: code bytes (zip/plain)
    guest -> host  CONFIGURED  {"success", "error"?, "traceback"?}
    host  -> guest REQUEST     {"id", "scope"}                  body: HTTP request body
    guest -> host  RESPONSE    {"id", "status", "headers"}      body: HTTP response body
    guest -> host  FAILURE     {"id", "error", "traceback"}     the app raised
    guest -> host  LOG         {"stream": "stdout"|"stderr", "line"}
    guest -> host  API_REQUEST {"id", "method", "path", "query_string", "headers"}  body
    host  -> guest API_RESPONSE {"id", "status", "headers"}     body
    host  -> guest HALT        {}
    guest -> host  HALTED      {}                               then the guest exits

A REQUEST's scope is the ASGI http scope made JSON-safe: its bytes (`query_string`,
`raw_path`, header names and values) as latin-1 strings, `headers`, `client` and `server` as
lists; the guest turns them back into bytes and tuples. RESPONSE headers are `[name, value]`
latin-1 strings. The guest ends when its stream ends, as if it had been sent HALT.

API_REQUEST and API_RESPONSE carry the guest API (`alephnet.crn.guest.api`): the program's
calls to the Aleph API, which the supervisor answers by proxying them to its CCN, so that a
program reaches its CCN without any network. They go the other way round from REQUEST (the
guest asks), and have their own `id` sequence, chosen by the guest. Their `query_string` and
`headers` (`[name, value]` lists) are latin-1 strings, as in a REQUEST's scope.
"""

from __future__ import annotations

import asyncio
import enum
import json
import struct
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = "1"
MAX_FRAME_BYTES = 128 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class FrameType(enum.StrEnum):
    READY = "ready"
    CONFIGURE = "configure"
    CONFIGURED = "configured"
    REQUEST = "request"
    RESPONSE = "response"
    FAILURE = "failure"
    LOG = "log"
    HALT = "halt"
    HALTED = "halted"
    API_REQUEST = "api_request"
    API_RESPONSE = "api_response"


class FrameError(Exception):
    """The peer sent bytes that are not a frame (or a frame over `MAX_FRAME_BYTES`)."""


@dataclass(frozen=True)
class Frame:
    type: FrameType
    header: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""


def encode_frame(frame: Frame) -> bytes:
    header = json.dumps({**frame.header, "type": str(frame.type)}, separators=(",", ":"))
    header_bytes = header.encode()
    total = _LENGTH.size + len(header_bytes) + len(frame.body)
    if total > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {total} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    return b"".join(
        (_LENGTH.pack(total), _LENGTH.pack(len(header_bytes)), header_bytes, frame.body)
    )


def decode_frame(payload: bytes) -> Frame:
    """Decode what follows the total-length prefix."""
    if len(payload) < _LENGTH.size:
        raise FrameError("frame shorter than its header length")
    (header_length,) = _LENGTH.unpack_from(payload)
    header_end = _LENGTH.size + header_length
    if header_end > len(payload):
        raise FrameError("frame header runs past the frame")
    try:
        header = json.loads(payload[_LENGTH.size : header_end])
        frame_type = FrameType(header.pop("type"))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise FrameError(f"bad frame header: {error}") from error
    return Frame(frame_type, header, bytes(payload[header_end:]))


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None at a clean end of stream."""
    try:
        prefix = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise FrameError("stream ended inside a frame length") from error
        return None
    (total,) = _LENGTH.unpack(prefix)
    if total > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {total} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    try:
        payload = await reader.readexactly(total)
    except asyncio.IncompleteReadError as error:
        raise FrameError("stream ended inside a frame") from error
    return decode_frame(payload)


async def write_frame(writer: asyncio.StreamWriter, frame: Frame) -> None:
    writer.write(encode_frame(frame))
    await writer.drain()
