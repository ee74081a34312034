"""The frame format: round trips, and every way a peer can send something that is not a frame."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alephnet.crn.guest.frames import (
    MAX_FRAME_BYTES,
    Frame,
    FrameError,
    FrameType,
    decode_frame,
    encode_frame,
    read_frame,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(
    frame_type=st.sampled_from(FrameType),
    header=st.dictionaries(st.text().filter(lambda key: key != "type"), json_values),
    body=st.binary(),
)
def test_round_trip(frame_type: FrameType, header: dict[str, object], body: bytes) -> None:
    encoded = encode_frame(Frame(frame_type, header, body))
    (length,) = struct.unpack(">I", encoded[:4])
    assert length == len(encoded) - 4
    assert decode_frame(encoded[4:]) == Frame(frame_type, header, body)


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_read_frames_in_order_then_clean_end() -> None:
    frames = [Frame(FrameType.READY, {"version": "1"}), Frame(FrameType.LOG, {"line": "x"}, b"")]
    reader = reader_of(b"".join(encode_frame(frame) for frame in frames))
    assert [await read_frame(reader), await read_frame(reader)] == frames
    assert await read_frame(reader) is None


def payload(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", len(header)) + header + body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "shorter than its header length"),
        (payload(b'{"type": "ready"}')[:-3], "runs past the frame"),
        (payload(b"not json"), "bad frame header"),
        (payload(b'{"type": "launch"}'), "bad frame header"),
        (payload(b'{"no": "type"}'), "bad frame header"),
        (payload(b"[1, 2]"), "bad frame header"),
    ],
)
def test_malformed_payload_is_a_frame_error(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_frame(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "inside a frame length"),
        (struct.pack(">I", 100) + b"short", "inside a frame"),
        (struct.pack(">I", MAX_FRAME_BYTES + 1), "over the"),
    ],
)
async def test_truncated_or_oversized_stream_is_a_frame_error(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        await read_frame(reader_of(data))


def test_oversized_frame_is_refused_when_encoding() -> None:
    with pytest.raises(FrameError, match="limit"):
        encode_frame(Frame(FrameType.RESPONSE, {}, b"x" * MAX_FRAME_BYTES))


def test_header_type_is_the_frame_type() -> None:
    encoded = encode_frame(Frame(FrameType.HALT, {"type": "ignored"}))
    assert json.loads(encoded[8:])["type"] == "halt"
