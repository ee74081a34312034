"""IPFS content identifiers: the CID kubo's default `ipfs add` gives a file, and CID parsing.

Aleph STORE messages with `item_type: ipfs` carry such a CID as their `item_hash`, so a node must
be able to recompute it from the bytes to check a file without asking an IPFS daemon. The CID is
the hash of the root of a Merkle DAG, not of the file, so matching kubo means building the exact
same DAG, byte for byte:

- the file is cut into 262144-byte chunks (kubo's default `size-262144` chunker);
- each chunk becomes a dag-pb leaf whose Data is a UnixFS `File` message holding the bytes (kubo's
  default for CIDv0; `--raw-leaves` would give other CIDs);
- leaves are gathered by a balanced layout: a node has at most 174 children, all leaves sit at the
  same depth, and the tree grows a level only when the current one is full;
- a file of one chunk is its leaf; an empty file is a leaf without a UnixFS Data field at all.

The DAG is built bottom-up while the bytes stream in. Each tree level keeps only its pending
links and a level is folded into a parent node once it is full and another child arrives, so
memory is one chunk plus at most 174 links per level, whatever the file size.

The protobuf encodings (dag-pb PBNode/PBLink, UnixFS Data) are written by hand: only a handful
of fields are ever set, and their order is part of the hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import base58

CHUNK_SIZE = 262_144
"""Kubo's default chunker, `size-262144`."""

MAX_LINKS = 174
"""Kubo's default number of links per node (`DefaultLinksPerBlock` of its DAG builder)."""

DAG_PB = 0x70
RAW = 0x55
SHA2_256 = 0x12
_SHA2_256_LENGTH = 32

_WIRE_VARINT = 0
_WIRE_BYTES = 2
_UNIXFS_FILE = 2

_PB_NODE_LINKS = 2
_PB_NODE_DATA = 1
_PB_LINK_HASH = 1
_PB_LINK_NAME = 2
_PB_LINK_TSIZE = 3
_UNIXFS_TYPE = 1
_UNIXFS_DATA = 2
_UNIXFS_FILESIZE = 3
_UNIXFS_BLOCKSIZES = 4

_MAX_VARINT_BYTES = 9
"""The multiformats unsigned-varint cap (63 bits); protobuf varints here never come near it."""

_CIDV0_LENGTH = 46
_CIDV0_PREFIX = "Qm"
_BASE32_PREFIX = "b"

BytesLike = bytes | bytearray | memoryview


# --- encoding -------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_field(field_number: int, value: int) -> bytes:
    return _varint(field_number << 3 | _WIRE_VARINT) + _varint(value)


def _bytes_header(field_number: int, length: int) -> bytes:
    """Tag and length of a length-delimited field, so a large payload can be hashed in place."""
    return _varint(field_number << 3 | _WIRE_BYTES) + _varint(length)


def _bytes_field(field_number: int, payload: bytes) -> bytes:
    return _bytes_header(field_number, len(payload)) + payload


def _sha256_multihash(digest: bytes) -> bytes:
    return _varint(SHA2_256) + _varint(len(digest)) + digest


# --- DAG nodes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Link:
    """What a parent needs from a child: its hash, and the two sizes dag-pb and UnixFS record."""

    multihash: bytes
    tsize: int
    """Serialized size of the child's whole subtree (dag-pb `Tsize`)."""
    filesize: int
    """File bytes under the child (an entry of the parent's UnixFS `blocksizes`)."""


def _leaf_link(chunk: BytesLike) -> _Link:
    """Hash a leaf without copying the chunk into its encoding: the chunk is most of the block."""
    size = len(chunk)
    unixfs_head = _varint_field(_UNIXFS_TYPE, _UNIXFS_FILE) + _bytes_header(_UNIXFS_DATA, size)
    unixfs_tail = _varint_field(_UNIXFS_FILESIZE, size)
    block_head = _bytes_header(_PB_NODE_DATA, len(unixfs_head) + size + len(unixfs_tail))
    hasher = hashlib.sha256(block_head)
    hasher.update(unixfs_head)
    hasher.update(chunk)
    hasher.update(unixfs_tail)
    block_size = len(block_head) + len(unixfs_head) + size + len(unixfs_tail)
    return _Link(_sha256_multihash(hasher.digest()), block_size, size)


def _empty_file_link() -> _Link:
    """Kubo builds the empty file from no chunk at all, so its UnixFS message has no Data field."""
    unixfs = _varint_field(_UNIXFS_TYPE, _UNIXFS_FILE) + _varint_field(_UNIXFS_FILESIZE, 0)
    return _node_link(_bytes_field(_PB_NODE_DATA, unixfs), tsize_below=0, filesize=0)


