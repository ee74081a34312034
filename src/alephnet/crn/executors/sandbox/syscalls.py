"""A seccomp filter for sandboxed programs: the shared kernel's riskiest system calls refused.

The program already runs without capabilities, so most of these calls would fail anyway;
the filter keeps their kernel code out of reach altogether, since a bug there is a way out
of the sandbox. It is a deny list (everything else allowed, so any Python program runs),
compiled once by libseccomp (through `pyseccomp`) into a BPF program that bubblewrap
installs just before it runs the guest (`--seccomp FD`, with no_new_privs): every process
of the program inherits it and cannot lift it. Refused calls fail with EPERM.

`clone3` fails with ENOSYS instead: its flags live in memory a filter cannot read, and
ENOSYS makes the C library fall back to `clone`, whose flags are checked here (no new
namespaces). libseccomp adds the architecture check: a call through another ABI (i386, x32) kills.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator

import pyseccomp as seccomp  # type: ignore[import-untyped]

from alephnet.crn.executors.base import ExecutorError

DENIED = (
    # Mounts and the file system tree: a way around the sandbox's mount namespace.
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    # New namespaces: nested user namespaces open up much of the kernel to exploits.
    "unshare",
    "setns",
    # Other processes' memory, and the kernel's.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    # Large kernel attack surfaces a web program has no need for.
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "fanotify_init",
    # The machine itself.
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "vhangup",
)
# <sched.h>'s CLONE_NEWNS, _NEWCGROUP, _NEWUTS, _NEWIPC, _NEWUSER, _NEWPID, _NEWNET (the os
# module has them from Python 3.12 on).
NAMESPACE_FLAGS = (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000)


def compile_filter() -> bytes:
    """The BPF program of the filter for this machine's architecture."""
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for name in DENIED:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        # clone's flags are its first argument on x86-64 and arm64 alike; one rule per flag,
        # as a comparison can only test that the masked bits equal a value.
        for flag in NAMESPACE_FLAGS:
            with_flag = seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)
            rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", with_flag)
        with tempfile.TemporaryFile() as output:
            rules.export_bpf(output)
            output.seek(0)
            return output.read()
    except (OSError, RuntimeError, ValueError) as error:
        raise ExecutorError(f"cannot build the sandbox's seccomp filter: {error}") from error


@contextlib.contextmanager
def filter_pipe(program: bytes) -> Iterator[int]:
    """A pipe holding the BPF `program` for bubblewrap to read; closed here on exit.

    A filter is a few hundred bytes, far less than a pipe holds: writing never blocks.
    """
    read_end, write_end = os.pipe()
    with open(write_end, "wb") as writer:
        writer.write(program)
    try:
        yield read_end
    finally:
        os.close(read_end)
