"""Persistent volumes of the sandbox: ext4 images of their size, loop-mounted on the host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from alephnet.crn.executors.base import ExecutorError, VolumeKind, VolumeSpec
from alephnet.crn.executors.disk_images import PERSISTENT_IMAGE
from alephnet.crn.executors.sandbox import SandboxExecutor
from alephnet.crn.executors.sandbox.volumes import HOST_MOUNTS, MOUNT_FOLDER
from tests.crn.test_sandbox_executor import call, probe_spec, running


def persistent(folder: Path, size_mib: int = 4) -> VolumeSpec:
    return VolumeSpec("/data", VolumeKind.PERSISTENT, folder, size_mib=size_mib)


async def test_writing_past_the_size_fails_and_content_survives(tmp_path: Path) -> None:
    volume = persistent(tmp_path / "volume")
    spec = probe_spec(tmp_path, volumes=(volume,))
    async with running(spec) as execution:
        assert await call(execution, "/write", "path=/data/count", b"42") == "written"
        answer = await call(execution, "/write", "path=/data/big", b"x" * 5_000_000)
        assert "No space left on device" in answer
        assert os.path.ismount(tmp_path / "volume" / MOUNT_FOLDER)
    # Stopped: unmounted, and the image takes only what was written (sparse).
    assert not os.path.ismount(tmp_path / "volume" / MOUNT_FOLDER)
    image = tmp_path / "volume" / PERSISTENT_IMAGE
    assert image.stat().st_size == 4 * 1024 * 1024
    async with running(spec) as execution:
        assert await call(execution, "/read", "path=/data/count") == "42"


async def test_two_executions_share_one_mount(tmp_path: Path) -> None:
    volume = persistent(tmp_path / "volume")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with running(probe_spec(tmp_path / "a", volumes=(volume,))) as first:
        async with running(probe_spec(tmp_path / "b", volumes=(volume,))) as second:
            assert HOST_MOUNTS.users(volume.host_path or Path()) == 2
            await call(first, "/write", "path=/data/shared", b"from the first")
            assert await call(second, "/read", "path=/data/shared") == "from the first"
        assert os.path.ismount(tmp_path / "volume" / MOUNT_FOLDER)  # the first still uses it
        assert await call(first, "/read", "path=/data/shared") == "from the first"
    assert HOST_MOUNTS.users(volume.host_path or Path()) == 0
    assert not os.path.ismount(tmp_path / "volume" / MOUNT_FOLDER)


async def test_a_folder_volume_of_the_old_layout_is_migrated(tmp_path: Path) -> None:
    legacy = tmp_path / "volume" / "data"
    (legacy / "nested").mkdir(parents=True)
    (legacy / "nested" / "count").write_text("7")
    async with running(probe_spec(tmp_path, volumes=(persistent(tmp_path / "volume"),))) as run:
        assert await call(run, "/read", "path=/data/nested/count") == "7"
    assert not legacy.exists()
    assert (tmp_path / "volume" / PERSISTENT_IMAGE).is_file()


async def test_a_mount_left_by_a_killed_crn_is_adopted(tmp_path: Path) -> None:
    volume = persistent(tmp_path / "volume")
    spec = probe_spec(tmp_path, volumes=(volume,))
    async with running(spec) as execution:
        await call(execution, "/write", "path=/data/count", b"1")
    # As if a killed CRN had left it mounted: mounted behind the registry's back.
    mountpoint = tmp_path / "volume" / MOUNT_FOLDER
    image = tmp_path / "volume" / PERSISTENT_IMAGE
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
    async with running(spec) as execution:
        assert await call(execution, "/read", "path=/data/count") == "1"
        assert len(loop_devices_of(image)) == 1  # adopted, not mounted a second time
    assert not os.path.ismount(mountpoint)
    assert not loop_devices_of(image)


def loop_devices_of(image: Path) -> list[str]:
    command = ["losetup", "--associated", str(image)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()


async def test_old_data_larger_than_the_volume_is_kept(tmp_path: Path) -> None:
    legacy = tmp_path / "volume" / "data"
    legacy.mkdir(parents=True)
    (legacy / "big").write_bytes(os.urandom(5_000_000))
    spec = probe_spec(tmp_path, volumes=(persistent(tmp_path / "volume"),))
    with pytest.raises(ExecutorError, match=r"mkfs.ext4 of .*volume.ext4 \(4 MiB\) failed"):
        await SandboxExecutor().start(spec)
    assert (legacy / "big").stat().st_size == 5_000_000
    assert not (tmp_path / "volume" / PERSISTENT_IMAGE).exists()
