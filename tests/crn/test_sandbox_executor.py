"""The sandbox executor for real: bubblewrap, cgroups, limits, isolation, volumes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alephnet.crn.executors.base import (
    CodeSpec,
    ExecutionSpec,
    ExecutorError,
    ExitReason,
    Resources,
    VolumeKind,
    VolumeSpec,
)
from alephnet.crn.executors.guest_link import GuestGone
from alephnet.crn.executors.sandbox import (
    SandboxExecution,
    SandboxExecutor,
    cgroups,
    network,
)
from tests.crn.guest_process import LogLines
from tests.crn.programs import (
    EXECUTABLE_SERVER,
    PROBE_APP,
    http_scope,
    squashfs_image,
    zip_program,
)

TIMEOUT = 10.0


def probe_spec(
    folder: Path,
    internet: bool = False,
    memory_mib: int = 128,
    volumes: tuple[VolumeSpec, ...] = (),
    entrypoint: str = "main:app",
) -> ExecutionSpec:
    code = folder / "code.zip"
    code.write_bytes(zip_program({"main.py": PROBE_APP}))
    return ExecutionSpec(
        vm_hash=os.urandom(32).hex(),
        resources=Resources(vcpus=1, memory_mib=memory_mib, seconds=TIMEOUT),
        code=CodeSpec(code, "zip", entrypoint, "asgi"),
        internet=internet,
        variables={"WHO": "sandbox"},
        volumes=volumes,
        work_dir=folder,
    )


@contextlib.asynccontextmanager
async def running(spec: ExecutionSpec) -> AsyncIterator[SandboxExecution]:
    execution = await SandboxExecutor().start(spec)
    try:
        yield execution
    finally:
        await execution.stop(grace_seconds=2)
        assert not execution.cgroup.pids()


async def call(execution: SandboxExecution, path: str, query: str = "", body: bytes = b"") -> str:
    response = await execution.link.request(http_scope(path, query=query), body, TIMEOUT)
    assert response.status == 200
    return response.body.decode()


async def test_hello_world_and_the_sdk_importable(tmp_path: Path) -> None:
    logs = LogLines()
    async with running(probe_spec(tmp_path)) as execution:
        execution.link.set_log_callback(logs)
        assert await call(execution, "/") == "hello world"
        assert await call(execution, "/env", "name=WHO") == "sandbox"
        assert await call(execution, "/import", "module=alephnet.sdk") == "alephnet.sdk"
    assert execution.exit_reason is ExitReason.STOPPED
    assert ("stdout", "probe: shutdown") in logs.lines  # HALT ran the lifespan shutdown


async def test_start_output_reaches_the_log_callback(tmp_path: Path) -> None:
    async with running(probe_spec(tmp_path)) as execution:
        logs = LogLines()
        execution.link.set_log_callback(logs)
        assert ("stdout", "probe: startup") in logs.lines


async def test_concurrent_requests(tmp_path: Path) -> None:
    async with running(probe_spec(tmp_path)) as execution:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(
            *(call(execution, "/sleep", "seconds=0.5") for _ in range(10))
        )
        assert answers == ["slept"] * 10
        assert loop.time() - started < 2.5


async def test_memory_hog_is_killed_out_of_memory(tmp_path: Path) -> None:
    async with running(probe_spec(tmp_path, memory_mib=64)) as execution:
        with pytest.raises(GuestGone):
            await call(execution, "/alloc", "mib=256")
        assert await asyncio.wait_for(execution.wait(), TIMEOUT) is ExitReason.OUT_OF_MEMORY


async def test_endless_loop_is_stopped(tmp_path: Path) -> None:
    execution = await SandboxExecutor().start(probe_spec(tmp_path))
    with pytest.raises(TimeoutError):
        await execution.link.request(http_scope("/loop"), b"", timeout=0.5)
    await asyncio.wait_for(execution.stop(grace_seconds=1), TIMEOUT)
    assert execution.exit_reason is ExitReason.STOPPED
    assert not execution.cgroup.pids()
    assert not any(path.exists() for path in execution.cgroup.procs_files)


async def test_limits_reach_the_cgroup(tmp_path: Path) -> None:
    spec = dataclasses.replace(
        probe_spec(tmp_path), resources=Resources(vcpus=2, memory_mib=96, seconds=TIMEOUT)
    )
    async with running(spec) as execution:
        folders = {path.parent for path in execution.cgroup.procs_files}
        limits = {
            path.name: path.read_text().strip()
            for folder in folders
            for path in folder.iterdir()
            if path.name in ("cpu.cfs_quota_us", "cpu.max", "memory.limit_in_bytes", "memory.max")
        }
    memory = str(96 * 1024 * 1024)
    assert limits in (
        {"cpu.cfs_quota_us": "200000", "memory.limit_in_bytes": memory},
        {"cpu.max": "200000 100000", "memory.max": memory},
    )


async def test_process_count_is_limited(tmp_path: Path) -> None:
    execution = await SandboxExecutor(pids_max=20).start(probe_spec(tmp_path))
    try:
        answer = await call(execution, "/spawn", "count=40")
    finally:
        await execution.stop(grace_seconds=2)
    assert re.fullmatch(r"spawned 1\d then BlockingIOError", answer), answer


async def test_crash_ends_one_execution_only(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        running(probe_spec(tmp_path / "a")) as crashing,
        running(probe_spec(tmp_path / "b")) as other,
    ):
        with pytest.raises(GuestGone):
            await call(crashing, "/crash")
        assert await asyncio.wait_for(crashing.wait(), TIMEOUT) is ExitReason.EXITED
        assert await call(other, "/") == "hello world"


@pytest.mark.parametrize("internet", [False, True])
async def test_executable_program_behind_the_sandbox_loopback(
    tmp_path: Path, internet: bool
) -> None:
    code = tmp_path / "server.zip"
    code.write_bytes(zip_program({"server.py": EXECUTABLE_SERVER}))
    spec = dataclasses.replace(
        probe_spec(tmp_path, internet=internet),
        code=CodeSpec(code, "zip", "server.py", "executable"),
    )
    async with running(spec) as execution:
        assert await call(execution, "/path", "q=1") == "executable /path?q=1"


async def test_spare_sandbox_serves_a_program_under_its_limits(tmp_path: Path) -> None:
    executor = SandboxExecutor(spares=1)
    await executor.prestart()
    try:
        execution = await executor.start(probe_spec(tmp_path, memory_mib=64))
        assert await call(execution, "/hostname") == "vm-spare"
        assert await call(execution, "/env", "name=WHO") == "sandbox"
        with pytest.raises(GuestGone):
            await call(execution, "/alloc", "mib=256")
        assert await asyncio.wait_for(execution.wait(), TIMEOUT) is ExitReason.OUT_OF_MEMORY
        online = await executor.start(probe_spec(tmp_path, internet=True))
        assert await call(online, "/hostname") != "vm-spare"
        await online.stop()
    finally:
        await executor.close()
    memory_groups = execution.cgroup.procs_files[0].parent.parent
    assert not [group for group in memory_groups.iterdir() if group.name.startswith("spare-")]


async def test_failed_configuration_is_an_executor_error(tmp_path: Path) -> None:
    with pytest.raises(ExecutorError, match="has no attribute 'nothing'") as failure:
        await SandboxExecutor().start(probe_spec(tmp_path, entrypoint="main:nothing"))
    assert "Traceback" in str(failure.value)


async def test_host_files_are_out_of_reach(tmp_path: Path) -> None:
    keys = tmp_path / "crn-data" / "keys"
    keys.mkdir(parents=True)
    (keys / "node.key").write_text("secret")
    hidden = [
        keys / "node.key",
        keys,
        Path(__file__).resolve(),
        Path("/etc/shadow"),
        Path("/etc/ssl/private"),
        Path.home() / ".profile",
        Path.home() / ".ssh",
    ]
    async with running(probe_spec(tmp_path)) as execution:
        for path in hidden:
            answer = await call(execution, "/read", f"path={path}")
            assert answer.startswith("error "), (path, answer)
        # Its own PID namespace: PID 1 is bubblewrap, no host process is in sight.
        assert "bwrap" in await call(execution, "/read", "path=/proc/1/cmdline")


@contextlib.asynccontextmanager
async def host_server() -> AsyncIterator[int]:
    """A TCP server of the host (on 127.0.0.1: like the CRN's API or the CCN); yields its port."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def interfaces(proc_net_dev: str) -> set[str]:
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:]}


