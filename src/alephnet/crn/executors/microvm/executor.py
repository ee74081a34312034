"""`MicroVMExecutor.start()`: boot a micro-VM for one program and configure its guest.

Start: images (cached), disks, QEMU; connect to the channel socket QEMU listens on; wait for
the guest runtime's READY (the whole boot: kernel, init, Python); CONFIGURE. Any failure
kills QEMU and raises `ExecutorError` with the end of the guest's console. The console comes
through a pipe into `console.log`, bounded like an instance's (`console`): a program writing
to its console without end does not fill the CRN's disk.

Stop: HALT through the link (the runtime stops the program and exits, the init reboots, and
`-no-reboot` makes QEMU exit), then QMP `quit`, then SIGKILL.

Out of memory: the program runs inside the guest runtime's process, so when the guest kernel
OOM-kills it the channel closes and the VM ends; the kernel's "Out of memory" line on the
console tells that apart from a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from alephnet.crn.executors.base import ExecutionSpec, ExecutorError, ExitReason, InstanceSpec
from alephnet.crn.executors.guest_configuration import guest_configuration
from alephnet.crn.executors.guest_link import GuestError, GuestFailure, GuestLink
from alephnet.crn.executors.microvm.accelerator import usable_accelerator
from alephnet.crn.executors.microvm.console import ConsolePipe
from alephnet.crn.executors.microvm.disks import ProgramDisks, program_disks
from alephnet.crn.executors.microvm.images import BootImages, boot_images
from alephnet.crn.executors.microvm.instance import MicroVMInstance, start_instance
from alephnet.crn.executors.microvm.qemu import (
    TRANSLATION_CACHE_MIB,
    VmFiles,
    VmShape,
    qemu_command,
)
from alephnet.crn.executors.microvm.qemu_process import (
    QemuVm,
    kill,
    qemu_and_console,
    remove_private_sockets,
    spawn,
    tail,
    vm_files,
)
from alephnet.crn.executors.microvm.qmp import QmpError
from alephnet.crn.executors.microvm.sdk_image import sdk_image
from alephnet.crn.executors.microvm.snapshot import (
    incoming_arguments,
    resume_restored_vm,
    save_ready_vm,
    snapshot_path,
)

logger = logging.getLogger(__name__)

# Under TCG on a loaded 2-core host a boot takes 5-15 s; KVM boots in about one.
BOOT_TIMEOUT = 120.0
CONFIGURE_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
OOM_MARKERS = (
    "Out of memory: Killed process",
    "Memory cgroup out of memory",
    "oom-kill:",
    "alephnet-init: out of memory",  # the init's own watch over the program's cgroup
)


@dataclass(frozen=True)
class _Launch:
    """What every attempt to start one execution shares."""

    spec: ExecutionSpec
    images: BootImages
    shape: VmShape
    disks: ProgramDisks


class _RestoreFailed(Exception):
    """The saved VM could not be restored (stale or damaged file): boot instead."""


class MicroVMExecution(QemuVm):
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        link: GuestLink,
        files: VmFiles,
        console: ConsolePipe,
    ):
        super().__init__(process, files)
        self._link = link
        self._console = console

    @property
    def link(self) -> GuestLink:
        return self._link

    @property
    def console_log(self) -> Path:
        return self._files.console

    async def wait(self) -> ExitReason:
        await self._process.wait()
        await self._console.drained()
        if self._exit_reason is ExitReason.RUNNING:
            self._exit_reason = self._ended_why()
            await self._release()
        return self._exit_reason

    async def stop(self, grace_seconds: float = 5.0) -> None:
        await self._shut_down(lambda: self._link.halt(grace_seconds), grace_seconds)
        await self.wait()

    def _ended_why(self) -> ExitReason:
        console = tail(self._files.console, 64 * 1024)
        if any(marker in console for marker in OOM_MARKERS):
            return ExitReason.OUT_OF_MEMORY
        return ExitReason.STOPPED if self._stop_requested else ExitReason.EXITED

    async def _release(self) -> None:
        await self._link.close()
        remove_private_sockets(self._files)


class MicroVMExecutor:
    """Programs (and instances) in QEMU micro-VMs: strong isolation, seconds of cold start
    under TCG.

    `accelerator` forces "kvm" or "tcg"; None probes KVM once (see `accelerator`).
    `snapshots` restores VMs without program disks from a saved booted VM (see `snapshot`).
    `translation_cache_mib` sizes each VM's TCG translation cache (see `qemu`)."""

    name = "microvm"

    def __init__(
        self,
        accelerator: str | None = None,
        boot_timeout: float = BOOT_TIMEOUT,
        snapshots: bool = True,
        translation_cache_mib: int = TRANSLATION_CACHE_MIB,
    ):
        self._accelerator = accelerator
        self._boot_timeout = boot_timeout
        self._snapshots = snapshots
        self._translation_cache_mib = translation_cache_mib

    async def start(self, spec: ExecutionSpec) -> MicroVMExecution:
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        images = await asyncio.to_thread(program_images, spec.runtime_path)
        accelerator = self._accelerator or await usable_accelerator(images)
        disks = await asyncio.to_thread(program_disks, spec)
        resources = spec.resources
        shape = VmShape(
            accelerator,
            resources.vcpus,
            resources.memory_mib,
            spec.internet,
            self._translation_cache_mib,
        )
        launch = _Launch(spec, images, shape, disks)
        snapshot = snapshot_path(images, shape) if self._snapshots and not disks.disks else None
        if snapshot is not None and snapshot.exists():
            try:
                return await self._launch(launch, snapshot, restore=True)
            except _RestoreFailed as failure:
                logger.warning("restoring %s failed (%s): booting", snapshot, failure.__cause__)
                snapshot.unlink(missing_ok=True)
        return await self._launch(launch, snapshot, restore=False)

    async def _launch(
        self, launch: _Launch, snapshot: Path | None, restore: bool
    ) -> MicroVMExecution:
        files = vm_files(launch.spec.work_dir)
        console = ConsolePipe(files.console)
        command = qemu_command(
            launch.images, launch.shape, launch.disks.disks, files, console.qemu_fd
        )
        if snapshot is not None and restore:
            command += incoming_arguments(snapshot)
        try:
            process = await spawn(
                command, launch.spec.work_dir / "qemu.log", pass_fds=(console.qemu_fd,)
            )
        except BaseException:
            console.abandon()
            raise
        link: GuestLink | None = None
        configuring = False
        try:
            await console.follow()
            link = await _connect(process, files.channel)
            if restore:
                await resume_restored_vm(files.qmp)
            else:
                await link.wait_ready(self._boot_timeout)
                if snapshot is not None:
                    await _try_saving(files.qmp, snapshot)
            configuring = True
            await self._configure(link, launch.spec, launch.disks)
        except BaseException as error:
            await kill(process)
            await console.drained()
            if link is not None:
                await link.close()
            remove_private_sockets(files)
            if not isinstance(error, Exception):
                raise
            if restore and not configuring:
                raise _RestoreFailed() from error
            raise _start_failure(error, files, launch.spec.work_dir) from error
        return MicroVMExecution(process, link, files, console)

    async def start_instance(self, spec: InstanceSpec) -> MicroVMInstance:
        """Boot an instance VM from its own disk (see `instance`)."""
        return await start_instance(spec, self._accelerator, self._translation_cache_mib)

    async def _configure(self, link: GuestLink, spec: ExecutionSpec, disks: ProgramDisks) -> None:
        configuration = guest_configuration(spec, disks.code_mount, disks.volumes)
        code = b"" if spec.code.encoding == "squashfs" else spec.code.path.read_bytes()
        await link.configure(configuration, code, CONFIGURE_TIMEOUT)