def _parent_link(children: list[_Link]) -> _Link:
    """An internal node: links first (dag-pb canonical order), then a UnixFS `File` without data.

    Kubo writes the empty link name explicitly, so every PBLink carries `Name = ""`.
    """
    filesize = sum(child.filesize for child in children)
    unixfs = b"".join(
        [
            _varint_field(_UNIXFS_TYPE, _UNIXFS_FILE),
            _varint_field(_UNIXFS_FILESIZE, filesize),
            *(_varint_field(_UNIXFS_BLOCKSIZES, child.filesize) for child in children),
        ]
    )
    links = (
        _bytes_field(
            _PB_NODE_LINKS,
            _bytes_field(_PB_LINK_HASH, child.multihash)
            + _bytes_field(_PB_LINK_NAME, b"")
            + _varint_field(_PB_LINK_TSIZE, child.tsize),
        )
        for child in children
    )
    block = b"".join([*links, _bytes_field(_PB_NODE_DATA, unixfs)])
    return _node_link(block, sum(child.tsize for child in children), filesize)


def _node_link(block: bytes, tsize_below: int, filesize: int) -> _Link:
    digest = hashlib.sha256(block).digest()
    return _Link(_sha256_multihash(digest), len(block) + tsize_below, filesize)


# --- balanced layout -------------------------------------------------------------------------


def _push(levels: list[list[_Link]], level: int, link: _Link, max_links: int) -> None:
    """Add a node at `level` (0 = leaves), folding that level into a parent first if it is full.

    Folding only when a further sibling arrives (never as soon as a level fills) is what keeps a
    file of exactly `max_links ** k` chunks under a single root, as kubo's layout does.
    """
    if level == len(levels):
        levels.append([])
    if len(levels[level]) == max_links:
        _push(levels, level + 1, _parent_link(levels[level]), max_links)
        levels[level] = []
    levels[level].append(link)


def _root(levels: list[list[_Link]], max_links: int) -> _Link:
    """Close every level bottom-up; a lone partial child still gets its own parent at each level.

    Kubo's layout fills the rightmost subtree of each depth to the full depth, so the last chunk
    sits as deep as the first even when its parents have a single child.
    """
    level = 0
    while level < len(levels) - 1:
        _push(levels, level + 1, _parent_link(levels[level]), max_links)
        level += 1
    top = levels[-1]
    return top[0] if len(top) == 1 else _parent_link(top)


