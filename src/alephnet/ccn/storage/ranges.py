"""HTTP `Range` requests on stored files (RFC 9110 §14), reduced to what a file server answers.

`GET /api/v0/storage/raw/{hash}` serves one span of a file (206), the whole file (200) or refuses
(416). The choices, all within what RFC 9110 allows:

- no header, a unit other than `bytes`, or no `=` at all: not a byte range request; the header
  is ignored (§14.2 "MUST ignore ... a range unit it does not understand");
- `bytes=` followed by something that is not a range set (`bytes=abc`, `bytes=5-2`, `bytes=-`):
  refused with 416 rather than ignored, so a client bug shows instead of a silent full download;
- several ranges: served whole (a server MAY ignore Range), since multipart/byteranges is more
  code for clients (players, resumable downloads) that only ever ask for one span; unless none of
  them is satisfiable, which is a 416 whatever their number (§15.5.17);
- an empty file asked for a suffix (`bytes=-N`, N > 0): the suffix is satisfiable (§14.1.2) but
  selects zero bytes, which a 206 `Content-Range` cannot express, so the (empty) body is served
  whole.

Spans are half-open `(start, end)`, like Python slices; RFC positions are inclusive.
"""

from __future__ import annotations

import re

from alephnet.ccn.storage.errors import RangeNotSatisfiable

_BYTES_UNIT = "bytes"
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
"""`first-pos "-" [last-pos]` or `"-" suffix-length`; RFC digits only, so no sign nor `_`."""


def parse_range_header(header: str | None, size: int) -> tuple[int, int] | None:
    """The span of a `size`-byte file to send, or None to send it whole.

    Raises RangeNotSatisfiable when the request must be answered with 416.
    """
    if header is None:
        return None
    unit, equals, range_set = header.strip().partition("=")
    if not equals or unit.lower() != _BYTES_UNIT:
        return None
    try:
        spans = [_span(spec, size) for spec in _list_elements(range_set)]
    except ValueError as error:
        raise RangeNotSatisfiable(header, size) from error
    selected = [span for span in spans if span is not None]
    if not selected:
        raise RangeNotSatisfiable(header, size)
    if len(spans) > 1:
        return None
    start, end = selected[0]
    return (start, end) if end > start else None


def _list_elements(range_set: str) -> list[str]:
    """The comma-separated range specs; empty elements are skipped as RFC 9110 §5.6.1 asks."""
    elements = [element.strip() for element in range_set.split(",")]
    specs = [element for element in elements if element]
    if not specs:
        raise ValueError("empty range set")
    return specs


def _span(spec: str, size: int) -> tuple[int, int] | None:
    """The half-open span one range spec selects, None when it selects no byte of the file.

    ValueError when the spec is not a range spec at all.
    """
    match = _RANGE_SPEC.fullmatch(spec)
    if match is None:
        raise ValueError(f"not a byte range: {spec!r}")
    first, last = match.groups()
    if first:
        return _int_range(int(first), int(last) if last else None, size)
    if last:
        return _suffix_range(int(last), size)
    raise ValueError("a range needs a first position or a suffix length")


def _int_range(first: int, last: int | None, size: int) -> tuple[int, int] | None:
    """`first-last` (inclusive) or `first-`; a last position past the end means the end."""
    if last is not None and last < first:
        raise ValueError(f"range ends ({last}) before it starts ({first})")
    if first >= size:
        return None
    end = size if last is None else min(last + 1, size)
    return first, end


def _suffix_range(length: int, size: int) -> tuple[int, int] | None:
    """`-length`: the last `length` bytes, the whole file when it is shorter."""
    if length == 0:
        return None
    return max(size - length, 0), size
