"""The node's local content-addressed file store: files kept by hash, written atomically.

Layout under `root`::

    sha256/<xy>/<sha256>        the bytes, named by their sha256 hex (the `storage` engine's hash)
    sha256/<xy>/<sha256>.cid    symlink -> ../../cid/<zw>/<cid>: which CID these bytes have
    cid/<zw>/<cid>              symlink -> ../../sha256/<xy>/<sha256>: the `ipfs` engine's name
    tmp/                        uploads in progress

Why this shape:

- One copy of the bytes, under the sha256 that `storage` STORE messages and the pipeline use.
  Every file also gets its CIDv0 alias, whatever engine it was uploaded for: the CID is computed
  in the same streaming pass anyway, and the same bytes may later be referenced by an `ipfs`
  STORE message.
- The alias is a symlink rather than an index file or a hard link: its target *is* the mapping
  (one `readlink`, no file to open nor parse), it comes into existence atomically with its
  content (no half-written index after a crash), and it stays openable by ordinary tools. A hard
  link would share the bytes but could not say which sha256 it is. Targets are relative, so the
  store can be moved or mounted elsewhere.
- The reverse link `<sha256>.cid` exists because deleting by sha256 must drop the alias too, and
  recomputing the CID would mean reading the whole file again.
- Directories are sharded by the last two characters of the name: those are uniform both for hex
  digests and for CIDv0s (which all start with `Qm`), and they keep directories small.

Crash safety: an upload streams into `tmp/` (same filesystem, so the move is a rename), is
fsynced, then `os.replace`d under its hash name, and the directory is fsynced; a crash leaves at
worst a temp file, never a partial file under a hash name. The bytes are placed before the
links, and removed after them, so an alias never points at missing bytes; at worst a file is
reachable by sha256 only, until it is written again. `tmp/` is emptied when the store opens,
hence one `FileStore` per root: another process sharing the root would lose its uploads.

Content-addressed files never change, so readers need no locking: a concurrent write of the same
bytes replaces the name with an identical file, and an open reader keeps the inode it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

from alephnet.ccn.storage.errors import FileNotFound, FileTooLarge, HashMismatch, InvalidHash
from alephnet.protocol.cid import CidBuilder, parse_cid
from alephnet.protocol.enums import ItemType
from alephnet.protocol.item_hash import item_type_from_hash

logger = logging.getLogger(__name__)

WRITE_BATCH_SIZE = 1024 * 1024
"""Bytes gathered before one trip to a worker thread: few thread hops, bounded memory."""

READ_CHUNK_SIZE = 256 * 1024
"""Default size of the chunks `read_range` yields."""

_DATA_DIR = "sha256"
_ALIAS_DIR = "cid"
_TMP_DIR = "tmp"
_REVERSE_LINK_SUFFIX = ".cid"
_SHARD_LENGTH = 2


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file in the store, under both of its names."""

    sha256: str
    cid: str
    """CIDv0, as kubo's default `ipfs add` computes it."""
    size: int


@dataclass(frozen=True, slots=True)
class _HashKey:
    """An item hash as a caller wrote it, and the name the store knows it by."""

    text: str
    name: str
    """The sha256 hex, or the CIDv0 spelling of a CID (aliases are stored under v0)."""
    is_cid: bool

    @classmethod
    def parse(cls, item_hash: str) -> _HashKey:
        """Refuse anything but a sha256 or a CID, which also keeps `..` and `/` out of paths."""
        try:
            item_type = item_type_from_hash(item_hash)
        except ValueError as error:
            raise InvalidHash(item_hash) from error
        if item_type is ItemType.STORAGE:
            return cls(text=item_hash, name=item_hash, is_cid=False)
        return cls(text=item_hash, name=_cid_v0_spelling(item_hash), is_cid=True)

    def check(self, stored: StoredFile) -> None:
        actual = stored.cid if self.is_cid else stored.sha256
        if actual != self.name:
            raise HashMismatch(self.text, actual)


def _cid_v0_spelling(cid: str) -> str:
    """A `bafy…` CIDv1 names the same dag-pb DAG as a `Qm…` CIDv0; other CIDs are kept as given.

    A CID without a v0 form names no file here, since every alias is a CIDv0.
    """
    try:
        return parse_cid(cid).to_v0_str()
    except ValueError:
        return cid


