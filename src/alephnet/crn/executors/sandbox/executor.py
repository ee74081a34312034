"""The sandbox executor: the guest runtime as a host process inside bubblewrap and a cgroup.

Faster to start and lighter than the micro-VM, but weaker isolation: the program shares the
host's kernel, and namespaces are the only wall between them (see docs/crn-sandbox.md).

The process tree is `sh` (joins the cgroup, then execs) → `bwrap` → the guest runtime. The
guest talks over one end of a socket pair, inherited as a file descriptor. With `spares`,
that much is done ahead of demand (`spares.py`), and a start only configures the program.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import uuid
from collections.abc import Callable

from alephnet.crn.executors.base import ExecutionSpec, ExecutorError, Resources
from alephnet.crn.executors.guest_configuration import guest_configuration
from alephnet.crn.executors.guest_link import GuestError, GuestLink
from alephnet.crn.executors.sandbox.cgroups import (
    Cgroup,
    create_cgroup,
    destroy,
    kill_all,
    remove_stale_groups,
)
from alephnet.crn.executors.sandbox.execution import SandboxExecution, start_failure
from alephnet.crn.executors.sandbox.mounts import (
    CODE_FOLDER,
    CODE_TMPFS,
    ProgramMounts,
    RuntimeRoot,
    program_mounts,
)
from alephnet.crn.executors.sandbox.network import (
    SandboxGate,
    UserModeNetwork,
    require_slirp4netns,
)
from alephnet.crn.executors.sandbox.spares import SparePool
from alephnet.crn.executors.sandbox.syscalls import compile_filter, filter_pipe

STARTUP_TIMEOUT = 30.0
# The guest waits up to 30 s for the app's lifespan startup; configuring allows for that.
CONFIGURE_TIMEOUT = 60.0
DEFAULT_PIDS_MAX = 256
# The limits of a spare until a program takes it (then the program's own apply).
SPARE_RESOURCES = Resources(vcpus=1, memory_mib=128, seconds=0)
# Joins the cgroups given as arguments up to `--`, then becomes the command that follows.
JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'


logger = logging.getLogger(__name__)


class SandboxExecutor:
    """Runs each program as a host process in namespaces (bubblewrap) with cgroup limits.

    Faster and lighter than the micro-VM, but weaker isolation: the program shares the host's
    kernel. `spares` sandboxes are kept started ahead of demand for the programs that fit one
    (code sent inline, no volumes, no internet); call `close()` to stop them.
    """

    name = "sandbox"

    def __init__(
        self,
        runtime: RuntimeRoot | None = None,
        pids_max: int = DEFAULT_PIDS_MAX,
        spares: int = 0,
    ) -> None:
        if shutil.which("bwrap") is None:
            raise ExecutorError("the sandbox executor needs bubblewrap (`apt install bubblewrap`)")
        self._runtime = runtime or RuntimeRoot.of_this_process()
        self._runtime.precompile()
        self._pids_max = pids_max
        self._seccomp = compile_filter()
        self._spares = SparePool(spares, self._launch_spare)
        remove_leftovers()

    async def start(self, spec: ExecutionSpec) -> SandboxExecution:
        mounts = await program_mounts(spec)
        try:
            execution = self._take_spare(spec, mounts) or await self._launch(
                spec.vm_hash, spec.resources, spec.internet, mounts.arguments, mounts.release
            )
        except BaseException:
            mounts.release()
            raise
        try:
            await execution.link.wait_ready(STARTUP_TIMEOUT)
            await execution.link.configure(
                guest_configuration(spec, mounts.code_mount, mounts.volumes),
                mounts.code,
                CONFIGURE_TIMEOUT,
            )
        except (GuestError, TimeoutError) as error:
            await execution.stop(grace_seconds=0)
            raise ExecutorError(start_failure(error, execution)) from error
        except BaseException:
            await execution.stop(grace_seconds=0)
            raise
        return execution

    async def prestart(self) -> None:
        """Fill the pool of spare sandboxes (a CRN calls it once at start)."""
        await self._spares.fill()

    async def close(self) -> None:
        """Stop the spare sandboxes; running executions are the caller's to stop."""
        await self._spares.close()

    def _take_spare(self, spec: ExecutionSpec, mounts: ProgramMounts) -> SandboxExecution | None:
        if spec.internet or mounts.arguments != CODE_TMPFS:
            return None
        execution = self._spares.take()
        if execution is None:
            return None
        try:
            execution.cgroup.apply_limits(spec.resources, self._pids_max)
        except ExecutorError:
            self._spares.discard(execution)
            return None
        execution.vm_hash = spec.vm_hash
        return execution

    async def _launch_spare(self) -> SandboxExecution:
        execution = await self._launch("spare", SPARE_RESOURCES, False, CODE_TMPFS)
        try:
            await execution.link.wait_ready(STARTUP_TIMEOUT)
        except BaseException:
            await execution.stop(grace_seconds=0)
            raise
        return execution

    async def _launch(
        self,
        vm_hash: str,
        resources: Resources,
        internet: bool,
        mounts: list[str],
        release: Callable[[], None] | None = None,
    ) -> SandboxExecution:
        """Start bwrap in its cgroup; `release` runs once the sandbox is gone (see execution)."""
        if internet:
            require_slirp4netns()
        cgroup = create_cgroup(f"{vm_hash[:16]}-{uuid.uuid4().hex[:8]}", resources, self._pids_max)
        host_end, guest_end = socket.socketpair()
        gate = SandboxGate() if internet else None
        process = None
        try:
            with guest_end, filter_pipe(self._seccomp) as seccomp:
                bwrap = self._bwrap_command(vm_hash, mounts, guest_end.fileno(), seccomp, gate)
                process = await asyncio.create_subprocess_exec(
                    "sh",
                    "-c",
                    JOIN_CGROUPS,
                    "sh",
                    *(str(path) for path in cgroup.procs_files),
                    "--",
                    *bwrap,
                    pass_fds=[guest_end.fileno(), seccomp, *(gate.inherited if gate else [])],
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
            network = await self._connect(gate, cgroup) if gate else None
            reader, writer = await asyncio.open_connection(sock=host_end, limit=2**20)
        except BaseException:
            host_end.close()
            if gate is not None:
                gate.close()
            await destroy(cgroup)
            if process is not None:
                await process.wait()
            raise
        link = GuestLink(reader, writer)
        return SandboxExecution(vm_hash, process, link, cgroup, network, release)

    @staticmethod
    async def _connect(gate: SandboxGate, cgroup: Cgroup) -> UserModeNetwork:
        """Bring up the held-back sandbox's network, then let it run."""
        gate.started()
        try:
            network = await UserModeNetwork.attach(await gate.sandbox_pid())
        except BaseException:
            await kill_all(cgroup)
            raise
        gate.release()
        return network

    def _bwrap_command(
        self, vm_hash: str, mounts: list[str], fd: int, seccomp: int, gate: SandboxGate | None
    ) -> list[str]:
        isolation = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        isolation += ["--seccomp", str(seccomp)]
        launcher = ["bwrap"]
        if gate is not None:
            # A network namespace of the host's user namespace: the program cannot reconfigure
            # it, and slirp4netns can join it while bwrap is held at the gate (network.py).
            launcher = ["unshare", "--net", "bwrap"]
            isolation += ["--share-net", *gate.bwrap_arguments()]
        environment = {
            # The runtime's own interpreter first: a program's `python3` is the guest's.
            "PATH": f"{self._runtime.interpreter.parent}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": self._runtime.python_path,
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        return [
            *launcher,
            *isolation,
            "--hostname",
            f"vm-{vm_hash[:12]}",
            "--clearenv",
            *(argument for item in environment.items() for argument in ("--setenv", *item)),
            *self._runtime.bwrap_arguments(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            *mounts,
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


def remove_leftovers() -> None:
    """Remove the cgroups of the sandboxes of a CRN that was killed (see `cgroups`)."""
    removed = remove_stale_groups()
    if removed:
        names = ", ".join(sorted({group.name for group in removed}))
        logger.info("removed %d stale sandbox cgroup(s) of a killed CRN: %s", len(removed), names)
