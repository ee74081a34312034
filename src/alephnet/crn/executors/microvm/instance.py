"""`MicroVMExecutor.start_instance()`: boot an instance VM from its own disk, reached by SSH.

Start: the disks (`instance_disks`: the rootfs copied from the parent and grown on the first
start, the config disk every start), then QEMU with our kernel and initramfs in instance
mode (`alephnet.instance`: our init mounts the rootfs and hands over to its init), the user
network forwarding `spec.forwarded_ports` on 127.0.0.1. `start_instance` returns once QEMU
answers on QMP (the forwarding rules are in place); `ready` turns true later, when the guest's
SSH port sends an `SSH-` banner, polled in the background until then. Its console is read
from a pipe into `console.log`, bounded (`console`).

Stop: QMP `system_powerdown` (the ACPI power button: the image's acpid runs `poweroff`), then
QMP `quit`, then SIGKILL, within the grace (a few seconds only while the guest is still
booting). A guest that powers off or reboots by itself ends QEMU (`-no-reboot`): `exited`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from alephnet.crn.executors.base import ExecutorError, ExitReason, InstanceSpec
from alephnet.crn.executors.microvm.accelerator import usable_accelerator
from alephnet.crn.executors.microvm.console import ConsolePipe
from alephnet.crn.executors.microvm.images import boot_files
from alephnet.crn.executors.microvm.instance_disks import instance_disks
from alephnet.crn.executors.microvm.qemu import VmFiles, VmShape, instance_command
from alephnet.crn.executors.microvm.qemu_process import (
    QemuVm,
    kill,
    qemu_and_console,
    remove_private_sockets,
    spawn,
    vm_files,
)
from alephnet.crn.executors.microvm.qmp import QmpError, qmp_execute

SSH_PORT = 22
QEMU_START_TIMEOUT = 30.0
READY_POLL_SECONDS = 0.5
BANNER_TIMEOUT = 5.0
BOOTING_GRACE = 5.0


class MicroVMInstance(QemuVm):
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        files: VmFiles,
        console: ConsolePipe,
        ssh_port: int,
    ):
        super().__init__(process, files)
        self._console = console
        # When the SSH banner first came (monotonic clock): the boot time.
        self.ready_at: float | None = None
        self._watch = asyncio.create_task(self._watch_ssh(ssh_port))

    @property
    def ready(self) -> bool:
        return self.ready_at is not None

    @property
    def console_path(self) -> Path:
        return self._files.console

    async def wait(self) -> ExitReason:
        await self._process.wait()
        await self._console.drained()
        if self._exit_reason is ExitReason.RUNNING:
            self._exit_reason = ExitReason.STOPPED if self._stop_requested else ExitReason.EXITED
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            remove_private_sockets(self._files)
        return self._exit_reason

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """A guest still booting may not handle the power button yet (its acpid is not up):
        it gets `BOOTING_GRACE` seconds at most, not the whole grace."""
        if not self.ready:
            grace_seconds = min(grace_seconds, BOOTING_GRACE)
        await self._shut_down(lambda: _power_down(self._files.qmp), grace_seconds)
        await self.wait()

    async def _watch_ssh(self, port: int) -> None:
        while self._process.returncode is None:
            if await ssh_answers(port):
                self.ready_at = time.monotonic()
                return
            await asyncio.sleep(READY_POLL_SECONDS)


async def start_instance(
    spec: InstanceSpec, accelerator: str | None, translation_cache_mib: int
) -> MicroVMInstance:
    if SSH_PORT not in spec.forwarded_ports:
        raise ExecutorError("an instance needs a host port forwarded to its SSH port (22)")
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    boot = await asyncio.to_thread(boot_files)
    accelerator = accelerator or await usable_accelerator(boot)
    disks = await asyncio.to_thread(instance_disks, spec)
    shape = VmShape(accelerator, spec.vcpus, spec.memory_mib, spec.internet, translation_cache_mib)
    files = vm_files(spec.work_dir)
    console = ConsolePipe(files.console)
    command = instance_command(
        boot, shape, disks, files, spec.forwarded_ports, console_fd=console.qemu_fd
    )
    try:
        process = await spawn(command, spec.work_dir / "qemu.log", pass_fds=(console.qemu_fd,))
    except BaseException:
        console.abandon()
        raise
    try:
        await console.follow()
        await _answers_qmp(process, files.qmp)
    except BaseException as error:
        await kill(process)
        await console.drained()
        remove_private_sockets(files)
        if not isinstance(error, Exception):
            raise
        raise ExecutorError(
            f"QEMU did not start the instance\n{qemu_and_console(spec.work_dir, files)}"
        ) from error
    return MicroVMInstance(process, files, console, spec.forwarded_ports[SSH_PORT].host)


async def ssh_answers(port: int, host: str = "127.0.0.1") -> bool:
    """Whether an SSH server greets on `port`: QEMU accepts forwarded connections itself,
    so only the banner tells that the guest's sshd is up."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), BANNER_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    try:
        banner = await asyncio.wait_for(reader.readline(), BANNER_TIMEOUT)
    except (OSError, TimeoutError, ValueError):
        return False
    finally:
        writer.close()
    return banner.startswith(b"SSH-")


async def _answers_qmp(process: asyncio.subprocess.Process, qmp: Path) -> None:
    """QEMU serves QMP once its devices and forwarding rules are set up; it exits if a
    forwarded port is taken."""
    deadline = time.monotonic() + QEMU_START_TIMEOUT
    while True:
        try:
            await qmp_execute(qmp, ("query-status", {}))
            return
        except QmpError:
            if process.returncode is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _power_down(qmp: Path) -> bool:
    try:
        await qmp_execute(qmp, ("system_powerdown", {}))
    except QmpError:
        return False
    return True
