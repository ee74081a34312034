"""Uploads (STORE), downloads (verified, resumable) and programs against an in-process node."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import httpx
import pytest

from alephnet.protocol import MessageStatus, validate_message
from alephnet.protocol.cid import ipfs_cid_v0
from alephnet.sdk import (
    AlephClient,
    AuthenticatedAlephClient,
    FunctionTransport,
    HashMismatch,
)

DATA = bytes(range(256)) * 4096  # 1 MiB: several chunks, several CID leaves


class OneWayStream(io.RawIOBase):
    """A stream that cannot seek, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._source.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


async def test_store_bytes_and_download_them(writer: AuthenticatedAlephClient) -> None:
    progress: list[tuple[int, int]] = []
    published = await writer.create_store(DATA, progress=lambda *sent: progress.append(sent))
    assert published.status == MessageStatus.PROCESSED
    file_hash = hashlib.sha256(DATA).hexdigest()
    assert published.message["item_content"] is not None
    assert progress[-1] == (len(DATA), len(DATA))
    assert await writer.download_file(file_hash) == DATA


async def test_store_a_path_and_a_one_way_stream(
    writer: AuthenticatedAlephClient, tmp_path: Path
) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"from a path")
    assert (await writer.create_store(path)).status == MessageStatus.PROCESSED
    published = await writer.create_store(OneWayStream(b"from a pipe"), ref="doc")  # type: ignore[arg-type]
    info = await writer.get_message(published.item_hash)
    assert info.message is not None
    assert info.message.content["ref"] == "doc"


async def test_ipfs_engine_names_the_file_by_its_cid(writer: AuthenticatedAlephClient) -> None:
    published = await writer.create_store(DATA, storage_engine="ipfs")
    info = await writer.get_message(published.item_hash)
    assert info.message is not None
    cid = info.message.content["item_hash"]
    assert cid == ipfs_cid_v0(DATA)
    assert await writer.download_file(cid) == DATA


async def test_download_to_a_path_and_to_a_stream(
    writer: AuthenticatedAlephClient, tmp_path: Path
) -> None:
    await writer.create_store(DATA)
    file_hash = hashlib.sha256(DATA).hexdigest()
    downloaded = await writer.download_file(file_hash, tmp_path / "out.bin")
    assert downloaded.path.read_bytes() == DATA
    assert downloaded.resumed_from == 0
    sink = io.BytesIO()
    assert await writer.download_file(file_hash, sink) == len(DATA)
    assert sink.getvalue() == DATA


async def test_a_partial_download_is_resumed_with_a_range(
    writer: AuthenticatedAlephClient, tmp_path: Path
) -> None:
    await writer.create_store(DATA)
    target = tmp_path / "out.bin"
    (tmp_path / "out.bin.part").write_bytes(DATA[:300_000])
    downloaded = await writer.download_file(hashlib.sha256(DATA).hexdigest(), target)
    assert downloaded.resumed_from == 300_000
    assert target.read_bytes() == DATA
    assert not (tmp_path / "out.bin.part").exists()


async def test_a_complete_partial_file_is_just_verified(
    writer: AuthenticatedAlephClient, tmp_path: Path
) -> None:
    await writer.create_store(DATA)
    (tmp_path / "out.bin.part").write_bytes(DATA)
    downloaded = await writer.download_file(hashlib.sha256(DATA).hexdigest(), tmp_path / "out.bin")
    assert downloaded.size == len(DATA)


async def test_wrong_bytes_raise_and_leave_no_file(tmp_path: Path) -> None:
    transport = FunctionTransport(lambda _request: httpx.Response(200, content=b"evil"))
    async with AlephClient(transport=transport) as client:
        with pytest.raises(HashMismatch):
            await client.download_file("c" * 64, tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []


async def test_a_program_from_a_folder(writer: AuthenticatedAlephClient, tmp_path: Path) -> None:
    runtime = await writer.create_store(b"a runtime image")
    code = tmp_path / "app"
    code.mkdir()
    (code / "main.py").write_text("async def app(scope, receive, send): ...\n")
    published = await writer.create_program(
        code, "main:app", runtime=runtime.item_hash, env={"MODE": "test"}, memory=512
    )
    assert published.status == MessageStatus.PROCESSED
    message = validate_message(published.message)
    assert message.item_hash == published.item_hash
    program = (await writer.get_message(published.item_hash)).message
    assert program is not None
    content = program.content
    assert content["code"]["ref"] == published.code.item_hash
    assert content["resources"] == {"vcpus": 1, "memory": 512, "seconds": 30}
    assert content["variables"] == {"MODE": "test"}
    assert content["volumes"] == []
    store = (await writer.get_message(published.code.item_hash)).message
    assert store is not None
    archive = zipfile.ZipFile(io.BytesIO(await writer.download_file(store.content["item_hash"])))
    assert archive.namelist() == ["main.py"]
