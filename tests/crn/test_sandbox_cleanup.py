"""A CRN that was killed leaves its sandboxes' empty cgroups: the next executor removes them."""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alephnet.crn.executors.sandbox import SandboxExecutor, cgroups

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
