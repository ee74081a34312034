"""The executor interface: one `start(spec)` that returns a running, configured execution.

An executor owns everything specific to its isolation technology: how the guest process or
VM is launched, how code and volumes reach it, how limits are enforced, how it is killed.
The supervisor sees only `Execution`: a `GuestLink` to send requests on, a way to stop it,
and why it ended.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from alephnet.crn.executors.guest_link import GuestLink


@dataclass(frozen=True)
class Resources:
    vcpus: int
    memory_mib: int
    # The per-request time limit (the message's `resources.seconds`).
    seconds: float


@dataclass(frozen=True)
class CodeSpec:
    # The STORE'd file on the host: a zip, a squashfs image, or plain source.
    path: Path
    encoding: str  # "plain", "zip" or "squashfs"
    entrypoint: str
    interface: str  # "asgi" or "executable"
    args: list[str] | None = None


class VolumeKind(enum.StrEnum):
    IMMUTABLE = "immutable"  # a STORE'd squashfs image, read-only
    EPHEMERAL = "ephemeral"  # size-limited scratch space, gone when the execution stops
    PERSISTENT = "persistent"  # survives restarts of the program and of the CRN


@dataclass(frozen=True)
class VolumeSpec:
    mount: str
    kind: VolumeKind
    # IMMUTABLE: the squashfs image file. PERSISTENT: the volume's folder under the CRN data
    # dir, where the executor keeps its disk image (or directory) between executions.
    # EPHEMERAL: None.
    host_path: Path | None
    size_mib: int | None = None
    read_only: bool = False


@dataclass(frozen=True)
class ExecutionSpec:
    vm_hash: str
    resources: Resources
    code: CodeSpec
    internet: bool
    variables: dict[str, str] = field(default_factory=dict)
    volumes: tuple[VolumeSpec, ...] = ()
    # The runtime root filesystem image (squashfs); None lets the executor use its own default.
    runtime_path: Path | None = None
    # A folder for this execution only (sockets, overlays, logs); the executor may fill it and
    # the supervisor removes it after the execution ends.
    work_dir: Path = Path()
    api_host: str | None = None


class ExitReason(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # halted or terminated on request
    EXITED = "exited"  # the guest ended by itself (a crash, an exit)
    OUT_OF_MEMORY = "out_of_memory"
    FAILED_TO_START = "failed_to_start"


class ExecutorError(Exception):
    """The executor could not start or configure the guest; the message says why."""


class Execution(Protocol):
    """One running guest."""

    @property
    def link(self) -> GuestLink: ...

    @property
    def exit_reason(self) -> ExitReason: ...

    async def wait(self) -> ExitReason:
        """Return once the guest is gone."""
        ...

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Halt the guest politely, then kill whatever is left after `grace_seconds`."""
        ...


class Executor(Protocol):
    name: str

    async def start(self, spec: ExecutionSpec) -> Execution:
        """Launch the guest, wait for READY, send CONFIGURE; return once CONFIGURED succeeded.

        Raises `ExecutorError` (with the guest's error and traceback when it has one) and leaves
        nothing running behind when it fails.
        """
        ...


@dataclass(frozen=True)
class PortForward:
    """Where a guest port is reached on the CRN: `host` on 127.0.0.1, over TCP, UDP or both
    (the same host port for both, as the reference maps them)."""

    host: int
    tcp: bool = True
    udp: bool = False


@dataclass(frozen=True)
class InstanceSpec:
    """A whole VM booted from its own disk (an INSTANCE message), reached over SSH.

    Unlike a program there is no guest runtime to talk to: the VM runs the image's own init,
    and the host reaches it only through the ports it forwards."""

    vm_hash: str
    vcpus: int
    memory_mib: int
    # The STORE'd parent image (raw ext4) the VM's disk is first copied from.
    parent_image: Path
    # The VM's own disk: made from the parent and grown to `size_mib` on the first start, then
    # kept across stops, reboots and CRN restarts until the owner erases it.
    disk_path: Path
    size_mib: int
    authorized_keys: tuple[str, ...]
    hostname: str
    # Guest port -> where it is reached on the host (22/tcp is always there), chosen by the
    # supervisor.
    forwarded_ports: dict[int, PortForward]
    internet: bool = True
    volumes: tuple[VolumeSpec, ...] = ()
    work_dir: Path = Path()


class InstanceExecution(Protocol):
    """One running instance VM."""

    @property
    def exit_reason(self) -> ExitReason: ...

    @property
    def ready(self) -> bool:
        """Whether the guest answers on its SSH port (its boot is over)."""
        ...

    @property
    def console_path(self) -> Path:
        """The VM's serial console output: its owner's logs."""
        ...

    async def wait(self) -> ExitReason:
        """Return once the VM is gone."""
        ...

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Ask the guest to power off (ACPI), then kill whatever is left after the grace."""
        ...


class InstanceExecutor(Protocol):
    """An executor that can also boot instances (the micro-VM executor; never the sandbox)."""

    async def start_instance(self, spec: InstanceSpec) -> InstanceExecution:
        """Prepare the disk (first start only), boot the VM; return once QEMU runs.

        Readiness comes later (`ready`); raises `ExecutorError` and leaves nothing running
        when the VM cannot start."""
        ...
