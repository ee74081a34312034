"""A CRN that was killed leaves its sandboxes' empty cgroups: the next executor removes them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alephnet.crn.executors.sandbox import SandboxExecutor, cgroups
from alephnet.crn.executors.sandbox.volumes import HOST_MOUNTS, MOUNT_FOLDER

LONG_AGO = 1_000_000_000.0  # 2001: older than any threshold


def make_groups(name: str, made_at: float | None = None) -> list[Path]:
    """One group per hierarchy the executor uses, as a crashed CRN would leave it."""
    groups = [parent / name for parent in cgroups.group_parents()]
    for group in groups:
        group.mkdir(parents=True)
        if made_at is not None:
            os.utime(group, (made_at, made_at))
    return groups


@pytest.fixture
def busy_groups() -> Iterator[list[Path]]:
    """Old groups still holding a process: another CRN's running sandbox."""
    groups = make_groups(f"busy-{uuid.uuid4().hex[:8]}", LONG_AGO)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for group in groups:
            (group / "cgroup.procs").write_text(str(sleeper.pid))
        yield groups
    finally:
        sleeper.kill()
        sleeper.wait()
        for group in groups:
            cgroups.remove_folder(group)


def test_stale_groups_are_removed_at_start(
    busy_groups: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    stale_name = f"stale-{uuid.uuid4().hex[:8]}"
    stale = make_groups(stale_name, LONG_AGO)
    fresh = make_groups(f"fresh-{uuid.uuid4().hex[:8]}")
    try:
        with caplog.at_level(logging.INFO, logger="alephnet.crn.executors.sandbox"):
            SandboxExecutor()
        assert not any(group.exists() for group in stale)
        assert all(group.exists() for group in fresh + busy_groups)
        assert stale_name in caplog.text
        assert "stale sandbox cgroup" in caplog.text
    finally:
        for group in stale + fresh:
            cgroups.remove_folder(group)


def test_no_leftovers_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="alephnet.crn.executors.sandbox"):
        cgroups.remove_stale_groups(min_age=cgroups.STALE_AFTER_SECONDS)
        SandboxExecutor()
    assert "stale" not in caplog.text


def test_cgroup_v2_groups_are_looked_for_under_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path)
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    assert cgroups.group_parents() == [tmp_path / cgroups.GROUP_NAME]
    assert cgroups.remove_stale_groups() == []  # no parent folder yet: nothing to do


# A CRN in a process of its own: one program with internet and a persistent volume, then it
# prints the program's cgroups and waits to be killed.
KILLED_CRN = """
import asyncio, json, sys
from pathlib import Path
from alephnet.crn.executors.base import VolumeKind, VolumeSpec
from alephnet.crn.executors.sandbox import SandboxExecutor
from tests.crn.test_sandbox_executor import probe_spec

async def main():
    folder = Path(sys.argv[1])
    volume = VolumeSpec("/data", VolumeKind.PERSISTENT, folder / "volume", size_mib=4)
    spec = probe_spec(folder, internet=True, volumes=(volume,))
    execution = await SandboxExecutor().start(spec)
    groups = [str(path.parent) for path in execution.cgroup.procs_files]
    print(json.dumps(groups), flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def children_named(parent: int, name: str) -> set[int]:
    """The PIDs of `parent`'s children called `name` (/proc/PID/stat: pid (comm) state ppid)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            comm, fields = stat.read_text().rsplit(")", 1)
            if comm.partition("(")[2] == name and int(fields.split()[1]) == parent:
                children.add(int(stat.parent.name))
    return children


def test_what_a_killed_crn_leaves_is_cleaned_up(tmp_path: Path) -> None:
    crn = subprocess.Popen(
        [sys.executable, "-c", KILLED_CRN, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert crn.stdout is not None
        groups = [Path(group) for group in json.loads(crn.stdout.readline())]
        slirps = children_named(crn.pid, "slirp4netns")
        assert len(slirps) == 1
    finally:
        crn.kill()
        crn.wait()
    mountpoint = tmp_path / "volume" / MOUNT_FOLDER
    try:
        # bwrap dies with its parent, slirp4netns with its exit pipe; the groups stay, empty.
        wait_until(lambda: not any(cgroups.group_busy(group) for group in groups))
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in slirps))
        assert all(group.is_dir() for group in groups)
        for group in groups:
            os.utime(group, (LONG_AGO, LONG_AGO))
        SandboxExecutor()
        assert not any(group.exists() for group in groups)
        # The volume it left mounted is adopted by the next user, and unmounted by its release.
        assert os.path.ismount(mountpoint)
        HOST_MOUNTS.acquire(tmp_path / "volume", 4)
        HOST_MOUNTS.release(tmp_path / "volume")
        assert not os.path.ismount(mountpoint)
    finally:
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", str(mountpoint)], check=False)
