"""The sandbox executor: the guest runtime as a host process inside bubblewrap and a cgroup.

Faster to start and lighter than the micro-VM, but weaker isolation: the program shares the
host's kernel, and namespaces are the only wall between them (see docs/crn-sandbox.md).

The process tree is `sh` (joins the cgroup, then execs) → `bwrap` → the guest runtime. The
guest talks over one end of a socket pair, inherited as a file descriptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import uuid
from collections import deque

from alephnet.crn.executors.base import (
    ExecutionSpec,
    ExecutorError,
    ExitReason,
)
from alephnet.crn.executors.guest_link import GuestError, GuestFailure, GuestLink
from alephnet.crn.executors.sandbox.cgroups import Cgroup, create_cgroup, destroy
from alephnet.crn.executors.sandbox.mounts import (
    CODE_FOLDER,
    ProgramMounts,
    RuntimeRoot,
    program_mounts,
)
from alephnet.crn.guest.configuration import GuestConfiguration

STARTUP_TIMEOUT = 30.0
# The guest waits up to 30 s for the app's lifespan startup; configuring allows for that.
CONFIGURE_TIMEOUT = 60.0
DEFAULT_PIDS_MAX = 256
STDERR_TAIL_BYTES = 16 * 1024
# Joins the cgroups given as arguments up to `--`, then becomes the command that follows.
JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'


class SandboxExecution:
    def __init__(
        self, vm_hash: str, process: asyncio.subprocess.Process, link: GuestLink, cgroup: Cgroup
    ) -> None:
        self.vm_hash = vm_hash
        self._process = process
        self._link = link
        self._cgroup = cgroup
        self._reason = ExitReason.RUNNING
        self._stopping = False
        self._stderr: deque[bytes] = deque()
        self._stderr_task = asyncio.create_task(self._keep_stderr(), name="sandbox-stderr")
        self._monitor = asyncio.create_task(self._watch(), name=f"sandbox-{vm_hash[:12]}")

    @property
    def link(self) -> GuestLink:
        return self._link

    @property
    def exit_reason(self) -> ExitReason:
        return self._reason

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def cgroup(self) -> Cgroup:
        return self._cgroup

    def stderr_tail(self) -> str:
        """What bwrap or the interpreter printed before the guest took over its output."""
        return b"".join(self._stderr).decode(errors="replace").strip()

    async def wait(self) -> ExitReason:
        await asyncio.shield(self._monitor)
        return self._reason

    async def stop(self, grace_seconds: float = 5.0) -> None:
        if not self._monitor.done():
            self._stopping = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt(grace_seconds), grace_seconds)
            await destroy(self._cgroup)
        await self.wait()

    async def _halt(self, timeout: float) -> None:
        if await self._link.halt(timeout):
            await self._process.wait()

    async def _watch(self) -> None:
        """Wait for the tree's first process to end, say why, and leave nothing behind."""
        await self._process.wait()
        oom = self._cgroup.oom_killed()
        with contextlib.suppress(OSError):
            await destroy(self._cgroup)
        await self._link.close()
        await self._stderr_task
        if oom:
            self._reason = ExitReason.OUT_OF_MEMORY
        elif self._stopping:
            self._reason = ExitReason.STOPPED
        else:
            self._reason = ExitReason.EXITED

    async def _keep_stderr(self) -> None:
        assert self._process.stderr is not None
        size = 0
        while chunk := await self._process.stderr.read(4096):
            self._stderr.append(chunk)
            size += len(chunk)
            while size > STDERR_TAIL_BYTES:
                size -= len(self._stderr.popleft())