def program_images(runtime: Path | None = None) -> BootImages:
    """What a program VM boots: our kernel and initramfs, `runtime` (the PROGRAM's runtime,
    downloaded) or our runtime rootfs, and the SDK image."""
    images = boot_images()
    return BootImages(images.kernel, images.initramfs, runtime or images.rootfs, sdk_image())


async def _try_saving(qmp: Path, snapshot: Path) -> None:
    """Save the freshly booted VM for later starts; a failure costs only the speed-up."""
    try:
        await save_ready_vm(qmp, snapshot)
    except QmpError as error:
        logger.warning("saving the booted micro-VM failed (%s): the next start boots", error)


async def _connect(process: asyncio.subprocess.Process, socket: Path) -> GuestLink:
    """Connect to the channel socket as soon as QEMU listens on it."""
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            reader, writer = await asyncio.open_unix_connection(str(socket), limit=2**20)
        except OSError:
            if process.returncode is not None or time.monotonic() > deadline:
                raise ExecutorError("QEMU did not open the guest channel") from None
            await asyncio.sleep(0.02)
        else:
            return GuestLink(reader, writer)


def _start_failure(error: Exception, files: VmFiles, work_dir: Path) -> ExecutorError:
    if isinstance(error, GuestFailure):
        return ExecutorError(
            f"the guest could not start the program: {error.error}\n{error.traceback}"
        )
    what = {
        TimeoutError: "the micro-VM did not boot in time",
        GuestError: "the micro-VM ended during boot",
    }
    reason = next((text for kind, text in what.items() if isinstance(error, kind)), str(error))
    return ExecutorError(f"{reason}\n{qemu_and_console(work_dir, files)}")
