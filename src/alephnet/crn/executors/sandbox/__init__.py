"""The `sandbox` executor: bubblewrap namespaces + cgroup limits on the host.

Faster and lighter than the `microvm` executor, with weaker isolation (a shared kernel).
"""

from alephnet.crn.executors.sandbox.execution import SandboxExecution
from alephnet.crn.executors.sandbox.executor import SandboxExecutor

__all__ = ["SandboxExecution", "SandboxExecutor"]
