"""Memory, CPU and process-count limits for one sandbox, in cgroup v1 or v2.

Hosts differ: most run the unified v2 hierarchy, some (these machines) the v1 hybrid layout
with one hierarchy per controller under `/sys/fs/cgroup/<controller>/`. `create_cgroup`
detects which at start. Either way the sandbox's first process writes its own pid into
`procs_files` before it execs bubblewrap, so everything it starts is limited from the first
instruction.

v1 groups nest under the CRN's own group of each controller (limits above it still apply);
v2 groups go under `/sys/fs/cgroup/alephnet-sandbox/`, because v2 forbids enabling
controllers for the children of a group that holds processes (the CRN's own group does).
Memory limits forbid swap: a program over its memory is killed, not slowed to a crawl.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Protocol

from alephnet.crn.executors.base import ExecutorError, Resources

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_NAME = "alephnet-sandbox"
CPU_PERIOD_US = 100_000
KILL_TIMEOUT = 5.0
V1_CONTROLLERS = ("memory", "cpu", "pids")
# An empty group younger than this may be one that another CRN just made and is about to
# fill (it writes the first pid after the limits): stale-group cleanup leaves it alone.
STALE_AFTER_SECONDS = 60.0


class Cgroup(Protocol):
    @property
    def procs_files(self) -> list[Path]:
        """Where the sandbox's first process writes its pid."""
        ...

    def pids(self) -> set[int]: ...

    def make(self) -> None:
        """Make the group's folders (the caller removes them if this fails halfway)."""
        ...

    def apply_limits(self, resources: Resources, pids_max: int) -> None:
        """Set (or change, for a spare sandbox taken by a program) the group's limits."""
        ...

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for want of memory."""
        ...

    def remove(self) -> None: ...


def create_cgroup(name: str, resources: Resources, pids_max: int) -> Cgroup:
    """The sandbox's group, made with its limits; a half-made group is removed again."""
    group = _unmade_group(name)
    try:
        group.make()
        group.apply_limits(resources, pids_max)
    except (OSError, ExecutorError) as error:
        group.remove()
        raise ExecutorError(f"cannot create the sandbox's cgroup: {error}") from error
    return group


def _unmade_group(name: str) -> Cgroup:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return CgroupV2(CGROUP_ROOT / GROUP_NAME / name)
    if (CGROUP_ROOT / "memory").is_dir():
        return CgroupV1(
            {
                controller: own_v1_group(controller) / GROUP_NAME / name
                for controller in V1_CONTROLLERS
            }
        )
    raise ExecutorError(f"no cgroup hierarchy under {CGROUP_ROOT}: cannot limit the sandbox")


def write(path: Path, value: str | int) -> None:
    try:
        path.write_text(str(value))
    except OSError as error:
        raise ExecutorError(f"cannot write {value!r} to {path}: {error}") from error


