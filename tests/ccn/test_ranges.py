"""Byte range requests (RFC 9110 §14) against files of known size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alephnet.ccn.storage import RangeNotSatisfiable, StorageError, parse_range_header

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-99", (0, 100)),
        ("bytes=0-0", (0, 1)),
        ("bytes=999-999", (999, 1000)),
        ("bytes=100-", (100, 1000)),
        ("bytes=0-", (0, 1000)),
        ("bytes=-50", (950, 1000)),
        ("bytes=-1", (999, 1000)),
        ("bytes=500-99999", (500, 1000)),
        ("bytes=-99999", (0, 1000)),
        ("bytes=0999-01000", (999, 1000)),
        ("Bytes=0-1", (0, 2)),
        ("  bytes=0-1  ", (0, 2)),
        ("bytes= 0-1 ", (0, 2)),
        ("bytes=0-1,", (0, 2)),
        ("bytes=, ,0-1", (0, 2)),
    ],
)
def test_single_range_gives_half_open_span(header: str, span: tuple[int, int]) -> None:
    assert parse_range_header(header, SIZE) == span


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "0-99",
        "items=0-99",
        "bytes =0-99",
        "bytes=0-1,5-6",
        "bytes=0-1,2000-3000",
        "bytes=-10,0-",
    ],
)
def test_whole_file_when_not_a_single_byte_range(header: str | None) -> None:
    assert parse_range_header(header, SIZE) is None


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",
        "bytes=1000-2000",
        "bytes=5000-5000",
        "bytes=-0",
        "bytes=2000-3000,4000-",
        "bytes=1000-,-0",
    ],
)
def test_unsatisfiable_ranges_are_refused(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range_header(header, SIZE)
    assert caught.value.size == SIZE
    assert caught.value.header == header


@pytest.mark.parametrize(
    "header",
    [
        "bytes=",
        "bytes=,",
        "bytes=-",
        "bytes=5-2",
        "bytes=abc",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=0x1-2",
        "bytes=1 - 2",
        "bytes=1_0-20",
        "bytes=\uff11-2",
        "bytes=0-1,abc",
    ],
)
def test_malformed_byte_ranges_are_refused(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range_header(header, SIZE)


def test_refusal_is_a_storage_error() -> None:
    assert issubclass(RangeNotSatisfiable, StorageError)


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=0-0", "bytes=0-10"])
def test_empty_file_has_no_position_to_start_from(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range_header(header, 0)


def test_empty_file_suffix_is_served_whole() -> None:
    """Satisfiable per RFC 9110, but zero bytes cannot be described by a 206 Content-Range."""
    assert parse_range_header("bytes=-10", 0) is None


@given(
    size=st.integers(min_value=1, max_value=10_000),
    first=st.integers(min_value=0, max_value=20_000),
    length=st.integers(min_value=1, max_value=20_000),
)
def test_int_range_selects_what_a_slice_of_the_inclusive_bounds_selects(
    size: int, first: int, length: int
) -> None:
    content = range(size)
    header = f"bytes={first}-{first + length - 1}"
    if first >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_range_header(header, size)
        return
    span = parse_range_header(header, size)
    assert span is not None
    start, end = span
    assert content[start:end] == content[first : first + length]
    assert 0 <= start < end <= size


@given(size=st.integers(min_value=1, max_value=10_000), length=st.integers(1, 20_000))
def test_suffix_range_selects_the_last_bytes(size: int, length: int) -> None:
    span = parse_range_header(f"bytes=-{length}", size)
    assert span is not None
    start, end = span
    assert range(size)[start:end] == range(size)[-length:]
