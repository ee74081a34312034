"""Instance VMs booted for real (TCG here) from the built base image, reached over SSH.

The base image comes from the cache that `scripts/build-crn-runtime` fills at install time;
without it the tests fail and say so. Each boot costs 15-30 s under TCG on a shared 2-core
host, so one test walks an instance's whole life: boot, log in, use its volumes, stop, boot
again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alephnet.crn.executors.base import (
    ExecutorError,
    ExitReason,
    InstanceSpec,
    PortForward,
    VolumeKind,
    VolumeSpec,
)
from alephnet.crn.executors.microvm import MicroVMExecutor, MicroVMInstance, instance_rootfs
from tests.ccn.node_process import free_port
from tests.crn.test_microvm_executor import process_alive
from tests.crn.test_sandbox_cleanup import children_named

pytestmark = pytest.mark.slow

READY_TIMEOUT = 150.0
SIZE_MIB = 1024


def key_pair(folder: Path, name: str) -> tuple[Path, str]:
    """A fresh ed25519 key: the private key file (OpenSSH format) and the public key line."""
    key = Ed25519PrivateKey.generate()
    private = folder / name
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()


def squashfs_volume(tmp_path: Path) -> Path:
    content = tmp_path / "immutable"
    content.mkdir()
    (content / "hello.txt").write_text("hello from the host\n")
    image = tmp_path / "immutable.squashfs"
    subprocess.run(["mksquashfs", str(content), str(image), "-quiet"], check=True)
    return image


def instance_spec(
    tmp_path: Path, public_key: str, ssh_port: int, volumes: tuple[VolumeSpec, ...] = ()
) -> InstanceSpec:
    return InstanceSpec(
        vm_hash="ef" * 32,
        vcpus=1,
        memory_mib=512,
        parent_image=instance_rootfs(),
        disk_path=tmp_path / "volumes" / "rootfs.ext4",
        size_mib=SIZE_MIB,
        authorized_keys=(public_key,),
        hostname="alephnet-instance",
        forwarded_ports={22: PortForward(ssh_port)},
        internet=False,
        volumes=volumes,
        work_dir=tmp_path / "work",
    )


def ssh(
    port: int, key: Path | None, command: str, *options: str
) -> subprocess.CompletedProcess[str]:
    identity = ["-i", str(key)] if key is not None else []
    return subprocess.run(
        [
            *("ssh", "-p", str(port), *identity, *options),
            *("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20"),
            *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
            *("-o", "LogLevel=ERROR", "root@127.0.0.1", command),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def booted(spec: InstanceSpec) -> MicroVMInstance:
    instance = await MicroVMExecutor().start_instance(spec)
    deadline = time.monotonic() + READY_TIMEOUT
    while not instance.ready:
        assert instance.exit_reason is ExitReason.RUNNING, instance.console_path.read_text()
        assert time.monotonic() < deadline, instance.console_path.read_text()[-3000:]
        await asyncio.sleep(0.5)
    return instance


async def test_an_instance_boots_to_ssh_keeps_its_disk_and_takes_new_keys(tmp_path: Path) -> None:
    port = free_port()
    volumes = (
        VolumeSpec("/opt/shared", VolumeKind.IMMUTABLE, squashfs_volume(tmp_path), read_only=True),
        VolumeSpec("/var/lib/data", VolumeKind.PERSISTENT, tmp_path / "volumes" / "data", 32),
        VolumeSpec("/scratch", VolumeKind.EPHEMERAL, None, 16),
    )
    first_key, first_public = key_pair(tmp_path, "first")
    instance = await booted(instance_spec(tmp_path, first_public, port, volumes))
    try:
        login = ssh(
            port,
            first_key,
            "hostname; blockdev --getsize64 /dev/vda; df -B1 --output=size / | tail -1; "
            "echo kept > /root/kept.txt; sync",
        )
        assert login.returncode == 0, login.stderr
        hostname, disk_bytes, filesystem_bytes = login.stdout.split()
        assert hostname == "alephnet-instance"
        assert int(disk_bytes) == SIZE_MIB * 1024 * 1024  # grown from the shrunk image
        assert int(filesystem_bytes) > SIZE_MIB * 1024 * 1024 * 9 // 10
        # The volumes are mounted where the message says: the immutable one read-only.
        used = ssh(
            port,
            first_key,
            "cat /opt/shared/hello.txt; touch /opt/shared/new 2>&1 | grep -c Read-only; "
            "echo kept > /var/lib/data/kept.txt; echo scratch > /scratch/scratch.txt; "
            "df -B1 --output=size /scratch | tail -1; sync",
        )
        assert used.returncode == 0, used.stderr
        console = instance.console_path.read_text()[-3000:]
        assert used.stdout.splitlines()[:2] == ["hello from the host", "1"], console
        assert int(used.stdout.split()[-1]) <= 16 * 1024 * 1024  # the ephemeral one's size
        # No internet: the guest cannot even reach the host through the user network's
        # gateway (which leads to the host's loopback when the network is not restricted).
        with socket.create_server(("127.0.0.1", 0)) as listener:
            host_port = listener.getsockname()[1]
            reach = ssh(port, first_key, f"timeout 10 bash -c '</dev/tcp/10.0.2.2/{host_port}'")
        assert reach.returncode != 0, "the guest reached the host"
        # Keys only: the server offers no password method at all.
        refused = ssh(port, None, "true", "-o", "PubkeyAuthentication=no")
        assert refused.returncode == 255
        assert "Permission denied (publickey)" in refused.stderr
    finally:
        await instance.stop()
    assert instance.exit_reason is ExitReason.STOPPED
    assert not process_alive(instance.pid)
    assert "reboot: Power down" in instance.console_path.read_text()  # ACPI, not a kill
    # systemd unmounted the volume it found mounted: its journal needs no recovery.
    persistent = subprocess.run(
        ["dumpe2fs", "-h", str(tmp_path / "volumes" / "data" / "volume.ext4")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "has_journal" in persistent.stdout
    assert "needs_recovery" not in persistent.stdout

    second_key, second_public = key_pair(tmp_path, "second")
    instance = await booted(instance_spec(tmp_path, second_public, port, volumes))
    try:
        assert ssh(port, first_key, "true").returncode == 255  # the old key is gone
        again = ssh(
            port, second_key, "cat /root/kept.txt /var/lib/data/kept.txt; ls /scratch; true"
        )
        assert again.returncode == 0, again.stderr
        # The persistent volume kept what was written; the ephemeral one starts empty.
        assert again.stdout == "kept\nkept\nlost+found\n"
    finally:
        await instance.stop()


async def test_a_taken_port_fails_the_start_and_leaves_no_process(tmp_path: Path) -> None:
    taken = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ExecutorError, match="QEMU did not start the instance"):
            await MicroVMExecutor().start_instance(
                instance_spec(tmp_path, "ssh-ed25519 AAAA", port)
            )
    finally:
        taken.close()
    assert children_named(os.getpid(), "qemu-system-x86") == set()


async def test_an_instance_stopped_while_booting_is_gone_within_seconds(tmp_path: Path) -> None:
    instance = await MicroVMExecutor().start_instance(
        instance_spec(tmp_path, "ssh-ed25519 A", free_port())
    )
    started = time.monotonic()
    await instance.stop()
    assert time.monotonic() - started < 10  # not the 30 s grace of a booted guest
    assert instance.exit_reason is ExitReason.STOPPED
    assert not instance.ready
    assert not process_alive(instance.pid)
