"""CIDs of files, checked against Debian's `ipfs_cid` (kubo's importer with kubo's defaults)."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import tracemalloc
from collections import deque
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alephnet.protocol.cid import (
    CHUNK_SIZE,
    DAG_PB,
    RAW,
    SHA2_256,
    Cid,
    CidBuilder,
    _leaf_link,
    _Link,
    _parent_link,
    ipfs_cid_v0,
    ipfs_cid_v0_of_chunks,
    parse_cid,
)

ORACLE = Path("/usr/bin/ipfs_cid")

EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
EMPTY_V1 = "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
MIB = 1024 * 1024


def pseudo_random(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def oracle_cids(path: Path) -> tuple[str, str]:
    if not ORACLE.exists():
        pytest.fail(
            f"{ORACLE} is missing: run the project's setup, which installs Debian's ipfs-cid "
            "package (apt-get install -y ipfs-cid)"
        )
    result = subprocess.run([str(ORACLE), str(path)], capture_output=True, check=True, text=True)
    answer = json.loads(result.stdout)
    return answer["CIDv0"], answer["CIDv1"]


def assert_matches_oracle(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    expected_v0, expected_v1 = oracle_cids(path)
    assert ipfs_cid_v0(data) == expected_v0
    upgraded = parse_cid(expected_v1)
    assert (upgraded.version, upgraded.codec) == (1, DAG_PB)
    assert upgraded.to_v0_str() == expected_v0
    assert parse_cid(expected_v0).to_v1_str() == expected_v1


# --- kubo compatibility ----------------------------------------------------------------------


@pytest.mark.parametrize(("data", "expected"), [(b"", EMPTY_V0), (b"hello world\n", HELLO_V0)])
def test_known_cids(data: bytes, expected: str) -> None:
    assert ipfs_cid_v0(data) == expected


@pytest.mark.parametrize(
    "size",
    [1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 1_000_000],
    ids=["1", "chunk-1", "chunk", "chunk+1", "1MB"],
)
def test_matches_kubo(size: int, tmp_path: Path) -> None:
    assert_matches_oracle(pseudo_random(size, seed=size), tmp_path / "file")


@pytest.mark.slow
@pytest.mark.parametrize(
    "size",
    [174 * CHUNK_SIZE, 175 * CHUNK_SIZE, 175 * CHUNK_SIZE + 1],
    ids=["174-chunks-one-full-node", "175-chunks-lone-leaf-subtree", "176-chunks-two-levels"],
)
def test_matches_kubo_around_the_second_tree_level(size: int, tmp_path: Path) -> None:
    assert_matches_oracle(pseudo_random(size, seed=size), tmp_path / "file")


@settings(max_examples=15, deadline=None)
@given(size=st.integers(min_value=0, max_value=3 * CHUNK_SIZE + 17), seed=st.integers(0, 2**32))
def test_matches_kubo_on_random_sizes(
    size: int, seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert_matches_oracle(pseudo_random(size, seed), tmp_path_factory.mktemp("cid") / "file")


# --- streaming -------------------------------------------------------------------------------


@pytest.mark.parametrize("piece", [1, 1000, MIB], ids=["1B", "1000B", "1MiB"])
def test_chunking_of_the_input_does_not_matter(piece: int) -> None:
    data = pseudo_random(2 * CHUNK_SIZE + 12_345)
    pieces = (data[start : start + piece] for start in range(0, len(data), piece))
    assert ipfs_cid_v0_of_chunks(pieces) == ipfs_cid_v0(data)


def test_cid_mid_stream_does_not_end_the_stream() -> None:
    data = pseudo_random(3 * CHUNK_SIZE + 5)
    builder = CidBuilder()
    builder.update(data[: CHUNK_SIZE + 7])
    assert builder.cid_v0() == ipfs_cid_v0(data[: CHUNK_SIZE + 7])
    builder.update(data[CHUNK_SIZE + 7 :])
    assert builder.cid_v0() == ipfs_cid_v0(data)
    assert builder.total_size == len(data)


def test_memory_stays_flat_however_long_the_file() -> None:
    """400 leaves span two tree levels; only one chunk buffer and the pending links may stay."""
    piece = pseudo_random(MIB + 1)  # misaligned on purpose, so that the chunk buffer is used
    builder = CidBuilder()
    tracemalloc.start()
    try:
        for _ in range(100):
            builder.update(piece)
        builder.cid_v0()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * CHUNK_SIZE + 200_000


def test_accepts_bytearray_and_memoryview() -> None:
    assert ipfs_cid_v0_of_chunks([bytearray(b"hello "), memoryview(b"world\n")]) == HELLO_V0


def _balanced_reference(leaves: list[_Link], max_links: int) -> _Link:
    """Kubo's layout as its docs describe it, top-down: while chunks remain, the current root
    becomes the first child of a new, deeper root whose other children are filled to full depth.
    """
    queue = deque(leaves)
    root = queue.popleft()
    depth = 0
    while queue:
        depth += 1
        children = [root]
        while len(children) < max_links and queue:
            children.append(_subtree(queue, depth - 1, max_links))
        root = _parent_link(children)
    return root


def _subtree(queue: deque[_Link], depth: int, max_links: int) -> _Link:
    if depth == 0:
        return queue.popleft()
    children: list[_Link] = []
    while len(children) < max_links and queue:
        children.append(_subtree(queue, depth - 1, max_links))
    return _parent_link(children)


@pytest.mark.parametrize("leaf_count", range(1, 45))
def test_deep_trees_follow_the_balanced_layout(leaf_count: int) -> None:
    """Depths 3+ need 7.9 GB with kubo's defaults; a fan-out of 3 reaches depth 4 in 28 chunks."""
    chunk_size, max_links = 4, 3
    data = pseudo_random(leaf_count * chunk_size - 1, seed=leaf_count)
    builder = CidBuilder(chunk_size=chunk_size, max_links=max_links)
    builder.update(data)
    leaves = [_leaf_link(data[i : i + chunk_size]) for i in range(0, len(data), chunk_size)]
    expected = _balanced_reference(leaves, max_links)
    assert parse_cid(builder.cid_v0()).multihash == expected.multihash


