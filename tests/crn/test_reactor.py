"""The CRN following its CCN's message feed (a WebSocket on loopback, read by the SDK's
watcher): FORGETs stop and refuse programs and erase instances, amends of `use_latest` files
move programs to the new files, and the feed is followed again after the CCN restarts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from alephnet.crn.executors.base import ExitReason
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.program_spec import ProgramPreparer
from alephnet.crn.supervisor.reactor import MessageReactor, followed_files
from alephnet.devnet.processes import CcnProcess, CrnProcess
from alephnet.sdk import AuthenticatedAlephClient, generate_account
from alephnet.sdk._program import code_archive
from alephnet.sdk.exceptions import NodeUnreachable
from alephnet.sdk.models import Message
from tests.ccn.node_process import free_port
from tests.crn.crn_app import CrnApp, crn_app
from tests.crn.message_feed import envelope
from tests.crn.supervisor_doubles import (
    CODE_REF,
    ROOTFS_REF,
    FakeCcn,
    FakeVmExecutor,
    vm_hash_of,
)
from tests.crn.test_crn_e2e import published_runtime
from tests.crn.test_instances import NOTIFY, wait_until

PROGRAM = vm_hash_of(0x70)
INSTANCE = vm_hash_of(0x71)
FORGET = vm_hash_of(0xF0)
AMEND = vm_hash_of(0xA1)
OTHER_OWNER = "0x" + "cd" * 20


def publish_program(crn: CrnApp, code: bytes = b"code v1", **program: object) -> None:
    crn.ccn.add_store(CODE_REF, code)
    crn.ccn.add_program(PROGRAM, **program)


async def code_served(crn: CrnApp) -> bytes:
    response = await crn.client.get(f"/vm/{PROGRAM}/code")
    assert response.status_code == 200, response.text
    return response.content


def running_codes(crn: CrnApp) -> list[bytes]:
    return [execution.spec.code.path.read_bytes() for execution in crn.executor.running]


async def test_the_files_followed_are_the_use_latest_ones_the_execution_runs_on(
    tmp_path: Path,
) -> None:
    """Code, the micro-VM's runtime and immutable volumes with `use_latest`; not a volume
    pinned to its ref, nor a persistent one."""
    ccn = FakeCcn()
    runtime_ref, latest_ref, pinned_ref = vm_hash_of(0xE1), vm_hash_of(0xE2), vm_hash_of(0xE3)
    files = {
        ref: ccn.add_store(ref, data)
        for ref, data in [
            (CODE_REF, b"code"),
            (runtime_ref, b"rootfs"),
            (latest_ref, b"venv"),
            (pinned_ref, b"data"),
        ]
    }
    volumes = [
        {"ref": latest_ref, "mount": "/opt/venv", "use_latest": True},
        {"ref": pinned_ref, "mount": "/data", "use_latest": False},
        {"name": "state", "mount": "/state", "persistence": "host", "size_mib": 1},
    ]
    ccn.add_program(PROGRAM, runtime=runtime_ref, volumes=volumes)
    settings = CrnSettings(data_dir=tmp_path)
    async with httpx.AsyncClient(transport=ccn.transport(), base_url="http://ccn.test") as http:
        preparer = ProgramPreparer(CcnSource(http, settings.cache_dir), settings, True)
        prepared = await preparer.prepare(PROGRAM)
    assert followed_files(prepared) == {
        CODE_REF: files[CODE_REF],
        runtime_ref: files[runtime_ref],
        latest_ref: files[latest_ref],
    }


async def test_a_forgotten_program_is_stopped_and_then_refused_with_410(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        publish_program(crn)
        assert await code_served(crn) == b"code v1"
        crn.ccn.send_forget(FORGET, PROGRAM, reason="obsolete")
        await wait_until(lambda: not crn.executor.running)
        assert crn.executor.executions[0].exit_reason is ExitReason.STOPPED
        refused = await crn.client.get(f"/vm/{PROGRAM}/code")
        assert refused.status_code == 410
        assert refused.json()["error"] == (
            f"program {PROGRAM} was forgotten on the CCN by FORGET {FORGET} (obsolete)"
        )
        assert len(crn.executor.started) == 1


async def test_a_malformed_message_on_the_feed_is_skipped(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        publish_program(crn)
        assert await code_served(crn) == b"code v1"
        crn.ccn.feed.publish(envelope("FORGET", vm_hash_of(0xF1), {"hashes": 5}))
        crn.ccn.send_forget(FORGET, PROGRAM)
        await wait_until(lambda: not crn.executor.running)
        assert crn.ccn.feed.connections == 1


async def test_a_program_forgotten_while_stopped_is_refused_at_its_next_start(
    tmp_path: Path,
) -> None:
    async with crn_app(tmp_path) as crn:
        publish_program(crn)
        crn.ccn.forget(PROGRAM)  # not on the feed: the start asks the CCN for its status
        refused = await crn.client.get(f"/vm/{PROGRAM}/")
        assert refused.status_code == 410
        assert "forgotten on the CCN" in refused.json()["error"]
        unknown = await crn.client.get(f"/vm/{vm_hash_of(0xDEAD)}/")
        assert unknown.status_code == 404
        assert crn.executor.started == []


async def test_a_forgotten_persistent_program_is_deallocated(tmp_path: Path) -> None:
    async with crn_app(tmp_path, restart_backoff_max=0.1) as crn:
        publish_program(crn, persistent=True)
        result = await crn.node.pool.allocate([PROGRAM])
        assert result.successful == [PROGRAM]
        crn.ccn.send_forget(FORGET, PROGRAM)
        await wait_until(lambda: not crn.executor.running)
        await asyncio.sleep(0.3)  # longer than its restart backoff: nothing starts it again
        assert len(crn.executor.started) == 1
        allocations = crn.node.settings.data_dir / "allocations.json"
        assert json.loads(allocations.read_text()) == []
        again = await crn.node.pool.allocate([PROGRAM])
        assert again.failing == [PROGRAM]
        assert "forgotten" in again.errors[PROGRAM]
        assert json.loads(allocations.read_text()) == []


async def test_a_forgotten_instance_is_stopped_and_its_disk_erased(tmp_path: Path) -> None:
    async with crn_app(tmp_path, executor=FakeVmExecutor(), memory_mib=1024) as crn:
        crn.ccn.add_store(ROOTFS_REF, b"an ext4 image")
        crn.ccn.add_instance(INSTANCE)
        assert (await crn.client.post(NOTIFY, json={"instance": INSTANCE})).status_code == 200
        disk = crn.node.settings.volumes_dir / INSTANCE
        await wait_until(disk.exists)
        crn.ccn.send_forget(FORGET, INSTANCE)
        executor = crn.executor
        assert isinstance(executor, FakeVmExecutor)
        await wait_until(lambda: not executor.running_instances and not disk.exists())


async def test_an_amended_code_is_served_once_the_requests_in_flight_end(
    tmp_path: Path,
) -> None:
    async with crn_app(tmp_path) as crn:
        publish_program(crn)
        async with crn.node.pool.serving(PROGRAM) as record:
            new_file = crn.ccn.send_amend(AMEND, b"code v2", CODE_REF)
            await asyncio.sleep(0.3)
            assert record.running  # a request is in flight: it is not cut
        await wait_until(lambda: not crn.executor.running)
        assert await code_served(crn) == b"code v2"
        assert crn.executor.started[-1].code.path.name == new_file
        assert len(crn.executor.started) == 2


async def test_an_amended_persistent_program_restarts_on_the_new_code(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        publish_program(crn, persistent=True)
        await crn.node.pool.allocate([PROGRAM])
        crn.ccn.send_amend(AMEND, b"code v2", CODE_REF)
        await wait_until(lambda: running_codes(crn) == [b"code v2"])
        assert len(crn.executor.started) == 2
        assert await code_served(crn) == b"code v2"


async def test_amends_of_another_owner_or_of_files_not_followed_change_nothing(
    tmp_path: Path,
) -> None:
    async with crn_app(tmp_path) as crn:
        publish_program(crn)
        assert await code_served(crn) == b"code v1"
        crn.ccn.send_amend(AMEND, b"not the owner's", CODE_REF, owner=OTHER_OWNER)
        crn.ccn.send_amend(vm_hash_of(0xA2), b"another file", vm_hash_of(0xB0))
        await asyncio.sleep(0.3)
        assert running_codes(crn) == [b"code v1"]
        assert await code_served(crn) == b"code v1"
        assert len(crn.executor.started) == 1


async def test_the_feed_is_followed_again_after_the_ccn_restarts(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        publish_program(crn)
        assert await code_served(crn) == b"code v1"
        await wait_until(lambda: crn.ccn.feed.connections == 1)
        async with crn.ccn.feed.down():
            crn.ccn.send_forget(FORGET, PROGRAM)  # while the CRN is not connected
            await asyncio.sleep(0.2)
        # The watcher reconnects (after 1 s) and is sent the latest messages again.
        await wait_until(lambda: not crn.executor.running)
        assert crn.ccn.feed.connections == 2
        assert (await crn.client.get(f"/vm/{PROGRAM}/")).status_code == 410


async def test_a_feed_given_up_is_followed_again_and_what_it_missed_is_caught_up(
    tmp_path: Path,
) -> None:
    """When the SDK's watcher gives up (the CCN gone for minutes), the reactor follows the
    feed again later, and checks statuses and amends directly: the feed may have lost them."""
    async with crn_app(tmp_path) as crn:
        publish_program(crn)
        other = vm_hash_of(0x72)
        crn.ccn.add_program(other)
        assert await code_served(crn) == b"code v1"
        assert (await crn.client.get(f"/vm/{other}/code")).status_code == 200
        attempts = 0

        async def failing_feed() -> AsyncIterator[Message]:
            nonlocal attempts
            attempts += 1
            raise NodeUnreachable(crn.ccn.feed.url, "the WebSocket was closed")
            yield  # an async generator, as the SDK's watcher is

        node = crn.node
        reactor = MessageReactor(
            failing_feed, node.source, node.pool, node.instances, node.settings.volumes_dir, 0.05
        )
        crn.ccn.forget(other)  # neither reaches the node's own feed
        crn.ccn.add_store(AMEND, b"code v2", amends=CODE_REF)
        follower = asyncio.create_task(reactor.run())
        try:
            await wait_until(lambda: attempts >= 2 and not crn.executor.running)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        assert (await crn.client.get(f"/vm/{other}/")).status_code == 410
        assert await code_served(crn) == b"code v2"


VERSIONED_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"VERSION"})
"""


