"""Files to upload: hashed first (the STORE message names the bytes it pins), then streamed as
a multipart form whose `metadata` part comes first, so the node knows the signed STORE, and
its size limit, before the file arrives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO, Literal

from alephnet.protocol.cid import CidBuilder

StorageEngine = Literal["storage", "ipfs"]
Progress = Callable[[int, int], None]
"""Called with (bytes sent, total bytes) as an upload goes."""
FileSource = str | os.PathLike[str] | bytes | BinaryIO

CHUNK = 256 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024


def open_source(source: FileSource) -> BinaryIO:
    """A seekable binary stream of the file; a stream that cannot seek is spooled first (to
    memory, then to a temporary file) because it is read twice: to hash it, then to send it."""
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, str | os.PathLike):
        return Path(source).open("rb")
    if source.seekable():
        return source
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (returned)
    shutil.copyfileobj(source, spool, CHUNK)
    spool.seek(0)
    return spool  # type: ignore[return-value]  # a SpooledTemporaryFile is a binary file


def hash_and_size(stream: BinaryIO, engine: StorageEngine) -> tuple[str, int]:
    """The name the node gives the bytes in `engine` (sha256 hex or CIDv0), and their size;
    the stream is rewound to where it was."""
    start = stream.tell()
    sha256, cid = hashlib.sha256(), CidBuilder()
    size = 0
    while chunk := stream.read(CHUNK):
        (sha256 if engine == "storage" else cid).update(chunk)
        size += len(chunk)
    stream.seek(start)
    return (sha256.hexdigest() if engine == "storage" else cid.cid_v0()), size


def raw_body(stream: BinaryIO, size: int, progress: Progress | None) -> AsyncIterator[bytes]:
    """The file alone as a request body (streamed, constant memory)."""

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        while chunk := stream.read(CHUNK):
            sent += len(chunk)
            yield chunk
            if progress is not None:
                progress(sent, size)

    return body()


def multipart_form(
    metadata: dict[str, Any], stream: BinaryIO, size: int, progress: Progress | None
) -> tuple[AsyncIterator[bytes], str]:
    """The body (streamed, constant memory) and its content type."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="metadata"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f"{json.dumps(metadata)}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="file"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        async for chunk in raw_body(stream, size, progress):
            yield chunk
        yield tail

    return body(), f"multipart/form-data; boundary={boundary}"