class SandboxExecutor:
    """Runs each program as a host process in namespaces (bubblewrap) with cgroup limits.

    Faster and lighter than the micro-VM, but weaker isolation: the program shares the host's
    kernel.
    """

    name = "sandbox"

    def __init__(
        self, runtime: RuntimeRoot | None = None, pids_max: int = DEFAULT_PIDS_MAX
    ) -> None:
        self._runtime = runtime or RuntimeRoot.of_this_process()
        self._pids_max = pids_max
        if shutil.which("bwrap") is None:
            raise ExecutorError("the sandbox executor needs bubblewrap (`apt install bubblewrap`)")

    async def start(self, spec: ExecutionSpec) -> SandboxExecution:
        mounts = await program_mounts(spec)
        name = f"{spec.vm_hash[:16]}-{uuid.uuid4().hex[:8]}"
        cgroup = create_cgroup(name, spec.resources, self._pids_max)
        try:
            execution = await self._launch(spec, mounts, cgroup)
        except BaseException:
            await destroy(cgroup)
            raise
        try:
            await execution.link.wait_ready(STARTUP_TIMEOUT)
            await execution.link.configure(
                self._configuration(spec, mounts), mounts.code, CONFIGURE_TIMEOUT
            )
        except (GuestError, TimeoutError) as error:
            await execution.stop(grace_seconds=0)
            raise ExecutorError(start_failure(error, execution)) from error
        except BaseException:
            await execution.stop(grace_seconds=0)
            raise
        return execution

    async def _launch(
        self, spec: ExecutionSpec, mounts: ProgramMounts, cgroup: Cgroup
    ) -> SandboxExecution:
        host_end, guest_end = socket.socketpair()
        with guest_end:
            command = [
                "sh",
                "-c",
                JOIN_CGROUPS,
                "sh",
                *(str(path) for path in cgroup.procs_files),
                "--",
                *self._bwrap_command(spec, mounts, guest_end.fileno()),
            ]
            process = await asyncio.create_subprocess_exec(
                *command,
                pass_fds=[guest_end.fileno()],
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        reader, writer = await asyncio.open_connection(sock=host_end, limit=2**20)
        return SandboxExecution(spec.vm_hash, process, GuestLink(reader, writer), cgroup)

    def _bwrap_command(self, spec: ExecutionSpec, mounts: ProgramMounts, fd: int) -> list[str]:
        isolation = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        if spec.internet:
            isolation.append("--share-net")
        environment = {
            # The runtime's own interpreter first: a program's `python3` is the guest's.
            "PATH": f"{self._runtime.interpreter.parent}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": self._runtime.python_path,
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        return [
            "bwrap",
            *isolation,
            "--hostname",
            f"vm-{spec.vm_hash[:12]}",
            "--clearenv",
            *(argument for item in environment.items() for argument in ("--setenv", *item)),
            *self._runtime.bwrap_arguments(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            *mounts.arguments,
            "--chdir",
            "/tmp",
            str(self._runtime.interpreter),
            # No `site`: it costs a third of the interpreter's start (this host's site-packages
            # import certifi through a .pth); PYTHONPATH already lists the packages.
            "-S",
            "-m",
            "alephnet.crn.guest",
            "--channel-fd",
            str(fd),
            "--code-dir",
            CODE_FOLDER,
        ]

    @staticmethod
    def _configuration(spec: ExecutionSpec, mounts: ProgramMounts) -> GuestConfiguration:
        return GuestConfiguration(
            vm_hash=spec.vm_hash,
            interface=spec.code.interface,
            encoding=spec.code.encoding,
            entrypoint=spec.code.entrypoint,
            code_mount=mounts.code_mount,
            args=spec.code.args,
            variables=dict(spec.variables),
            volumes=mounts.volumes,
            api_host=spec.api_host,
        )


def start_failure(error: BaseException, execution: SandboxExecution) -> str:
    """Why a start failed, with the guest's traceback or the sandbox's own error output."""
    if isinstance(error, GuestFailure):
        return f"the program failed to start: {error.error}\n{error.traceback}".strip()
    if isinstance(error, TimeoutError):
        reason = "the guest did not answer in time"
    elif execution.exit_reason is ExitReason.OUT_OF_MEMORY:
        reason = "the program ran out of memory while starting"
    else:
        reason = f"the guest ended before it was configured ({error})"
    tail = execution.stderr_tail()
    return f"{reason}: {tail}" if tail else reason