class _Upload:
    """A temp file being filled, with both digests of what went into it.

    Its methods block: the store calls them through `asyncio.to_thread`, one at a time. Hashing
    there too keeps the event loop free (hashlib releases the GIL on large buffers).
    """

    def __init__(self, tmp_dir: Path) -> None:
        descriptor, name = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
        self.path = Path(name)
        self._file = open(descriptor, "wb")  # noqa: SIM115 (closed by seal or discard)
        self._sha256 = hashlib.sha256()
        self._cid = CidBuilder()

    def append(self, data: bytes | bytearray) -> None:
        self._sha256.update(data)
        self._cid.update(data)
        self._file.write(data)

    def seal(self) -> StoredFile:
        """Make the bytes durable before the file gets a name that promises them."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return StoredFile(self._sha256.hexdigest(), self._cid.cid_v0(), self._cid.total_size)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class FileStore:
    """Files under `root`, by sha256 and by CIDv0 (see the module docstring for the layout).

    Opening a store creates its directories and removes unfinished uploads of a previous run.
    Every lookup takes a sha256 hex or a CID (`Qm…`, or `bafy…` of the same DAG) and raises
    InvalidHash for any other string.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._data_dir = root / _DATA_DIR
        self._alias_dir = root / _ALIAS_DIR
        self._tmp_dir = root / _TMP_DIR
        for directory in (self._data_dir, self._alias_dir, self._tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._remove_unfinished_uploads()

    # --- writing ---------------------------------------------------------------------------

    async def write_stream(
        self,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int | None = None,
        expected_hash: str | None = None,
    ) -> StoredFile:
        """Store a stream in constant memory, under both names.

        Raises FileTooLarge as soon as the stream goes past `max_size` bytes, and HashMismatch
        when `expected_hash` (a sha256 hex or a CID) is not the hash of what was received. On
        any failure, cancellation included, the temp file is removed: only a verified upload
        ever gets a name (one cancelled while being named may still land, complete).
        """
        expected = None if expected_hash is None else _HashKey.parse(expected_hash)
        # Created on the loop (a quick metadata operation): a cancellation while awaiting a
        # thread here would leave a temp file nobody removes before the next start.
        upload = _Upload(self._tmp_dir)
        try:
            stored = await _fill(upload, chunks, max_size)
            if expected is not None:
                expected.check(stored)
            await asyncio.to_thread(self._place, upload.path, stored)
        except BaseException:
            upload.discard()
            raise
        return stored

    async def write_bytes(
        self, data: bytes, *, max_size: int | None = None, expected_hash: str | None = None
    ) -> StoredFile:
        """`write_stream` for bytes already in memory (small JSON contents, tests)."""
        return await self.write_stream(
            _batches_of(data), max_size=max_size, expected_hash=expected_hash
        )

    def _place(self, upload_path: Path, stored: StoredFile) -> None:
        """Give a sealed upload its sha256 name, then the links from and to its CID alias.

        Each name is made durable before the next one, which may point at it, is created.
        """
        data_path = self._data_path(stored.sha256)
        alias_path = self._alias_path(stored.cid)
        _ensure_dir(data_path.parent)
        _ensure_dir(alias_path.parent)
        os.replace(upload_path, data_path)
        _fsync_dir(data_path.parent)
        _symlink(self._reverse_link_path(stored.sha256), alias_path)
        _symlink(alias_path, data_path)

    # --- lookups ---------------------------------------------------------------------------

    def path_of(self, item_hash: str) -> Path | None:
        """The file holding these bytes, None when the store does not have them."""
        path = self._data_path_of(item_hash)
        return path if path is not None and path.is_file() else None

    def exists(self, item_hash: str) -> bool:
        return self.path_of(item_hash) is not None

    def size_of(self, item_hash: str) -> int | None:
        path = self._data_path_of(item_hash)
        if path is None:
            return None
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return None

    def sha256_of(self, item_hash: str) -> str | None:
        """The sha256 of the bytes a hash names (itself for a sha256), None when not stored.

        The database keeps a file by the name its STORE message used, CID or sha256; the bytes
        on disk are shared by every name, so deleting them must wait for the last of those."""
        path = self.path_of(item_hash)
        return None if path is None else path.name

    def _data_path_of(self, item_hash: str) -> Path | None:
        """Where the bytes would be; None when a CID has no alias, so no sha256 is known."""
        key = _HashKey.parse(item_hash)
        sha256 = _link_target_name(self._alias_path(key.name)) if key.is_cid else key.name
        return None if sha256 is None else self._data_path(sha256)

    # --- reading ---------------------------------------------------------------------------

    async def read_range(
        self,
        item_hash: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = READ_CHUNK_SIZE,
    ) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of a file; `end` past the file's end means its end.

        An async generator: FileNotFound (and ValueError for a negative `start` or an `end`
        before `start`) come with the first iteration, so check `size_of` before promising a
        response.
        """
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid byte range [{start}, {end})")
        file, size = await asyncio.to_thread(self._open_at, item_hash, start)
        try:
            remaining = max((size if end is None else min(end, size)) - start, 0)
            while remaining > 0:
                data = await asyncio.to_thread(file.read, min(chunk_size, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data
        finally:
            file.close()

    async def read_all(self, item_hash: str) -> bytes:
        """The whole file in memory: for small files only, such as JSON contents."""
        return b"".join([chunk async for chunk in self.read_range(item_hash)])

    def _open_at(self, item_hash: str, start: int) -> tuple[BinaryIO, int]:
        """Open a file positioned at `start`; its size is taken from the opened file itself."""
        path = self.path_of(item_hash)
        if path is None:
            raise FileNotFound(item_hash)
        try:
            file = path.open("rb")
        except FileNotFoundError as error:  # deleted since path_of looked
            raise FileNotFound(item_hash) from error
        file.seek(start)
        return file, os.fstat(file.fileno()).st_size

    # --- deleting --------------------------------------------------------------------------

    def delete(self, item_hash: str) -> bool:
        """Remove a file and its CID alias; False when the store did not have it.

        Links go first and the bytes last, so an interrupted delete never leaves an alias to
        missing bytes.
        """
        data_path = self._data_path_of(item_hash)
        if data_path is None:
            return False
        reverse_link = self._reverse_link_path(data_path.name)
        cid = _link_target_name(reverse_link)
        if cid is not None:
            self._alias_path(cid).unlink(missing_ok=True)
        reverse_link.unlink(missing_ok=True)
        try:
            data_path.unlink()
        except FileNotFoundError:
            return False
        return True

    # --- layout ----------------------------------------------------------------------------

    def _data_path(self, sha256: str) -> Path:
        return self._data_dir / _shard(sha256) / sha256

    def _reverse_link_path(self, sha256: str) -> Path:
        return self._data_dir / _shard(sha256) / f"{sha256}{_REVERSE_LINK_SUFFIX}"

    def _alias_path(self, cid: str) -> Path:
        return self._alias_dir / _shard(cid) / cid

    def _remove_unfinished_uploads(self) -> None:
        """Temp files of a previous run are uploads cut by a crash: nothing can resume them."""
        leftovers = list(self._tmp_dir.iterdir())
        for leftover in leftovers:
            leftover.unlink()
        if leftovers:
            logger.warning("removed %d unfinished upload(s) from %s", len(leftovers), self._tmp_dir)


async def _fill(upload: _Upload, chunks: AsyncIterable[bytes], max_size: int | None) -> StoredFile:
    """Pour a stream into an upload by batches of WRITE_BATCH_SIZE, each hashed and written in a
    worker thread; stop at the first chunk past `max_size`."""
    batch = bytearray()
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if max_size is not None and received > max_size:
            raise FileTooLarge(max_size)
        batch += chunk
        if len(batch) >= WRITE_BATCH_SIZE:
            await asyncio.to_thread(upload.append, batch)
            batch = bytearray()
    await asyncio.to_thread(upload.append, batch)
    return await asyncio.to_thread(upload.seal)


async def _batches_of(data: bytes) -> AsyncIterator[bytes]:
    """Slices of one batch each, so that `_fill` never copies the whole of `data` at once."""
    for offset in range(0, len(data), WRITE_BATCH_SIZE):
        yield data[offset : offset + WRITE_BATCH_SIZE]


def _shard(name: str) -> str:
    return name[-_SHARD_LENGTH:]


def _link_target_name(link: Path) -> str | None:
    """The last component of a symlink's target: the hash it maps to; None without the link."""
    try:
        return PurePath(os.readlink(link)).name
    except FileNotFoundError:
        return None


def _symlink(link: Path, target: Path) -> None:
    """Create a relative symlink, durably; one already there is the same, as names are hashes."""
    with contextlib.suppress(FileExistsError):
        os.symlink(os.path.relpath(target, link.parent), link)
    _fsync_dir(link.parent)


def _ensure_dir(directory: Path) -> None:
    """Create a shard directory, durably: the file about to go in it will be."""
    try:
        directory.mkdir()
    except FileExistsError:
        return
    _fsync_dir(directory.parent)


def _fsync_dir(directory: Path) -> None:
    """Persist the names in a directory (a rename or a new link is not durable without it)."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
