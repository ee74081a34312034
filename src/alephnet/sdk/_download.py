"""Downloading files: streamed, checked against the hash they were asked by, resumable.

A download to a path writes `<path>.part` and renames it once the bytes are verified, so a
file at `path` is always whole and right. When a `.part` file exists, its bytes are hashed
again and only the rest is asked for (`Range: bytes=N-`); a node that ignores the range (200)
sends everything again and the partial file is discarded.

`progress(received, total)` is called after each chunk; both count from the start of the file,
so a resumed download starts at the bytes it already had. `total` is None when the node does not
say how long the file is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx

from alephnet.protocol.cid import CidBuilder, parse_cid
from alephnet.sdk._responses import check_streamed
from alephnet.sdk.exceptions import HashMismatch
from alephnet.sdk.models import Downloaded
from alephnet.sdk.transport import Transport, map_transport_errors

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
READ_CHUNK = 1 << 20

DownloadProgress = Callable[[int, int | None], None]
"""Called with (bytes received, total bytes or None) as a download goes."""


class Digest:
    """Hashes bytes the way `file_hash` names them: sha256 hex, or a CIDv0 as kubo computes it
    (a CIDv1 of the same dag-pb sha256 DAG is compared in its v0 form)."""

    def __init__(self, file_hash: str) -> None:
        self.file_hash = file_hash
        if SHA256_HEX.match(file_hash):
            self._sha256: hashlib._Hash | None = hashlib.sha256()
            self._cid: CidBuilder | None = None
            self._expected = file_hash
        else:
            try:
                self._expected = parse_cid(file_hash).to_v0_str()
            except ValueError as error:
                raise ValueError(f"cannot verify {file_hash}: {error}") from error
            self._sha256, self._cid = None, CidBuilder()

    def update(self, data: bytes) -> None:
        if self._sha256 is not None:
            self._sha256.update(data)
        elif self._cid is not None:
            self._cid.update(data)

    def check(self) -> None:
        actual = self._sha256.hexdigest() if self._sha256 is not None else self._cid_v0()
        if actual != self._expected:
            raise HashMismatch(self.file_hash, actual)

    def _cid_v0(self) -> str:
        assert self._cid is not None
        return self._cid.cid_v0()


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def raw_path(file_hash: str) -> str:
    return f"/api/v0/storage/raw/{file_hash}"


async def download_to_sink(
    transport: Transport, file_hash: str, sink: Sink, progress: DownloadProgress | None = None
) -> int:
    """Stream the file into `sink`; raise `HashMismatch` once all is written if it is wrong."""
    digest = Digest(file_hash)
    response = await transport.request("GET", raw_path(file_hash), stream=True)
    size = await _copy(response, digest, sink, progress)
    digest.check()
    return size


async def download_to_path(
    transport: Transport, file_hash: str, path: Path, progress: DownloadProgress | None = None
) -> Downloaded:
    digest = Digest(file_hash)
    partial = path.with_name(path.name + ".part")
    offset = _rehash(partial, digest)
    headers = {"Range": f"bytes={offset}-"} if offset else None
    response = await transport.request("GET", raw_path(file_hash), headers=headers, stream=True)
    if response.status_code == 416:  # the partial file is already whole
        await response.aclose()
    else:
        if offset and response.status_code != 206:
            digest, offset = Digest(file_hash), 0
        with partial.open("ab" if offset else "wb") as sink:
            await _copy(response, digest, sink, progress, offset)
    try:
        digest.check()
    except HashMismatch:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return Downloaded(path=path, size=path.stat().st_size, resumed_from=offset)


async def _copy(
    response: httpx.Response,
    digest: Digest,
    sink: Sink,
    progress: DownloadProgress | None,
    start: int = 0,
) -> int:
    """Copy the body into `sink`; the count returned is of this response's bytes only."""
    await check_streamed(response)
    total = _total_length(response, start)
    size = 0
    try:
        with map_transport_errors(str(response.request.url)):
            async for chunk in response.aiter_bytes(READ_CHUNK):
                digest.update(chunk)
                sink.write(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(start + size, total)
    finally:
        await response.aclose()
    return size


def _total_length(response: httpx.Response, start: int) -> int | None:
    """The whole file's size: `Content-Range` of a 206 names it, else the body's length."""
    content_range = response.headers.get("content-range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("content-length", "")
    return start + int(length) if length.isdigit() else None


def _rehash(partial: Path, digest: Digest) -> int:
    """Feed the bytes already downloaded to `digest`; their count is where to resume."""
    if not partial.exists():
        return 0
    size = 0
    with partial.open("rb") as source:
        while chunk := source.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size
