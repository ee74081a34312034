"""Reads beyond messages: files' metadata and owners, aggregates of everyone, authorizations,
download progress; and INSTANCE messages, against an in-process node."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from alephnet.protocol import MessageStatus, validate_message
from alephnet.sdk import AuthenticatedAlephClient, InvalidContent, NotFound, generate_account

DATA = bytes(range(256)) * 4096  # 1 MiB: the download arrives in several chunks
FILE_HASH = hashlib.sha256(DATA).hexdigest()


async def test_file_metadata_stored_content_and_an_address_files(
    writer: AuthenticatedAlephClient,
) -> None:
    store = await writer.create_store(DATA, metadata={"name": "data.bin"})
    metadata = await writer.get_file_metadata(FILE_HASH)
    assert (metadata.file_hash, metadata.size) == (FILE_HASH, len(DATA))
    stored = await writer.get_stored_content(store.item_hash)
    assert (stored.file_hash, stored.filename, stored.engine) == (FILE_HASH, "data.bin", "storage")
    assert stored.url.endswith(f"/api/v0/storage/raw/{FILE_HASH}")
    files = await writer.get_address_files(writer.address)
    assert [(file.file_hash, file.item_hash) for file in files.files] == [
        (FILE_HASH, store.item_hash)
    ]
    assert files.total_size == len(DATA)
    with pytest.raises(NotFound):
        await writer.get_file_metadata("e" * 64)


async def test_download_progress_counts_from_the_start_of_the_file(
    writer: AuthenticatedAlephClient, tmp_path: Path
) -> None:
    await writer.create_store(DATA)
    seen: list[tuple[int, int | None]] = []
    assert await writer.download_file(FILE_HASH, progress=lambda *p: seen.append(p)) == DATA
    assert seen[-1] == (len(DATA), len(DATA))
    assert [received for received, _ in seen] == sorted(received for received, _ in seen)
    (tmp_path / "out.bin.part").write_bytes(DATA[:300_000])
    seen.clear()
    resumed = await writer.download_file(
        FILE_HASH, tmp_path / "out.bin", progress=lambda *p: seen.append(p)
    )
    assert resumed.resumed_from == 300_000
    assert seen[0][0] > 300_000
    assert seen[-1] == (len(DATA), len(DATA))


async def test_list_aggregates_of_everyone(writer: AuthenticatedAlephClient) -> None:
    await writer.create_aggregate("profile", {"name": "me"})
    await writer.create_aggregate("settings", {"theme": "dark"})
    page = await writer.list_aggregates(addresses=[writer.address])
    assert {(record.key, record.address) for record in page.aggregates} == {
        ("profile", writer.address),
        ("settings", writer.address),
    }
    only = await writer.list_aggregates(keys=["settings"])
    assert [record.content for record in only.aggregates] == [{"theme": "dark"}]


async def test_authorizations_are_typed(writer: AuthenticatedAlephClient) -> None:
    assert await writer.get_authorizations(writer.address) == []
    delegate = generate_account().address
    await writer.grant(delegate, types=["POST"], channels=["TEST"])
    [granted] = await writer.get_authorizations(writer.address)
    assert (granted.address, granted.types, granted.channels) == (delegate, ["POST"], ["TEST"])


async def test_an_instance_on_a_stored_image(writer: AuthenticatedAlephClient) -> None:
    image = await writer.create_store(b"a root filesystem image")
    published = await writer.create_instance(
        image.item_hash, rootfs_size=2048, memory=1024, vcpus=2, ssh_keys=["ssh-ed25519 AAAA k"]
    )
    assert published.status == MessageStatus.PROCESSED
    assert validate_message(published.message).item_hash == published.item_hash
    instance = (await writer.get_message(published.item_hash)).message
    assert instance is not None
    content = instance.content
    assert content["rootfs"] == {
        "parent": {"ref": image.item_hash, "use_latest": True},
        "persistence": "host",
        "size_mib": 2048,
    }
    assert content["resources"] == {"vcpus": 2, "memory": 1024, "seconds": 30}
    assert content["authorized_keys"] == ["ssh-ed25519 AAAA k"]
    assert content["environment"]["hypervisor"] == "qemu"
    assert content["payment"] == {"chain": "ETH", "type": "hold"}


async def test_a_bad_instance_is_refused_before_sending(writer: AuthenticatedAlephClient) -> None:
    with pytest.raises(InvalidContent, match="rootfs"):
        await writer.create_instance("not a hash")


async def test_push_a_file_and_a_document_without_a_message(
    writer: AuthenticatedAlephClient,
) -> None:
    sent: list[int] = []
    file_hash = await writer.push_file(DATA, progress=lambda done, _total: sent.append(done))
    assert file_hash == FILE_HASH
    assert sent[-1] == len(DATA)
    assert await writer.download_file(file_hash) == DATA
    cid = await writer.push_file(b"to ipfs", storage_engine="ipfs")
    assert cid.startswith("Qm")
    assert await writer.download_file(cid) == b"to ipfs"
    document_hash = await writer.push_json({"a": [1, 2]})
    assert await writer.download_file(document_hash) == b'{"a":[1,2]}'


async def test_address_stats_count_messages_per_address(writer: AuthenticatedAlephClient) -> None:
    await writer.create_post({"n": 1}, "note")
    await writer.create_aggregate("profile", {"n": 1})
    stats = await writer.get_address_stats(address_contains=writer.address[2:10].lower())
    assert stats.data[writer.address]["messages"] == 2
    assert stats.total == 1
