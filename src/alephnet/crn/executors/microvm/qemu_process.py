"""The QEMU process of one VM, program or instance: its files, launch, kill, console.

QEMU's sockets (QMP, the guest channel) live in the execution's work dir, or in a private
folder under /tmp when that path is too long for a unix socket (107 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from alephnet.crn.executors.base import ExitReason
from alephnet.crn.executors.microvm.qemu import VmFiles
from alephnet.crn.executors.microvm.qmp import qmp_quit

logger = logging.getLogger(__name__)

# A unix socket path is at most 107 bytes; longer work dirs get their sockets in /tmp.
MAX_SOCKET_PATH = 100


class QemuVm:
    """What a program's VM and an instance's share: their QEMU process and files, and why it
    ended (`_stop_requested` tells a stop asked for from a guest that ended by itself)."""

    def __init__(self, process: asyncio.subprocess.Process, files: VmFiles) -> None:
        self._process = process
        self._files = files
        self._stop_requested = False
        self._exit_reason = ExitReason.RUNNING
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def exit_reason(self) -> ExitReason:
        return self._exit_reason

    async def _shut_down(
        self, ask_guest: Callable[[], Awaitable[bool]], grace_seconds: float
    ) -> None:
        """End the VM the gentlest way that works: its guest asked first (`ask_guest` says
        whether the request went through) and given the rest of the grace to power off, then
        QMP `quit`, then SIGKILL."""
        self._stop_requested = True
        process = self._process
        if process.returncode is not None:
            return
        deadline = time.monotonic() + grace_seconds
        if await ask_guest():
            await exited_within(process, deadline - time.monotonic())
        if process.returncode is None and await qmp_quit(self._files.qmp):
            await exited_within(process, 2.0)
        await kill(process)


def vm_files(work_dir: Path) -> VmFiles:
    sockets = work_dir.resolve()
    private = None
    if len(str(sockets / "channel.sock")) > MAX_SOCKET_PATH:
        sockets = private = Path(tempfile.mkdtemp(prefix="alephnet-vm-"))
    return VmFiles(
        sockets / "channel.sock", sockets / "qmp.sock", work_dir / "console.log", private
    )


def remove_private_sockets(files: VmFiles) -> None:
    if files.private_dir is not None:
        shutil.rmtree(files.private_dir, ignore_errors=True)


async def spawn(
    command: list[str], log: Path, pass_fds: tuple[int, ...] = ()
) -> asyncio.subprocess.Process:
    logger.debug("starting %s", " ".join(command))
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            pass_fds=pass_fds,
        )


async def kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


async def exited_within(process: asyncio.subprocess.Process, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), max(seconds, 0.1))


def tail(path: Path, size: int) -> str:
    """The end of a log file (the guest's console, QEMU's output); "" when there is none."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - size))
            return file.read().decode(errors="replace")
    except OSError:
        return ""


def qemu_and_console(work_dir: Path, files: VmFiles) -> str:
    """What an `ExecutorError` shows of a VM that failed: QEMU's output and the console's end."""
    qemu_output = tail(work_dir / "qemu.log", 2000).strip()
    console = tail(files.console, 3000).strip()
    return f"QEMU: {qemu_output}\nconsole:\n{console}"
