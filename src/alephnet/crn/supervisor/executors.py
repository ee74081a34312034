"""The executor the settings name, and the runtime file the node publishes for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from alephnet.crn.executors.base import Executor, ExecutorError
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.runtime import sandbox_runtime_descriptor


class ExecutorUnavailable(RuntimeError):
    """The executor cannot run on this host (or is not part of this build); says why."""


@dataclass(frozen=True)
class ExecutorSetup:
    executor: Executor
    # The file published as the runtime STORE (see `runtime`); called once at start.
    runtime_file: Callable[[], Path]
    # Whether programs need their `runtime.ref` downloaded (the micro-VM boots it).
    needs_runtime: bool
    # Work the executor does ahead of demand once the node runs, and undoes when it stops.
    prestart: Callable[[], Awaitable[None]] | None = None
    close: Callable[[], Awaitable[None]] | None = None


def executor_setup(settings: CrnSettings) -> ExecutorSetup:
    """Imported here: each executor checks its host's tools when it is built."""
    try:
        if settings.executor == "microvm":
            from alephnet.crn.executors.microvm import MicroVMExecutor, runtime_rootfs

            rootfs = runtime_rootfs()  # refuses now, with what to do, when it is not built
            return ExecutorSetup(MicroVMExecutor(), lambda: rootfs, needs_runtime=True)
        from alephnet.crn.executors.sandbox import SandboxExecutor

        sandbox = SandboxExecutor(spares=settings.spare_sandboxes)
        return ExecutorSetup(
            sandbox,
            lambda: sandbox_runtime_descriptor(settings.data_dir / "runtime"),
            needs_runtime=False,
            prestart=sandbox.prestart,
            close=sandbox.close,
        )
    except ExecutorError as error:
        raise ExecutorUnavailable(
            f"the {settings.executor} executor cannot run: {error}"
        ) from error
