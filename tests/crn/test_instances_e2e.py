"""End to end: a real CCN, `alephnet crn run --executor microvm`, and an instance booted (TCG
here) from the base image stored on the CCN, logged into over SSH, then stopped by its owner.

One boot only (15-30 s under TCG on a shared 2-core host, more while other VMs run); the SSH
login is `tests/crn/test_microvm_instance.py`'s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from alephnet.crn.executors.microvm import instance_rootfs
from alephnet.devnet.layout import MAX_FILE_SIZE
from alephnet.devnet.processes import CcnProcess, CrnProcess
from alephnet.sdk import AuthenticatedAlephClient, CrnClient, Execution, generate_account
from tests.crn.test_crn_e2e_microvm import microvm_nodes
from tests.crn.test_microvm_instance import READY_TIMEOUT, key_pair, ssh

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[CcnProcess, CrnProcess]]:
    """A CCN that stores disk images (over its default 100 MiB), and a micro-VM CRN on it."""
    ccn_config = tmp_path / "ccn.toml"
    ccn_config.write_text(f"max_file_size = {MAX_FILE_SIZE}\n")
    async with microvm_nodes(tmp_path, ccn_config) as nodes:
        yield nodes


async def ready(crn: CrnClient, vm_hash: str) -> Execution:
    """The instance's execution once its SSH port answers (`started_at`)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        execution = await crn.execution(vm_hash)
        if execution.running and (execution.status or {}).get("started_at"):
            return execution
        assert time.monotonic() < deadline, f"{vm_hash} did not answer SSH: {execution}"
        await asyncio.sleep(1.0)


async def test_an_instance_from_the_stored_image_is_reached_over_ssh_then_stopped(
    nodes: tuple[CcnProcess, CrnProcess], tmp_path: Path
) -> None:
    ccn, crn_process = nodes
    user = generate_account()
    private_key, public_key = key_pair(tmp_path, "id_ed25519")
    async with AuthenticatedAlephClient(user, api_url=ccn.url) as client:
        image = await client.create_store(instance_rootfs(), sync=True)
        instance = await client.create_instance(
            image.item_hash,
            rootfs_size=1024,
            memory=512,
            ssh_keys=[public_key],
            internet=False,
            metadata={"name": "e2e box"},
        )
    vm_hash = instance.item_hash
    async with CrnClient(crn_process.url, account=user, timeout=120) as crn:
        await crn.notify(vm_hash)
        execution = await ready(crn, vm_hash)
        assert execution.vm_type == "instance"
        port = execution.networking.mapped_ports["22"].host
        logged_in = await asyncio.to_thread(ssh, port, private_key, "hostname")
        assert logged_in.returncode == 0, f"{logged_in.stderr}\n{crn_process.log_tail()}"
        assert logged_in.stdout.strip() == "e2e-box"

        await crn.stop(vm_hash)
        assert (await crn.execution(vm_hash)).running is False
        assert (await crn.logs(vm_hash)) != []  # the console of the boot
    disk = crn_process.data_dir / "volumes" / vm_hash / "rootfs.ext4"
    assert disk.exists()  # kept until its owner erases it