def has_default_route(proc_net_route: str) -> bool:
    """A route to 00000000/00000000 through a device other than lo (/proc/net/route)."""
    routes = [line.split() for line in proc_net_route.splitlines()[1:]]
    return any(r[0] != "lo" and r[1] == "00000000" and r[7] == "00000000" for r in routes)


async def test_internet_is_user_mode_networking_without_the_host_loopback(tmp_path: Path) -> None:
    async with (
        host_server() as port,
        running(probe_spec(tmp_path, internet=True)) as execution,
    ):
        assert interfaces(await call(execution, "/read", "path=/proc/net/dev")) == {"lo", "tap0"}
        assert has_default_route(await call(execution, "/read", "path=/proc/net/route"))
        # Neither its own loopback nor the gateway (slirp4netns' way to the host) reaches it.
        for host in ("127.0.0.1", "10.0.2.2"):
            answer = await call(execution, "/connect", f"host={host}&port={port}")
            assert answer.startswith("error "), (host, answer)
        # Outbound connections are not tried: tests send traffic to loopback addresses only.
        assert "slirp4netns" in children_of_this_process()
    assert "slirp4netns" not in children_of_this_process()


async def test_a_network_that_fails_to_come_up_fails_the_start_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(network, "slirp_command", lambda *_: ["slirp4netns", "--no-such-option"])
    spec = probe_spec(tmp_path, internet=True)
    # Children started before (a node a session fixture keeps running) are not this start's.
    before = children_of_this_process()
    with pytest.raises(ExecutorError, match=r"slirp4netns could not .* \(exit status 1\)"):
        await SandboxExecutor().start(spec)
    assert children_of_this_process() == before
    groups = [group for parent in cgroups.group_parents() for group in parent.iterdir()]
    assert not [group for group in groups if group.name.startswith(spec.vm_hash[:16])]


