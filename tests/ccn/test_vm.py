"""PROGRAM and INSTANCE: volume dependencies, disk sizes, replacements and forgetting.

The files a VM mounts are put in the database directly (a `files` row, the pin of the STORE
message that holds it, the tag its `use_latest` readers follow), so that these tests judge the
VM handler alone; the STORE handler's own tests cover how real STORE messages make those rows.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from alephnet.ccn.db.accessors.files import add_message_pin, insert_file
from alephnet.ccn.db.accessors.messages import get_message
from alephnet.ccn.db.accessors.vms import get_vm
from alephnet.ccn.db.engine import SessionFactory, create_engine, create_session_factory
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.models import FileTagRow
from alephnet.ccn.handlers.vm import VmHandler
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import BuiltMessage, EvmSigner, MessageType, build_message, parse_message
from alephnet.protocol.content import InstanceContent, ProgramContent
from alephnet.protocol.errors import (
    ErrorCode,
    PermissionDenied,
    VmRefNotFound,
    VmVolumeNotFound,
    VmVolumeTooSmall,
)
from tests.ccn.conftest import publish, wait_for_status
from tests.conftest import load_vector

MIB = 1 << 20
CODE, RUNTIME, DATA, ROOTFS = (hashlib.sha256(name.encode()).hexdigest() for name in "CRDI")


@pytest.fixture
async def sessions(settings: CcnSettings) -> AsyncIterator[SessionFactory]:
    """A second connection to the node's database, to put files in place and read the result."""
    engine = create_engine(settings.resolved_database_url)
    await upgrade_to_head(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def seed_store(
    sessions: SessionFactory, store_hash: str, size: int = 1000, *, tagged: bool = True
) -> None:
    """What a processed STORE `store_hash` leaves: its file, its pin and (unless it was
    overtaken by an update elsewhere) the tag named after it pointing at that file."""
    file_hash = hashlib.sha256(store_hash.encode()).hexdigest()
    async with sessions() as session, session.begin():
        await insert_file(session, file_hash, file_hash, size)
        await add_message_pin(
            session,
            file_hash=file_hash,
            owner="0xowner",
            item_hash=store_hash,
            ref=None,
            tag=store_hash,
            created=time.time(),
        )
        if tagged:
            session.add(
                FileTagRow(
                    tag=store_hash,
                    owner="0xowner",
                    file_hash=file_hash,
                    item_hash=store_hash,
                    last_updated=time.time(),
                )
            )


def program(signer: EvmSigner, **fields: Any) -> BuiltMessage:
    document: dict[str, Any] = {
        "address": signer.address,
        "time": time.time(),
        "allow_amend": False,
        "type": "vm-function",
        "code": {"encoding": "zip", "entrypoint": "main:app", "ref": CODE, "use_latest": False},
        "runtime": {"ref": RUNTIME, "use_latest": False, "comment": "test runtime"},
        "on": {"http": True},
        "environment": {},
        "resources": {},
        "payment": {"chain": "ETH", "type": "hold"},
        **fields,
    }
    return build_message(
        signer, MessageType.PROGRAM, ProgramContent.model_validate(document), channel="TEST"
    )


def instance(signer: EvmSigner, size_mib: int = 20, **fields: Any) -> BuiltMessage:
    document: dict[str, Any] = {
        "address": signer.address,
        "time": time.time(),
        "allow_amend": False,
        "rootfs": {"parent": {"ref": ROOTFS}, "persistence": "host", "size_mib": size_mib},
        "environment": {},
        "resources": {},
        **fields,
    }
    return build_message(
        signer, MessageType.INSTANCE, InstanceContent.model_validate(document), channel="TEST"
    )


def incoming_of(built: BuiltMessage) -> IncomingMessage[Any]:
    message = parse_message(built.message)
    assert message.content is not None
    return IncomingMessage(message, message.content, built.item_content, time.time())


async def check_dependencies(sessions: SessionFactory, built: BuiltMessage) -> None:
    async with sessions() as session:
        await VmHandler().check_dependencies(session, incoming_of(built))


async def rejection_of(client: httpx.AsyncClient, built: BuiltMessage) -> dict[str, Any]:
    response = await publish(client, built.message)
    assert response.status_code == 422, response.text
    return await wait_for_status(client, built.item_hash, "rejected")


# --- volumes -------------------------------------------------------------------------------


async def test_program_with_its_files_is_processed(
    client: httpx.AsyncClient, sessions: SessionFactory, signer: EvmSigner
) -> None:
    await seed_store(sessions, CODE)
    await seed_store(sessions, RUNTIME)
    built = program(signer, metadata={"name": "app", "tags": ["web", "demo"]})
    response = await publish(client, built.message)
    assert response.status_code == 200, response.text
    async with sessions() as session:
        vm = await get_vm(session, built.item_hash)
        row = await get_message(session, built.item_hash)
    assert vm is not None
    assert (vm.type, vm.owner, vm.current_version) == ("PROGRAM", signer.address, vm.item_hash)
    assert row is not None
    assert (row.tags, row.payment_type) == (["demo", "web"], "hold")


async def test_missing_files_keep_a_program_pending_until_they_come(
    client: httpx.AsyncClient, sessions: SessionFactory, signer: EvmSigner
) -> None:
    built = program(signer, data={"encoding": "zip", "mount": "/data", "ref": DATA})
    with pytest.raises(VmVolumeNotFound) as missing:
        await check_dependencies(sessions, built)
    assert missing.value.details == {"errors": [CODE, RUNTIME, DATA]}
    assert (await publish(client, built.message, sync=False)).status_code == 202
    for store_hash in (CODE, RUNTIME, DATA):
        await seed_store(sessions, store_hash)
    await wait_for_status(client, built.item_hash, "processed")


async def test_use_latest_follows_the_tag_and_a_pin_alone_does_not_do(
    sessions: SessionFactory, signer: EvmSigner
) -> None:
    """A STORE pin is the exact version; `use_latest` wants the tag, which follows updates."""
    await seed_store(sessions, CODE, tagged=False)
    await seed_store(sessions, RUNTIME)
    latest = program(
        signer,
        code={"encoding": "zip", "entrypoint": "main:app", "ref": CODE, "use_latest": True},
    )
    with pytest.raises(VmVolumeNotFound):
        await check_dependencies(sessions, latest)
    await check_dependencies(sessions, program(signer))


async def test_immutable_and_persistent_volumes_are_dependencies(
    sessions: SessionFactory, signer: EvmSigner
) -> None:
    await seed_store(sessions, CODE)
    await seed_store(sessions, RUNTIME)
    volumes = [
        {"ref": DATA, "mount": "/opt/lib", "use_latest": False},
        {"ephemeral": True, "size_mib": 5, "mount": "/tmp"},
        {"parent": {"ref": ROOTFS}, "name": "db", "persistence": "host", "size_mib": 5},
        {"name": "blank", "persistence": "store", "size_mib": 5},
    ]
    with pytest.raises(VmVolumeNotFound) as missing:
        await check_dependencies(sessions, program(signer, volumes=volumes))
    assert missing.value.details == {"errors": [DATA, ROOTFS]}


async def test_a_disk_smaller_than_its_image_is_rejected_with_details(
    client: httpx.AsyncClient, sessions: SessionFactory, signer: EvmSigner
) -> None:
    await seed_store(sessions, ROOTFS, size=3 * MIB)
    body = await rejection_of(client, instance(signer, size_mib=2))
    file_hash = hashlib.sha256(ROOTFS.encode()).hexdigest()
    assert body["error_code"] == ErrorCode.VM_VOLUME_TOO_SMALL
    assert body["details"] == {
        "errors": [
            {
                "volume_name": "rootfs",
                "parent_ref": ROOTFS,
                "parent_file": file_hash,
                "parent_size": 3 * MIB,
                "volume_size": 2 * MIB,
            }
        ]
    }


async def test_a_persistent_volume_is_measured_against_its_parent(
    sessions: SessionFactory, signer: EvmSigner
) -> None:
    await seed_store(sessions, ROOTFS, size=MIB)
    await seed_store(sessions, DATA, size=3 * MIB)
    volume = {"parent": {"ref": DATA}, "name": "db", "persistence": "host", "size_mib": 2}
    with pytest.raises(VmVolumeTooSmall) as too_small:
        await check_dependencies(sessions, instance(signer, size_mib=1, volumes=[volume]))
    assert [error["volume_name"] for error in too_small.value.details["errors"]] == ["db"]


# --- replacements ----------------------------------------------------------------------------


@pytest.fixture
async def original(
    client: httpx.AsyncClient, sessions: SessionFactory, signer: EvmSigner
) -> BuiltMessage:
    """A processed, amendable program whose files are all here."""
    await seed_store(sessions, CODE)
    await seed_store(sessions, RUNTIME)
    built = program(signer, allow_amend=True)
    assert (await publish(client, built.message)).status_code == 200
    return built


async def current_version(sessions: SessionFactory, item_hash: str) -> str:
    async with sessions() as session:
        vm = await get_vm(session, item_hash)
    assert vm is not None
    return vm.current_version


async def test_the_newest_replacement_is_in_force_whatever_the_order(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    signer: EvmSigner,
    original: BuiltMessage,
) -> None:
    now = time.time()
    newer = program(signer, allow_amend=True, replaces=original.item_hash, time=now + 2)
    older = program(signer, allow_amend=True, replaces=original.item_hash, time=now + 1)
    for built in (newer, older):
        assert (await publish(client, built.message)).status_code == 200
    assert await current_version(sessions, original.item_hash) == newer.item_hash


async def test_a_replacement_waits_for_the_vm_it_replaces(
    sessions: SessionFactory, signer: EvmSigner
) -> None:
    await seed_store(sessions, CODE)
    await seed_store(sessions, RUNTIME)
    with pytest.raises(VmRefNotFound):
        await check_dependencies(sessions, program(signer, replaces=CODE))


async def test_a_replacement_cannot_be_replaced(
    client: httpx.AsyncClient, signer: EvmSigner, original: BuiltMessage
) -> None:
    replacement = program(signer, allow_amend=True, replaces=original.item_hash)
    assert (await publish(client, replacement.message)).status_code == 200
    body = await rejection_of(client, program(signer, replaces=replacement.item_hash))
    assert body["error_code"] == ErrorCode.VM_UPDATE_UPDATE


async def test_the_version_in_force_decides_whether_amends_are_allowed(
    client: httpx.AsyncClient, signer: EvmSigner, original: BuiltMessage
) -> None:
    final = program(signer, allow_amend=False, replaces=original.item_hash)
    assert (await publish(client, final.message)).status_code == 200
    body = await rejection_of(client, program(signer, replaces=original.item_hash))
    assert body["error_code"] == ErrorCode.VM_AMEND_NOT_ALLOWED


async def test_a_vm_without_allow_amend_cannot_be_replaced(
    client: httpx.AsyncClient, sessions: SessionFactory, signer: EvmSigner
) -> None:
    await seed_store(sessions, CODE)
    await seed_store(sessions, RUNTIME)
    fixed = program(signer, allow_amend=False)
    assert (await publish(client, fixed.message)).status_code == 200
    body = await rejection_of(client, program(signer, replaces=fixed.item_hash))
    assert body["error_code"] == ErrorCode.VM_AMEND_NOT_ALLOWED


async def test_only_the_owner_may_replace_a_vm(
    sessions: SessionFactory, original: BuiltMessage
) -> None:
    stranger = program(EvmSigner(bytes(32 * [9])), replaces=original.item_hash)
    async with sessions() as session:
        with pytest.raises(PermissionDenied):
            await VmHandler().check_permissions(session, incoming_of(stranger))


# --- forget ----------------------------------------------------------------------------------


async def forget(sessions: SessionFactory, item_hash: str) -> None:
    async with sessions() as session, session.begin():
        message = await get_message(session, item_hash)
        assert message is not None
        await VmHandler().forget(session, message)


async def test_forgetting_the_replacement_in_force_restores_the_previous_version(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    signer: EvmSigner,
    original: BuiltMessage,
) -> None:
    now = time.time()
    first = program(signer, allow_amend=True, replaces=original.item_hash, time=now + 1)
    second = program(signer, allow_amend=True, replaces=original.item_hash, time=now + 2)
    for built in (first, second):
        assert (await publish(client, built.message)).status_code == 200
    await forget(sessions, second.item_hash)
    assert await current_version(sessions, original.item_hash) == first.item_hash
    await forget(sessions, first.item_hash)
    assert await current_version(sessions, original.item_hash) == original.item_hash


async def test_forgetting_an_original_drops_its_replacements(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    signer: EvmSigner,
    original: BuiltMessage,
) -> None:
    replacement = program(signer, allow_amend=True, replaces=original.item_hash)
    assert (await publish(client, replacement.message)).status_code == 200
    await forget(sessions, original.item_hash)
    async with sessions() as session:
        assert await get_vm(session, original.item_hash) is None
        assert await get_vm(session, replacement.item_hash) is None


# --- the reference schema library's examples ---------------------------------------------------


def vector_content(name: str, signer: EvmSigner) -> dict[str, Any]:
    """A vector's content made ours: signed by `signer`, and without its `replaces`, which in
    these examples is an address, not a VM."""
    content = copy.deepcopy(load_vector(f"aleph-message/{name}")["content"])
    content.pop("replaces")
    return content | {"address": signer.address, "time": time.time()}


async def test_aleph_message_program_example_is_processed(
    client: httpx.AsyncClient, sessions: SessionFactory, signer: EvmSigner
) -> None:
    content = vector_content("machine.json", signer)
    for store_hash in {content["code"]["ref"], content["runtime"]["ref"]}:
        await seed_store(sessions, store_hash)
    built = build_message(signer, MessageType.PROGRAM, content, channel="TEST")
    response = await publish(client, built.message)
    assert response.status_code == 200, response.text


async def test_aleph_message_instance_example_is_processed(
    client: httpx.AsyncClient, sessions: SessionFactory, signer: EvmSigner
) -> None:
    content = vector_content("instance_machine.json", signer)
    await seed_store(sessions, content["rootfs"]["parent"]["ref"], size=1000 * MIB)
    await seed_store(sessions, content["volumes"][0]["ref"])
    built = build_message(signer, MessageType.INSTANCE, content, channel="TEST")
    response = await publish(client, built.message)
    assert response.status_code == 200, response.text
    async with sessions() as session:
        vm = await get_vm(session, built.item_hash)
    assert vm is not None
    assert vm.type == "INSTANCE"