@pytest.mark.parametrize(("chunk_size", "max_links"), [(0, 174), (262144, 1)])
def test_rejects_degenerate_tree_parameters(chunk_size: int, max_links: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        CidBuilder(chunk_size=chunk_size, max_links=max_links)


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("v0", "v1"), [(EMPTY_V0, EMPTY_V1), (HELLO_V0, HELLO_V1)])
def test_v0_v1_round_trip(v0: str, v1: str) -> None:
    cid = parse_cid(v0)
    assert (cid.version, cid.codec, cid.hash_code, len(cid.digest)) == (0, DAG_PB, SHA2_256, 32)
    assert cid.to_v1_str() == v1
    upgraded = parse_cid(v1)
    assert (upgraded.version, upgraded.codec, upgraded.multihash) == (1, DAG_PB, cid.multihash)
    assert upgraded.to_v0_str() == v0
    assert str(cid) == v0
    assert str(upgraded) == v1


def test_raw_cidv1_has_no_v0_form() -> None:
    cid = Cid(version=1, codec=RAW, multihash=parse_cid(HELLO_V0).multihash)
    text = cid.to_v1_str()
    assert text.startswith("bafk")
    assert parse_cid(text) == cid
    with pytest.raises(ValueError, match="only dag-pb sha2-256"):
        cid.to_v0_str()


@settings(max_examples=50)
@given(
    codec=st.sampled_from([DAG_PB, RAW, 0x71, 0x0129]),
    hash_code=st.sampled_from([SHA2_256, 0x13, 0xB220]),
    digest=st.binary(min_size=0, max_size=64),
)
def test_any_cidv1_round_trips(codec: int, hash_code: int, digest: bytes) -> None:
    multihash = _uvarint(hash_code) + _uvarint(len(digest)) + digest
    cid = Cid(version=1, codec=codec, multihash=multihash)
    assert parse_cid(cid.to_v1_str()) == cid
    assert (cid.hash_code, cid.digest) == (hash_code, digest)


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a CID"),
        ("hello", "not a CID"),
        (HELLO_V0[:-1], "not a CID"),
        ("Qm" + "0" * 44, "base58"),
        ("Qm" + "1" * 44, "multihash announces a 30-byte digest"),
        ("zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7", "not a CID"),
        ("B" + HELLO_V1[1:].upper(), "not a CID"),
        ("bAFY" + HELLO_V1[4:], "lowercase"),
        (HELLO_V1[:-8], "multihash announces a 32-byte digest"),
        (HELLO_V1[:-1], "base32"),
        ("bafy!!!", "base32"),
        ("b", "truncated CID version"),
    ],
)
def test_rejects_bad_cid_strings(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cid(text)


@pytest.mark.parametrize(
    ("binary", "message"),
    [
        (b"\x00\x70\x12\x20" + bytes(32), "must be version 1"),
        (b"\x02\x70\x12\x20" + bytes(32), "must be version 1"),
        (b"\x01\xf0\x00\x12\x20" + bytes(32), "not minimally encoded"),
        (b"\x01" + b"\xff" * 10, "longer than 9 bytes"),
        (b"\x01\x70\x12", "truncated multihash digest length"),
    ],
)
def test_rejects_malformed_binary_cids(binary: bytes, message: str) -> None:
    text = "b" + base64.b32encode(binary).decode("ascii").lower().rstrip("=")
    with pytest.raises(ValueError, match=message):
        parse_cid(text)


def test_cidv0_must_be_dag_pb_sha256() -> None:
    with pytest.raises(ValueError, match="CIDv0 is always dag-pb"):
        Cid(version=0, codec=RAW, multihash=parse_cid(HELLO_V0).multihash)