async def test_internet_without_slirp4netns_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = SandboxExecutor()
    monkeypatch.setattr(network.shutil, "which", lambda name: None)
    with pytest.raises(ExecutorError, match="apt install slirp4netns"):
        await executor.start(probe_spec(tmp_path, internet=True))


def children_of_this_process() -> list[str]:
    """The command names of this process's children (/proc/PID/stat: pid (comm) state ppid)."""
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            name, fields = stat.read_text().rsplit(")", 1)
            if int(fields.split()[1]) == os.getpid():
                names.append(name.partition("(")[2])
    return names


async def test_no_internet_is_a_lone_loopback(tmp_path: Path) -> None:
    async with (
        host_server() as port,
        running(probe_spec(tmp_path)) as execution,
    ):
        assert interfaces(await call(execution, "/read", "path=/proc/net/dev")) == {"lo"}
        assert not has_default_route(await call(execution, "/read", "path=/proc/net/route"))
        assert (await call(execution, "/connect", f"port={port}")).startswith("error ")


async def test_ephemeral_volume_is_size_limited(tmp_path: Path) -> None:
    volume = VolumeSpec("/scratch", VolumeKind.EPHEMERAL, None, size_mib=1)
    async with running(probe_spec(tmp_path, volumes=(volume,))) as execution:
        assert await call(execution, "/write", "path=/scratch/small", b"x" * 1000) == "written"
        answer = await call(execution, "/write", "path=/scratch/big", b"x" * 2_000_000)
        assert "No space left" in answer


async def test_immutable_volume_and_squashfs_code_are_read_only(tmp_path: Path) -> None:
    image = squashfs_image({"greeting.txt": "from a volume"}, tmp_path / "volume.squashfs")
    code = squashfs_image({"main.py": PROBE_APP}, tmp_path / "code.squashfs")
    volume = VolumeSpec("/mnt/ro", VolumeKind.IMMUTABLE, image)
    spec = probe_spec(tmp_path, volumes=(volume,))
    spec = dataclasses.replace(spec, code=CodeSpec(code, "squashfs", "main:app", "asgi"))
    async with running(spec) as execution:
        assert await call(execution, "/read", "path=/mnt/ro/greeting.txt") == "from a volume"
        answer = await call(execution, "/write", "path=/mnt/ro/greeting.txt", b"changed")
        assert "Read-only file system" in answer
        assert "Read-only" in await call(execution, "/write", "path=/opt/code/main.py", b"x")


# cgroup v2 cannot be exercised on these v1 hosts: its file protocol is checked on a folder.


def test_cgroup_v2_limits_are_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path)
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    group = cgroups.create_cgroup("program", Resources(2, 256, 10), pids_max=64)
    folder = tmp_path / cgroups.GROUP_NAME / "program"
    assert isinstance(group, cgroups.CgroupV2)
    assert group.procs_files == [folder / "cgroup.procs"]
    written = {name: (folder / name).read_text() for name in ("memory.max", "cpu.max", "pids.max")}
    assert written == {
        "memory.max": str(256 * 1024 * 1024),
        "cpu.max": "200000 100000",
        "pids.max": "64",
    }
    for parent in (tmp_path, tmp_path / cgroups.GROUP_NAME):
        assert (parent / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not group.oom_killed()
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    assert group.oom_killed()


def test_no_cgroup_hierarchy_is_an_executor_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path)
    with pytest.raises(ExecutorError, match="no cgroup hierarchy"):
        cgroups.create_cgroup("program", Resources(1, 64, 10), pids_max=8)
