"""The local content-addressed file store: names, atomic streaming writes, reads, deletes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from alephnet.ccn.storage import (
    FileNotFound,
    FileStore,
    FileTooLarge,
    HashMismatch,
    InvalidHash,
    StoredFile,
    parse_range_header,
)
from alephnet.protocol.cid import ipfs_cid_v0

HELLO = b"hello world\n"
HELLO_SHA256 = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
HELLO_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_CID_V1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_CID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
ABSENT_SHA256 = "0" * 64
MIB = 1024 * 1024
ORACLE = Path("/usr/bin/ipfs_cid")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> FileStore:
    return FileStore(root)


async def stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


def split(data: bytes, size: int) -> list[bytes]:
    return [data[offset : offset + size] for offset in range(0, len(data), size)]


def entries(root: Path) -> list[str]:
    """Every file and link under the store (dangling links included), directories aside."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir())


def oracle_cid_v0(path: Path) -> str:
    if not ORACLE.exists():
        pytest.fail(f"{ORACLE} is missing: run the project's setup (apt-get install ipfs-cid)")
    answer = subprocess.run([str(ORACLE), str(path)], capture_output=True, check=True, text=True)
    cid: str = json.loads(answer.stdout)["CIDv0"]
    return cid


# --- names -------------------------------------------------------------------------------------


async def test_round_trip_under_both_names(store: FileStore) -> None:
    stored = await store.write_bytes(HELLO)

    assert stored == StoredFile(sha256=HELLO_SHA256, cid=HELLO_CID, size=len(HELLO))
    for name in (HELLO_SHA256, HELLO_CID, HELLO_CID_V1):
        assert await store.read_all(name) == HELLO
        assert store.path_of(name) == store.path_of(HELLO_SHA256)
        assert store.exists(name)
        assert store.size_of(name) == len(HELLO)


async def test_empty_file(store: FileStore) -> None:
    stored = await store.write_stream(stream([]))

    assert stored == StoredFile(sha256=EMPTY_SHA256, cid=EMPTY_CID, size=0)
    assert await store.read_all(EMPTY_CID) == b""
    assert store.size_of(EMPTY_SHA256) == 0


async def test_unaligned_stream_gets_the_cid_of_its_bytes(store: FileStore) -> None:
    data = random.Random(1).randbytes(3 * MIB + 12_345)

    stored = await store.write_stream(stream(split(data, 100_003)))

    assert stored == StoredFile(hashlib.sha256(data).hexdigest(), ipfs_cid_v0(data), len(data))
    assert await store.read_all(stored.cid) == data


async def test_absent_file(store: FileStore) -> None:
    assert store.path_of(ABSENT_SHA256) is None
    assert store.path_of(HELLO_CID) is None
    assert not store.exists(HELLO_CID)
    assert store.size_of(ABSENT_SHA256) is None
    with pytest.raises(FileNotFound):
        await store.read_all(ABSENT_SHA256)
    with pytest.raises(FileNotFound):
        await anext(store.read_range(HELLO_CID))


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "", HELLO_SHA256.upper(), HELLO_CID + "/x", "sha256/ab"]
)
def test_strings_that_are_not_hashes_are_refused(store: FileStore, name: str) -> None:
    with pytest.raises(InvalidHash):
        store.path_of(name)
    with pytest.raises(ValueError, match="not a sha256"):
        store.delete(name)


async def test_moved_store_still_resolves_cids(root: Path, tmp_path: Path) -> None:
    await FileStore(root).write_bytes(HELLO)
    moved = root.rename(tmp_path / "elsewhere")

    assert await FileStore(moved).read_all(HELLO_CID) == HELLO


# --- limits and checks -------------------------------------------------------------------------


async def test_too_large_stops_the_stream_and_keeps_nothing(store: FileStore, root: Path) -> None:
    consumed = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(100):
            consumed += 1
            yield b"x" * 1000

    with pytest.raises(FileTooLarge) as caught:
        await store.write_stream(counted(), max_size=2500)

    assert caught.value.limit == 2500
    assert consumed == 3
    assert entries(root) == []


async def test_file_of_exactly_max_size_is_accepted(store: FileStore) -> None:
    stored = await store.write_bytes(HELLO, max_size=len(HELLO))
    assert stored.size == len(HELLO)


@pytest.mark.parametrize("expected", [HELLO_SHA256, HELLO_CID, HELLO_CID_V1])
async def test_expected_hash_of_either_kind_is_accepted(store: FileStore, expected: str) -> None:
    assert (await store.write_bytes(HELLO, expected_hash=expected)).sha256 == HELLO_SHA256