class CidBuilder:
    """Streaming computation of the CIDv0 `ipfs add` (kubo defaults) gives a file.

    Feed the file with `update` in chunks of any size; `cid_v0` may be called at any point and
    does not end the stream.
    """

    def __init__(self, *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> None:
        """`chunk_size`/`max_links` match kubo's `--chunker=size-N` and a builder's link cap."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if max_links < 2:
            raise ValueError(f"max_links must be at least 2, got {max_links}")
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._buffer = bytearray()
        self._levels: list[list[_Link]] = []
        self._total_size = 0

    @property
    def total_size(self) -> int:
        """Bytes fed so far."""
        return self._total_size

    def update(self, data: BytesLike) -> None:
        view = memoryview(data).cast("B")
        self._total_size += len(view)
        if self._buffer:
            missing = self._chunk_size - len(self._buffer)
            self._buffer += view[:missing]
            view = view[missing:]
            if len(self._buffer) < self._chunk_size:
                return
            self._add_leaf(self._buffer)
            self._buffer = bytearray()
        # Whole chunks straight from the caller's buffer: no copy for large, aligned writes.
        while len(view) >= self._chunk_size:
            self._add_leaf(view[: self._chunk_size])
            view = view[self._chunk_size :]
        self._buffer += view

    def cid_v0(self) -> str:
        return base58.b58encode(self._root_link().multihash).decode("ascii")

    def _add_leaf(self, chunk: BytesLike) -> None:
        _push(self._levels, 0, _leaf_link(chunk), self._max_links)

    def _root_link(self) -> _Link:
        """Close the tree on a copy of the pending links, so that the stream can go on."""
        levels = [list(level) for level in self._levels]
        if self._buffer:
            _push(levels, 0, _leaf_link(self._buffer), self._max_links)
        if not levels:
            return _empty_file_link()
        return _root(levels, self._max_links)


def ipfs_cid_v0(data: BytesLike) -> str:
    builder = CidBuilder()
    builder.update(data)
    return builder.cid_v0()


def ipfs_cid_v0_of_chunks(chunks: Iterable[BytesLike]) -> str:
    builder = CidBuilder()
    for chunk in chunks:
        builder.update(chunk)
    return builder.cid_v0()


# --- parsing ---------------------------------------------------------------------------------


def _read_varint(data: bytes, offset: int, what: str) -> tuple[int, int]:
    """Decode a minimal unsigned varint at `offset`; return it and the offset after it."""
    value = 0
    for index in range(_MAX_VARINT_BYTES):
        if offset + index >= len(data):
            raise ValueError(f"truncated {what}")
        byte = data[offset + index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            if byte == 0 and index > 0:
                raise ValueError(f"{what} is not minimally encoded")
            return value, offset + index + 1
    raise ValueError(f"{what} is longer than {_MAX_VARINT_BYTES} bytes")


def _split_multihash(multihash: bytes) -> tuple[int, bytes]:
    code, offset = _read_varint(multihash, 0, "multihash function code")
    length, offset = _read_varint(multihash, offset, "multihash digest length")
    digest = multihash[offset:]
    if len(digest) != length:
        raise ValueError(
            f"multihash announces a {length}-byte digest but holds {len(digest)} bytes"
        )
    return code, digest


@dataclass(frozen=True, slots=True)
class Cid:
    """A parsed CID. `codec` is the multicodec of the content (0x70 dag-pb, 0x55 raw, ...)."""

    version: int
    codec: int
    multihash: bytes

    def __post_init__(self) -> None:
        hash_code, digest = _split_multihash(self.multihash)
        if self.version not in (0, 1):
            raise ValueError(f"unsupported CID version {self.version}")
        if self.version == 0 and not _is_v0_compatible(self.codec, hash_code, digest):
            raise ValueError("a CIDv0 is always dag-pb with a sha2-256 multihash")

    @property
    def hash_code(self) -> int:
        return _split_multihash(self.multihash)[0]

    @property
    def digest(self) -> bytes:
        return _split_multihash(self.multihash)[1]

    def to_v1_str(self) -> str:
        binary = _varint(1) + _varint(self.codec) + self.multihash
        return _BASE32_PREFIX + base64.b32encode(binary).decode("ascii").lower().rstrip("=")

    def to_v0_str(self) -> str:
        if not _is_v0_compatible(self.codec, self.hash_code, self.digest):
            raise ValueError(
                f"only dag-pb sha2-256 CIDs have a v0 form (codec {self.codec:#x}, "
                f"hash {self.hash_code:#x})"
            )
        return base58.b58encode(self.multihash).decode("ascii")

    def __str__(self) -> str:
        return self.to_v0_str() if self.version == 0 else self.to_v1_str()


def _is_v0_compatible(codec: int, hash_code: int, digest: bytes) -> bool:
    return codec == DAG_PB and hash_code == SHA2_256 and len(digest) == _SHA2_256_LENGTH


def parse_cid(text: str) -> Cid:
    """Parse a CIDv0 (`Qm…`) or a base32 CIDv1 (`b…`, e.g. `bafy…`, `bafk…`)."""
    if len(text) == _CIDV0_LENGTH and text.startswith(_CIDV0_PREFIX):
        return _parse_v0(text)
    if text.startswith(_BASE32_PREFIX):
        return _parse_v1(_decode_base32(text[len(_BASE32_PREFIX) :]))
    raise ValueError(
        f"not a CID: {text!r} (expected a 46-character CIDv0 starting with 'Qm' or a base32 "
        "CIDv1 starting with 'b')"
    )


def _parse_v0(text: str) -> Cid:
    try:
        multihash = base58.b58decode(text)
    except ValueError as error:
        raise ValueError(f"CIDv0 {text!r} is not valid base58btc") from error
    return Cid(version=0, codec=DAG_PB, multihash=multihash)


def _decode_base32(encoded: str) -> bytes:
    """Multibase `b`: RFC 4648 base32, lowercase, no padding."""
    if encoded != encoded.lower():
        raise ValueError("base32 CIDs are lowercase")
    try:
        return base64.b32decode(encoded.upper() + "=" * (-len(encoded) % 8))
    except binascii.Error as error:
        raise ValueError(f"CIDv1 is not valid base32: {error}") from error


def _parse_v1(binary: bytes) -> Cid:
    version, offset = _read_varint(binary, 0, "CID version")
    if version != 1:
        raise ValueError(f"a multibase CID must be version 1, got version {version}")
    codec, offset = _read_varint(binary, offset, "CID codec")
    return Cid(version=1, codec=codec, multihash=binary[offset:])
