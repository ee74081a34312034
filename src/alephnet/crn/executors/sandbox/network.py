"""Internet for a sandbox without the host's network: its own namespace behind slirp4netns.

Sharing the host's network namespace would also share its loopback, so a program could call
the CRN's API, the CCN and every local service on 127.0.0.1. Instead a sandbox with internet
keeps its own network namespace, and slirp4netns (user-mode networking, as rootless Podman
uses) gives it a `tap0` interface, 10.0.2.100/24, a default route through 10.0.2.2 and DNS at
10.0.2.3. Its packets leave as ordinary sockets of the slirp4netns process on the host.
`--disable-host-loopback` refuses connections to the host's 127.0.0.1 through the gateway.

The network namespace is made by `unshare --net` before bubblewrap starts (`--share-net`),
so it belongs to the host's user namespace: the program, root of its own user namespace
only, cannot change its interface, routes or firewall. (A namespace of bubblewrap's own
would also race with bubblewrap setting up its loopback while slirp4netns configures.)
The sandbox must not run before its interface is up: bubblewrap reports the sandbox's PID
on `--info-fd` and waits on `--block-fd` until `release()` writes to it.
slirp4netns runs as a host process outside the program's cgroup (its memory is not the
program's), in its own mount namespace with a seccomp filter (`--enable-sandbox`,
`--enable-seccomp`). It ends when the execution closes its exit pipe, or when the CRN dies
(the pipe closes with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from typing import IO

from alephnet.crn.executors.base import ExecutorError

SLIRP_ATTACH_TIMEOUT = 10.0
SLIRP_STOP_TIMEOUT = 2.0
# The largest MTU slirp4netns allows: fewer, bigger packets through the user-mode stack.
SLIRP_MTU = 65520
TAP_DEVICE = "tap0"


def require_slirp4netns() -> None:
    if shutil.which("slirp4netns") is None:
        raise ExecutorError("a sandbox with internet needs slirp4netns (`apt install slirp4netns`)")


class SandboxGate:
    """The pipes that hold a sandbox back until its network is ready.

    `bwrap_arguments()` goes on bubblewrap's command line and `inherited` are the fds to pass
    to it; `started()` closes this process's copies of them once bubblewrap runs.
    """

    def __init__(self) -> None:
        self._info_read, self._info_write = os.pipe()
        self._block_read, self._block_write = os.pipe()
        self._open = {self._info_read, self._info_write, self._block_read, self._block_write}

    @property
    def inherited(self) -> list[int]:
        return [self._info_write, self._block_read]

    def bwrap_arguments(self) -> list[str]:
        return ["--info-fd", str(self._info_write), "--block-fd", str(self._block_read)]

    def started(self) -> None:
        self._close(*self.inherited)

    async def sandbox_pid(self) -> int:
        """The host PID of the sandbox's first process, as bubblewrap reports it."""
        self._open.discard(self._info_read)  # the pipe object owns it now
        report = await read_to_end(os.fdopen(self._info_read, "rb", buffering=0))
        try:
            return int(json.loads(report)["child-pid"])
        except (ValueError, KeyError, TypeError) as error:
            raise ExecutorError(f"bubblewrap reported no sandbox PID: {report!r}") from error

    def release(self) -> None:
        """Let the sandbox run its command."""
        os.write(self._block_write, b"1")
        self.close()

    def close(self) -> None:
        """Close what is left open (a sandbox never released reads end-of-file and goes on)."""
        self._close(*self._open)

    def _close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._open:
                self._open.discard(fd)
                os.close(fd)


class UserModeNetwork:
    """One slirp4netns process serving one sandbox's network namespace."""

    def __init__(self, process: asyncio.subprocess.Process, exit_write: int) -> None:
        self._process = process
        self._exit_write = exit_write

    @classmethod
    async def attach(cls, pid: int) -> UserModeNetwork:
        """Give the network namespace of `pid` an interface and a route, and wait until up."""
        ready_read, ready_write = os.pipe()
        exit_read, exit_write = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *slirp_command(pid, ready_write, exit_read),
                pass_fds=[ready_write, exit_read],
                stdin=asyncio.subprocess.DEVNULL,
                # Not piped: a long-lived process could fill a pipe nobody reads and stall.
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            for fd in (ready_read, exit_write):
                os.close(fd)
            raise
        finally:
            os.close(ready_write)
            os.close(exit_read)
        network = cls(process, exit_write)
        try:
            await network._wait_ready(os.fdopen(ready_read, "rb", buffering=0))
        except BaseException:
            await network.close()
            raise
        return network

    async def close(self) -> None:
        """End slirp4netns: closing its exit pipe asks it to; a kill makes sure."""
        if self._exit_write >= 0:
            os.close(self._exit_write)
            self._exit_write = -1
        try:
            await asyncio.wait_for(self._process.wait(), SLIRP_STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()

    async def _wait_ready(self, ready: IO[bytes]) -> None:
        try:
            signal = await asyncio.wait_for(read_to_end(ready, 1), SLIRP_ATTACH_TIMEOUT)
        except TimeoutError:
            signal = b""
        if signal != b"1":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), SLIRP_STOP_TIMEOUT)
            status = self._process.returncode
            outcome = "no answer" if status is None else f"exit status {status}"
            raise ExecutorError(f"slirp4netns could not set up the sandbox's network ({outcome})")


def slirp_command(pid: int, ready_fd: int, exit_fd: int) -> list[str]:
    return [
        "slirp4netns",
        "--configure",
        f"--mtu={SLIRP_MTU}",
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
        f"--ready-fd={ready_fd}",
        f"--exit-fd={exit_fd}",
        # By path: slirp4netns then stays in the host's user namespace, which owns this one.
        "--netns-type=path",
        f"/proc/{pid}/ns/net",
        TAP_DEVICE,
    ]


async def read_to_end(pipe: IO[bytes], limit: int = -1) -> bytes:
    """Read a pipe until its writer closes it (or `limit` bytes), without blocking the loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        return await (reader.read() if limit < 0 else reader.read(limit))
    finally:
        transport.close()