@pytest.mark.parametrize(
    ("expected", "actual"), [(EMPTY_SHA256, HELLO_SHA256), (EMPTY_CID, HELLO_CID)]
)
async def test_hash_mismatch_keeps_nothing(
    store: FileStore, root: Path, expected: str, actual: str
) -> None:
    with pytest.raises(HashMismatch) as caught:
        await store.write_bytes(HELLO, expected_hash=expected)

    assert (caught.value.expected, caught.value.actual) == (expected, actual)
    assert entries(root) == []


async def test_invalid_expected_hash_is_refused_before_reading(store: FileStore) -> None:
    async def unread() -> AsyncIterator[bytes]:
        pytest.fail("the stream was read")
        yield b""

    with pytest.raises(InvalidHash):
        await store.write_stream(unread(), expected_hash="not a hash")


async def test_failing_stream_keeps_nothing(store: FileStore, root: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (2 * MIB)
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await store.write_stream(broken())

    assert entries(root) == []


async def test_cancelled_write_keeps_nothing(store: FileStore, root: Path) -> None:
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"x" * (2 * MIB)
        started.set()
        await asyncio.Event().wait()
        yield b""

    task = asyncio.create_task(store.write_stream(stalled()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert entries(root) == []


# --- streaming and concurrency ------------------------------------------------------------------


async def test_64_mib_stream_is_written_in_bounded_memory(store: FileStore) -> None:
    block = random.Random(2).randbytes(64 * 1024)
    count = 64 * MIB // len(block)
    expected_sha256 = hashlib.sha256(block * count).hexdigest()

    tracemalloc.start()
    try:
        stored = await store.write_stream(stream([block] * count))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * MIB
    assert stored.size == 64 * MIB
    assert stored.sha256 == expected_sha256
    path = store.path_of(stored.sha256)
    assert path is not None
    assert oracle_cid_v0(path) == stored.cid


async def test_concurrent_writes_of_the_same_content(store: FileStore, root: Path) -> None:
    data = random.Random(3).randbytes(3 * MIB)

    first, second = await asyncio.gather(
        store.write_stream(stream(split(data, 65_536))),
        store.write_stream(stream(split(data, 99_999))),
    )

    assert first == second
    assert await store.read_all(first.cid) == data
    assert len(entries(root)) == 3  # the bytes, the alias, the reverse link; no temp file


# --- reading ranges ----------------------------------------------------------------------------

DATA = bytes(range(256)) * 40


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, len(DATA)),
        (100, 200),
        (999, 3001),
        (len(DATA) - 1, None),
        (len(DATA), None),
        (500, 10 * len(DATA)),
        (7, 7),
    ],
)
async def test_read_range_streams_the_slice(store: FileStore, start: int, end: int | None) -> None:
    stored = await store.write_bytes(DATA)

    chunks = [chunk async for chunk in store.read_range(stored.cid, start, end, chunk_size=1000)]

    assert b"".join(chunks) == DATA[start:end]
    assert all(0 < len(chunk) <= 1000 for chunk in chunks)


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 5)])
async def test_read_range_refuses_inverted_bounds(
    store: FileStore, start: int, end: int | None
) -> None:
    stored = await store.write_bytes(DATA)
    with pytest.raises(ValueError, match="invalid byte range"):
        await anext(store.read_range(stored.sha256, start, end))


async def test_range_header_and_read_range_together(store: FileStore) -> None:
    stored = await store.write_bytes(DATA)
    span = parse_range_header("bytes=-100", stored.size)
    assert span is not None

    body = b"".join([chunk async for chunk in store.read_range(stored.sha256, *span)])

    assert body == DATA[-100:]


# --- start-up and deletion ---------------------------------------------------------------------


async def test_unfinished_uploads_are_removed_at_start(root: Path) -> None:
    stored = await FileStore(root).write_bytes(HELLO)
    (root / "tmp" / "tmpabc.part").write_bytes(b"half an upload")

    reopened = FileStore(root)

    assert list((root / "tmp").iterdir()) == []
    assert await reopened.read_all(stored.cid) == HELLO


@pytest.mark.parametrize("name", [HELLO_SHA256, HELLO_CID, HELLO_CID_V1])
async def test_delete_removes_the_bytes_and_both_names(
    store: FileStore, root: Path, name: str
) -> None:
    await store.write_bytes(HELLO)
    await store.write_bytes(DATA)

    assert store.delete(name)

    assert not store.exists(HELLO_SHA256)
    assert not store.exists(HELLO_CID)
    assert not store.delete(name)
    assert len(entries(root)) == 3  # DATA's bytes and links only
    assert (await store.write_bytes(HELLO)).cid == HELLO_CID
    assert await store.read_all(HELLO_CID) == HELLO