def versioned_code(folder: Path, version: str) -> Path:
    folder.mkdir()
    (folder / "main.py").write_text(VERSIONED_APP.replace("VERSION", version))
    return folder


async def answer_of(crn: httpx.AsyncClient, program: str, expected: str) -> None:
    """Wait until the program answers `expected` (a body, or `410`)."""
    deadline = time.monotonic() + 30
    while True:
        response = await crn.get(f"/vm/{program}/")
        got = str(response.status_code) if response.status_code != 200 else response.text
        if got == expected:
            return
        assert time.monotonic() < deadline, f"{program} answers {got!r}, not {expected!r}"
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_with_a_real_ccn_an_amend_then_a_forget_reach_the_running_program(
    tmp_path: Path,
) -> None:
    """A CCN and a CRN (sandbox) processes: the CCN's own feed, statuses and amend query."""
    ccn = CcnProcess(tmp_path / "ccn", port=free_port())
    crn = CrnProcess(tmp_path / "crn", ccn.url, port=free_port(), log_level="INFO")
    try:
        await ccn.start()
        await crn.start()
        user = generate_account()
        async with (
            AuthenticatedAlephClient(user, api_url=ccn.url) as client,
            httpx.AsyncClient(base_url=crn.url, timeout=30) as crn_client,
        ):
            runtime = await published_runtime(crn)
            program = await client.create_program(
                versioned_code(tmp_path / "v1", "v1"), "main:app", runtime=runtime
            )
            await answer_of(crn_client, program.item_hash, "v1")
            await client.create_store(
                code_archive(versioned_code(tmp_path / "v2", "v2")), ref=program.code.item_hash
            )
            await answer_of(crn_client, program.item_hash, "v2")
            await client.forget([program.item_hash], reason="done")
            await answer_of(crn_client, program.item_hash, "410")
        # The reactor stops a running execution ("... by FORGET <hash>"); an execution that
        # went idle first is refused on the next call instead. Either way the CRN says why.
        assert f"program {program.item_hash} was forgotten on the CCN" in crn.log_file.read_text()
    finally:
        for process in (crn, ccn):
            if process.running:
                assert await process.terminate(30) == 0, process.log_tail()