def read_counters(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file (`name value` per line)."""
    counters = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                counters[name] = int(value)
    return counters


def read_pids(procs: Path) -> set[int]:
    try:
        return {int(pid) for pid in procs.read_text().split()}
    except OSError:
        return set()


def remove_folder(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        folder.rmdir()


def own_v1_group(controller: str) -> Path:
    """This process's group in the v1 hierarchy of `controller` (from /proc/self/cgroup)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP_ROOT / controller / path.lstrip("/")
    return CGROUP_ROOT / controller


def group_parents() -> list[Path]:
    """The folders holding the per-execution groups, in whichever hierarchy this host has."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT / GROUP_NAME]
    if (CGROUP_ROOT / "memory").is_dir():
        return [own_v1_group(controller) / GROUP_NAME for controller in V1_CONTROLLERS]
    return []


def remove_stale_groups(min_age: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the empty per-execution groups a killed CRN left behind; return them.

    A killed CRN takes its sandboxes down (`--die-with-parent`) but cannot remove their
    groups. Groups that still hold a process (another CRN's live executions) stay, as do
    those made in the last `min_age` seconds.
    """
    removed = []
    now = time.time()
    for parent in group_parents():
        with contextlib.suppress(FileNotFoundError):
            for group in parent.iterdir():
                if is_stale(group, now - min_age):
                    with contextlib.suppress(OSError):  # filled or removed meanwhile
                        group.rmdir()
                        removed.append(group)
    return removed


def is_stale(group: Path, made_before: float) -> bool:
    try:
        return group.is_dir() and group.stat().st_mtime < made_before and not group_busy(group)
    except OSError:
        return False


def group_busy(group: Path) -> bool:
    return bool((group / "cgroup.procs").read_text().split())


class CgroupV1:
    def __init__(self, folders: dict[str, Path]) -> None:
        self._folders = folders

    def make(self) -> None:
        for folder in self._folders.values():
            folder.mkdir(parents=True)

    def apply_limits(self, resources: Resources, pids_max: int) -> None:
        memory = self._folders["memory"]
        limit = resources.memory_mib * 1024 * 1024
        files = [memory / "memory.limit_in_bytes"]
        if (memory / "memory.memsw.limit_in_bytes").exists():
            files.append(memory / "memory.memsw.limit_in_bytes")
        # memory+swap may never be below memory: raise it first, lower it last.
        if limit > int(files[0].read_text()):
            files.reverse()
        for path in files:
            write(path, limit)
        write(memory / "memory.swappiness", 0)
        write(self._folders["cpu"] / "cpu.cfs_period_us", CPU_PERIOD_US)
        write(self._folders["cpu"] / "cpu.cfs_quota_us", resources.vcpus * CPU_PERIOD_US)
        write(self._folders["pids"] / "pids.max", pids_max)

    @property
    def procs_files(self) -> list[Path]:
        return [folder / "cgroup.procs" for folder in self._folders.values()]

    def pids(self) -> set[int]:
        return set().union(*(read_pids(procs) for procs in self.procs_files))

    def oom_killed(self) -> bool:
        control = read_counters(self._folders["memory"] / "memory.oom_control")
        if "oom_kill" in control:
            return control["oom_kill"] > 0
        # Kernels before 4.13 do not count kills: having hit the limit is the best sign.
        with contextlib.suppress(OSError, ValueError):
            return int((self._folders["memory"] / "memory.failcnt").read_text()) > 0
        return False

    def remove(self) -> None:
        for folder in self._folders.values():
            remove_folder(folder)


class CgroupV2:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def make(self) -> None:
        for parent in (self._folder.parent.parent, self._folder.parent):
            parent.mkdir(exist_ok=True)
            write(parent / "cgroup.subtree_control", "+memory +cpu +pids")
        self._folder.mkdir()

    def apply_limits(self, resources: Resources, pids_max: int) -> None:
        folder = self._folder
        write(folder / "memory.max", resources.memory_mib * 1024 * 1024)
        if (folder / "memory.swap.max").exists():
            write(folder / "memory.swap.max", 0)
        write(folder / "cpu.max", f"{resources.vcpus * CPU_PERIOD_US} {CPU_PERIOD_US}")
        write(folder / "pids.max", pids_max)

    @property
    def procs_files(self) -> list[Path]:
        return [self._folder / "cgroup.procs"]

    def pids(self) -> set[int]:
        return read_pids(self._folder / "cgroup.procs")

    def oom_killed(self) -> bool:
        return read_counters(self._folder / "memory.events").get("oom_kill", 0) > 0

    def remove(self) -> None:
        remove_folder(self._folder)


async def kill_all(group: Cgroup) -> None:
    """SIGKILL every process of the group until none is left (or `KILL_TIMEOUT` passed).

    Signalling in rounds catches processes forked between reading the list and killing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_TIMEOUT
    while (pids := group.pids()) and loop.time() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.01)


async def destroy(group: Cgroup) -> None:
    """Kill what is left in the group and remove it; the kernel needs a moment after the kill."""
    await kill_all(group)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_TIMEOUT
    while True:
        try:
            group.remove()
            return
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.02)
