"""The microvm executor booting real micro-VMs (TCG here) with the real guest runtime.

Each boot costs 5-20 s under TCG on a shared 2-core host, so every test packs what it can
check into as few boots as it can. The runtime images come from the cache that
`scripts/build-crn-runtime` fills at install time; without them the tests fail and say so.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from alephnet.crn.executors.base import (
    CodeSpec,
    ExecutionSpec,
    ExitReason,
    Resources,
    VolumeKind,
    VolumeSpec,
)
from alephnet.crn.executors.guest_link import GuestGone
from alephnet.crn.executors.microvm import MicroVMExecution, MicroVMExecutor
from alephnet.crn.executors.microvm.accelerator import usable_accelerator
from alephnet.crn.executors.microvm.executor import program_images
from alephnet.crn.executors.microvm.qemu import VmShape
from alephnet.crn.executors.microvm.snapshot import snapshot_path
from tests.crn.programs import PROBE_APP, http_scope, squashfs_image, zip_program

pytestmark = pytest.mark.slow


def probe_spec(
    tmp_path: Path,
    name: str,
    memory_mib: int = 256,
    volumes: tuple[VolumeSpec, ...] = (),
    encoding: str = "zip",
    internet: bool = False,
) -> ExecutionSpec:
    if encoding == "squashfs":
        code = squashfs_image({"main.py": PROBE_APP}, tmp_path / f"{name}-code.img")
    else:
        code = tmp_path / "probe.zip"
        code.write_bytes(zip_program({"main.py": PROBE_APP}))
    return ExecutionSpec(
        vm_hash="cd" * 32,
        resources=Resources(vcpus=1, memory_mib=memory_mib, seconds=30),
        code=CodeSpec(code, encoding, "main:app", "asgi"),
        internet=internet,
        variables={"GREETING": "hi"},
        volumes=volumes,
        work_dir=tmp_path / name,
    )


async def get(execution: MicroVMExecution, path: str, query: str = "", body: bytes = b"") -> str:
    response = await execution.link.request(http_scope(path, query=query), body, timeout=30)
    assert response.status == 200
    return response.body.decode()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_hello_program_answers_warm_is_isolated_and_stops_clean(tmp_path: Path) -> None:
    data_dir = tmp_path / "crn-data"
    data_dir.mkdir()
    (data_dir / "node.key").write_text("secret")
    started = time.monotonic()
    execution = await MicroVMExecutor().start(probe_spec(tmp_path, "hello"))
    cold = time.monotonic() - started
    try:
        assert await get(execution, "/") == "hello world"
        warm_started = time.monotonic()
        assert await get(execution, "/") == "hello world"
        assert time.monotonic() - warm_started < cold / 10
        assert await get(execution, "/env", "name=GREETING") == "hi"
        # No network device but loopback: internet is false.
        interfaces = await get(execution, "/read", "path=/proc/net/dev")
        assert [line.split(":")[0].strip() for line in interfaces.splitlines()[2:]] == ["lo"]
        # The host's files are not there: not the CRN data dir, not its key.
        assert "FileNotFoundError" in await get(execution, "/read", f"path={data_dir}/node.key")
        assert execution.exit_reason is ExitReason.RUNNING
    finally:
        await execution.stop()
    assert execution.exit_reason is ExitReason.STOPPED
    assert not process_alive(execution.pid)
    assert execution.link.closed


async def test_persistent_volume_survives_a_restart_squashfs_code_and_volumes(
    tmp_path: Path,
) -> None:
    data = tmp_path / "image.source"
    volumes = (
        VolumeSpec("/data", VolumeKind.PERSISTENT, tmp_path / "persistent", size_mib=16),
        VolumeSpec("/scratch", VolumeKind.EPHEMERAL, None, size_mib=8),
        VolumeSpec(
            "/assets",
            VolumeKind.IMMUTABLE,
            squashfs_image({"greeting.txt": "from a squashfs"}, data.with_suffix(".img")),
        ),
    )
    first = await MicroVMExecutor().start(probe_spec(tmp_path, "first", volumes=volumes))
    try:
        assert await get(first, "/write", "path=/data/counter", b"41") == "written"
        assert await get(first, "/write", "path=/scratch/junk", b"x") == "written"
        assert await get(first, "/read", "path=/assets/greeting.txt") == "from a squashfs"
        assert "Read-only" in await get(first, "/write", "path=/assets/new", b"x")
    finally:
        await first.stop()
    second = await MicroVMExecutor().start(
        probe_spec(tmp_path, "second", volumes=volumes, encoding="squashfs")
    )
    try:
        assert await get(second, "/read", "path=/data/counter") == "41"
        assert "FileNotFoundError" in await get(second, "/read", "path=/scratch/junk")
    finally:
        await second.stop()


async def test_a_program_over_its_memory_is_reported_out_of_memory(tmp_path: Path) -> None:
    # Less than the VM's memory (a larger request is refused by overcommit: a MemoryError),
    # more than what the kernel and Python leave free in it: the guest kernel's OOM killer.
    execution = await MicroVMExecutor().start(probe_spec(tmp_path, "oom", memory_mib=128))
    try:
        with pytest.raises(GuestGone):
            await get(execution, "/alloc", "mib=256")
        assert await asyncio.wait_for(execution.wait(), 60) is ExitReason.OUT_OF_MEMORY
    finally:
        await execution.stop()
    assert not process_alive(execution.pid)


async def test_with_internet_the_guest_has_a_network_that_reaches_out(tmp_path: Path) -> None:
    connected = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    execution = await MicroVMExecutor().start(probe_spec(tmp_path, "online", internet=True))
    try:
        interfaces = await get(execution, "/read", "path=/proc/net/dev")
        assert "eth0" in interfaces
        # QEMU's user-mode network shows the host's loopback as 10.0.2.2.
        assert await get(execution, "/connect", f"host=10.0.2.2&port={port}") == "connected"
        assert connected.is_set()
    finally:
        await execution.stop()
        server.close()


def booted(execution: MicroVMExecution) -> bool:
    """Whether this VM ran its init (a restored one starts after that point)."""
    return "starting the guest runtime" in execution.console_log.read_text(errors="replace")


async def test_later_starts_restore_the_saved_vm_and_a_damaged_save_means_a_boot(
    tmp_path: Path,
) -> None:
    images = program_images()
    shape = VmShape(await usable_accelerator(images), 1, 256, internet=False)
    snapshot = snapshot_path(images, shape)
    executor = MicroVMExecutor()
    for name in ("first", "restored"):
        execution = await executor.start(probe_spec(tmp_path, name))
        try:
            assert await get(execution, "/env", "name=GREETING") == "hi"
        finally:
            await execution.stop()
        assert snapshot.exists()
    assert not booted(execution)
    assert execution.exit_reason is ExitReason.STOPPED

    snapshot.write_bytes(b"not a saved VM")
    execution = await executor.start(probe_spec(tmp_path, "damaged"))
    try:
        assert await get(execution, "/") == "hello world"
    finally:
        await execution.stop()
    assert booted(execution)
    assert snapshot.stat().st_size > 1024 * 1024  # saved again from this boot
