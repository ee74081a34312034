"""Reading a `multipart/form-data` body part by part, in constant memory.

Starlette's `request.form()` spools every file part to a temporary file before the view runs:
an upload would then be written twice and hashed once more. Here the view pulls the parts in
order, and the data of a part streams straight from the socket to its consumer (the file store,
which hashes as it writes). Memory is one network chunk plus the events it produced.

The low-level parsing is python-multipart's push parser (the one Starlette uses); this module
turns its callbacks into a pull interface:

    reader = MultipartReader(request.stream(), boundary)
    while (part := await reader.next_part()) is not None:
        async for data in reader.data(): ...     # or: await reader.read_all(limit)
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

FORM_DATA = b"multipart/form-data"


class MalformedMultipart(ValueError):
    """The body is not the multipart/form-data its Content-Type announced."""


class PartTooLarge(ValueError):
    """A part read whole (a form field) is over its size limit."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"the form part {name!r} exceeds {limit} bytes")
        self.name = name
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Part:
    """A part's headers: its form field name, and its file name when it is a file."""

    name: str
    filename: str | None


class _PartEnd:
    pass


class _BodyEnd:
    pass


_PART_END = _PartEnd()
_BODY_END = _BodyEnd()
_Event = Part | bytes | _PartEnd | _BodyEnd


def form_boundary(content_type: str | None) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type; None for any other content type."""
    media_type, options = parse_options_header(content_type)
    if media_type != FORM_DATA:
        return None
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedMultipart("multipart/form-data without a boundary")
    return boundary


class MultipartReader:
    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._events: deque[_Event] = deque()
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._in_part = False
        self._finished = False
        try:
            self._parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_end": self._on_end,
                },
            )
        except ValueError as error:
            raise MalformedMultipart(str(error)) from error

    async def next_part(self) -> Part | None:
        """Move to the next part, skipping what is left of the current one; None at the end."""
        self._in_part = False
        while True:
            event = await self._next_event()
            if isinstance(event, Part):
                self._in_part = True
                return event
            if event is _BODY_END:
                return None

    async def data(self) -> AsyncIterator[bytes]:
        """The data of the current part, as it arrives."""
        while self._in_part:
            event = await self._next_event()
            if isinstance(event, bytes):
                yield event
            elif event is _PART_END:
                self._in_part = False

    async def read_all(self, limit: int, name: str) -> bytes:
        """The whole data of the current part (a form field), at most `limit` bytes."""
        buffer = bytearray()
        async for data in self.data():
            buffer += data
            if len(buffer) > limit:
                raise PartTooLarge(name, limit)
        return bytes(buffer)

    async def _next_event(self) -> _Event:
        while not self._events:
            if self._finished:
                raise MalformedMultipart("the body ended before the multipart closing boundary")
            await self._feed()
        return self._events.popleft()

    async def _feed(self) -> None:
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._finished = True
            return
        try:
            self._parser.write(chunk)
        except MultipartParseError as error:
            raise MalformedMultipart(str(error)) from error

    # --- parser callbacks ------------------------------------------------------------------

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(data[start:end])

    def _on_part_end(self) -> None:
        self._events.append(_PART_END)

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._field).lower(), bytes(self._value)))
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        disposition = dict(self._headers).get(b"content-disposition")
        self._headers.clear()
        _, options = parse_options_header(disposition)
        if b"name" not in options:
            raise MalformedMultipart("a form part without a Content-Disposition name")
        filename = options.get(b"filename")
        self._events.append(
            Part(
                name=options[b"name"].decode("latin-1"),
                filename=None if filename is None else filename.decode("utf-8", "replace"),
            )
        )

    def _on_end(self) -> None:
        self._events.append(_BODY_END)
        self._finished = True
