"""INSTANCEs on a CRN, with the fake VM executor (an SSH banner served on the forwarded port):
notify, allocations, the lists, the owner's operations, restarts, a CRN restart, forgotten
messages, and the sandbox's refusal."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alephnet.crn.supervisor.routing import base32_label
from alephnet.protocol.chains.evm import EvmSigner
from alephnet.protocol.crn_auth import OperatorSession, sign_allocation_request
from alephnet.sdk import CrnClient, ResponseError
from tests.crn.crn_app import CrnApp, crn_app
from tests.crn.supervisor_doubles import (
    CODE_REF,
    ROOTFS_REF,
    SSH_BANNER,
    FakeCcn,
    FakeVmExecutor,
    vm_hash_of,
)

INSTANCE = vm_hash_of(0x1A)
OTHER = vm_hash_of(0x1B)
PROGRAM = vm_hash_of(0x1C)
NOTIFY = "/control/allocation/notify"
ALLOCATIONS = "/control/allocations"
IMAGE = b"an ext4 image"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@example"


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def listed(crn: CrnApp) -> dict[str, Any]:
    entries: dict[str, Any] = (await crn.client.get("/v2/about/executions/list")).json()
    return entries


async def wait_ready(crn: CrnApp, vm_hash: str) -> dict[str, Any]:
    """The instance's list entry once it answers SSH (`started_at` set)."""
    deadline = time.monotonic() + 5.0
    while True:
        entry: dict[str, Any] = (await listed(crn)).get(vm_hash, {})
        if entry.get("running") and (entry.get("status") or {}).get("started_at"):
            return entry
        assert time.monotonic() < deadline, f"{vm_hash} never got ready: {entry}"
        await asyncio.sleep(0.05)


async def ssh_banner(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    banner = await reader.readline()
    writer.close()
    return banner


def operation(wallet: EvmSigner, method: str, vm_hash: str, action: str) -> dict[str, str]:
    session = OperatorSession.create(wallet, "crn.test", time.time())
    return session.headers(method, f"/control/machine/{vm_hash}/{action}", time.time())


async def test_notify_boots_an_instance_reachable_on_its_reported_ssh_port(
    tmp_path: Path,
) -> None:
    async with crn_app(tmp_path, executor=FakeVmExecutor(), memory_mib=1024) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        crn.ccn.add_instance(INSTANCE, ssh_keys=[KEY], metadata={"name": "Web server 1"})
        crn.ccn.aggregates[crn.ccn.messages[INSTANCE]["content"]["address"]] = {
            "port-forwarding": {
                INSTANCE: {
                    "ports": {
                        "80": {"tcp": True, "udp": False},
                        "53": {"tcp": False, "udp": True},
                        "8080": {"tcp": False, "udp": False},  # nothing to forward
                        "70000": {"tcp": True},  # not a port
                    }
                }
            }
        }
        answer = await crn.client.post(NOTIFY, json={"instance": INSTANCE})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "success": True,
            "successful": [INSTANCE],
            "failing": [],
            "stopped": [],
            "errors": {},
        }

        entry = await wait_ready(crn, INSTANCE)
        assert entry["vm_type"] == "instance"
        ssh = entry["networking"]["mapped_ports"]["22"]
        assert (ssh["tcp"], ssh["udp"]) == (True, False)
        assert await ssh_banner(ssh["host"]) == SSH_BANNER
        assert set(entry["networking"]["mapped_ports"]) == {"22", "80", "53"}
        dns = entry["networking"]["mapped_ports"]["53"]
        assert (dns["tcp"], dns["udp"]) == (False, True)

        (vm,) = crn.executor.instances  # type: ignore[attr-defined]
        spec, settings = vm.spec, crn.node.settings
        assert spec.parent_image.read_bytes() == IMAGE
        assert spec.disk_path == settings.volumes_dir / INSTANCE / "rootfs.ext4"
        assert spec.authorized_keys == (KEY,)
        assert spec.hostname == "web-server-1"
        assert (spec.vcpus, spec.memory_mib, spec.size_mib) == (1, 256, 1024)

        again = await crn.client.post(NOTIFY, json={"instance": INSTANCE})
        assert again.status_code == 200
        assert len(crn.executor.instances) == 1  # type: ignore[attr-defined]

        running = (await crn.client.get("/about/executions/list")).json()
        assert running[INSTANCE]["vm_type"] == "instance"
        usage = (await crn.client.get("/about/usage/system")).json()
        assert usage["mem"]["available_kB"] <= (1024 - 256) * 1024
        assert (await crn.client.get("/status/config")).json()["computing"][
            "ENABLE_QEMU_SUPPORT"
        ] is True
        assert "alephnet_crn_instances 1.0" in (await crn.client.get("/metrics")).text


async def test_notify_refuses_what_cannot_run_as_an_instance(tmp_path: Path) -> None:
    async with crn_app(tmp_path, executor=FakeVmExecutor(), memory_mib=512) as crn:
        crn.ccn.add_store(CODE_REF, b"code")
        crn.ccn.add_program(PROGRAM)
        crn.ccn.add_instance(INSTANCE, rootfs="0f" * 32)  # a parent nobody stored
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        crn.ccn.add_instance(OTHER, memory=4096)

        program = await crn.client.post(NOTIFY, json={"instance": PROGRAM})
        assert program.status_code == 400
        assert "is a PROGRAM message, not an INSTANCE" in program.json()["error"]
        assert program.json()["failing"] == [PROGRAM]
        missing = await crn.client.post(NOTIFY, json={"instance": INSTANCE})
        assert missing.status_code == 400
        assert "Code, runtime or data not available" in missing.json()["error"]
        too_big = await crn.client.post(NOTIFY, json={"instance": OTHER})
        assert too_big.status_code == 503
        assert "Insufficient capacity" in too_big.json()["error"]
        unknown = await crn.client.post(NOTIFY, json={"instance": vm_hash_of(0xDEAD)})
        assert unknown.status_code == 404
        assert (await crn.client.post(NOTIFY, json={"vm": INSTANCE})).status_code == 400
        assert (await crn.client.post(NOTIFY, json={"instance": "abc"})).status_code == 400
        assert crn.executor.instances == []  # type: ignore[attr-defined]


async def test_an_instance_pinned_to_another_node_is_refused(tmp_path: Path) -> None:
    """`requirements.node.node_hash` names the CRN a user placed the instance on (the
    reference's notify checks it against the node's own hash)."""
    this_node, other_node = "ab" * 32, "cd" * 32
    async with crn_app(tmp_path, executor=FakeVmExecutor(), node_hash=this_node) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        crn.ccn.add_instance(INSTANCE, requirements={"node": {"node_hash": other_node}})
        crn.ccn.add_instance(OTHER, requirements={"node": {"node_hash": this_node}})

        refused = await crn.client.post(NOTIFY, json={"instance": INSTANCE})
        assert refused.status_code == 400
        assert f"is for node {other_node}; this node is {this_node}" in refused.json()["error"]
        accepted = await crn.client.post(NOTIFY, json={"instance": OTHER})
        assert accepted.status_code == 200, accepted.text
        assert (await crn.client.get("/status/config")).json()["node_hash"] == this_node
        assert [execution.spec.vm_hash for execution in crn.executor.instances] == [OTHER]  # type: ignore[attr-defined]


async def test_a_sandbox_node_refuses_instances(tmp_path: Path) -> None:
    scheduler = EvmSigner.generate()
    async with crn_app(tmp_path, authorized_allocation_signers=[scheduler.address]) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        crn.ccn.add_instance(INSTANCE)
        refused = await crn.client.post(NOTIFY, json={"instance": INSTANCE})
        assert refused.status_code == 400
        assert "instances are not supported by this node" in refused.json()["error"]
        assert "--executor microvm" in refused.json()["error"]

        body = json.dumps({"persistent_vms": [], "instances": [INSTANCE]}).encode()
        authorization = sign_allocation_request(scheduler, "POST", ALLOCATIONS, body, time.time())
        allocated = await crn.client.post(
            ALLOCATIONS, content=body, headers={"Authorization": authorization}
        )
        assert allocated.status_code == 503
        assert allocated.json()["failing"] == [INSTANCE]
        assert "not supported" in allocated.json()["errors"][INSTANCE]
        config = (await crn.client.get("/status/config")).json()
        assert config["computing"]["ENABLE_QEMU_SUPPORT"] is False


async def test_allocations_start_the_listed_instances_and_stop_the_others(
    tmp_path: Path,
) -> None:
    scheduler = EvmSigner.generate()
    executor = FakeVmExecutor()
    async with crn_app(
        tmp_path, executor=executor, authorized_allocation_signers=[scheduler.address]
    ) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        for vm_hash in (INSTANCE, OTHER, PROGRAM):
            crn.ccn.add_instance(vm_hash)
        now = time.time()

        async def allocate(instances: list[str]) -> dict[str, Any]:
            nonlocal now
            now += 1
            body = json.dumps({"persistent_vms": [], "instances": instances}).encode()
            headers = {
                "Authorization": sign_allocation_request(scheduler, "POST", ALLOCATIONS, body, now)
            }
            answer = await crn.client.post(ALLOCATIONS, content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

        assert (await allocate([INSTANCE, OTHER]))["successful"] == [INSTANCE, OTHER]
        assert (await crn.client.post(NOTIFY, json={"instance": PROGRAM})).status_code == 200
        assert len(executor.running_instances) == 3
        second = await allocate([INSTANCE])
        assert second["stopped"] == [OTHER]
        assert second["successful"] == [INSTANCE]
        # An instance its owner notified is not the scheduler's to stop.
        assert (await allocate([]))["stopped"] == [INSTANCE]
        assert [vm.spec.vm_hash for vm in executor.running_instances] == [PROGRAM]
        assert (await listed(crn))[OTHER]["running"] is False


async def test_the_owner_reads_the_console_reboots_stops_and_erases(tmp_path: Path) -> None:
    owner, stranger, delegate = (EvmSigner.generate() for _ in range(3))
    executor = FakeVmExecutor()
    async with crn_app(tmp_path, executor=executor) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        crn.ccn.add_instance(INSTANCE, owner=owner.address)
        crn.ccn.aggregates[owner.address] = {
            "security": {"authorizations": [{"address": delegate.address, "types": ["INSTANCE"]}]}
        }
        assert (await crn.client.post(NOTIFY, json={"instance": INSTANCE})).status_code == 200
        await wait_ready(crn, INSTANCE)

        refused = await crn.client.post(
            f"/control/machine/{INSTANCE}/stop",
            headers=operation(stranger, "POST", INSTANCE, "stop"),
        )
        assert refused.status_code == 403
        logs = await crn.client.get(
            f"/control/machine/{INSTANCE}/logs", headers=operation(owner, "GET", INSTANCE, "logs")
        )
        assert logs.status_code == 200
        assert [entry["MESSAGE"] for entry in logs.json()] == [
            f"booting {base32_label(INSTANCE)}",  # no name: its label
            "sshd: listening",
        ]

        disk_folder = crn.node.settings.volumes_dir / INSTANCE
        (disk_folder / "rootfs.ext4").write_bytes(b"the VM's disk")
        rebooted = await crn.client.post(
            f"/control/machine/{INSTANCE}/reboot",
            headers=operation(delegate, "POST", INSTANCE, "reboot"),
        )
        assert rebooted.status_code == 200, rebooted.text
        assert len(executor.instances) == 2
        assert [vm.spec.vm_hash for vm in executor.running_instances] == [INSTANCE]
        assert (disk_folder / "rootfs.ext4").read_bytes() == b"the VM's disk"

        stopped = await crn.client.post(
            f"/control/machine/{INSTANCE}/stop", headers=operation(owner, "POST", INSTANCE, "stop")
        )
        assert stopped.text == "Stopped VM"
        assert executor.running_instances == []
        await asyncio.sleep(1.2)  # longer than the first restart's pause: none comes
        assert executor.running_instances == []

        erased = await crn.client.post(
            f"/control/machine/{INSTANCE}/erase",
            headers=operation(owner, "POST", INSTANCE, "erase"),
        )
        assert erased.status_code == 200
        assert not disk_folder.exists()


async def test_a_crashed_instance_boots_again(tmp_path: Path) -> None:
    executor = FakeVmExecutor()
    async with crn_app(tmp_path, executor=executor) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        crn.ccn.add_instance(INSTANCE)
        assert (await crn.client.post(NOTIFY, json={"instance": INSTANCE})).status_code == 200
        first_port = (await wait_ready(crn, INSTANCE))["networking"]["mapped_ports"]["22"]["host"]
        await executor.instances[0].crash()
        await wait_until(
            lambda: len(executor.running_instances) == 1 and len(executor.instances) == 2
        )
        entry = await wait_ready(crn, INSTANCE)
        assert entry["networking"]["mapped_ports"]["22"]["host"] == first_port
        assert (
            'alephnet_crn_failures_total{kind="instance_crash"} 1.0'
            in (await crn.client.get("/metrics")).text
        )


async def test_instances_boot_again_when_the_crn_starts_again(tmp_path: Path) -> None:
    ccn = FakeCcn()
    ccn.add_store(ROOTFS_REF, IMAGE)
    ccn.add_instance(INSTANCE)
    first = FakeVmExecutor()
    async with crn_app(tmp_path, executor=first, ccn=ccn) as crn:
        assert (await crn.client.post(NOTIFY, json={"instance": INSTANCE})).status_code == 200
        await wait_ready(crn, INSTANCE)
    assert first.running_instances == []  # the CRN's shutdown powered it off

    second = FakeVmExecutor()
    async with crn_app(tmp_path, executor=second, ccn=ccn) as crn:
        entry = await wait_ready(crn, INSTANCE)
        assert await ssh_banner(entry["networking"]["mapped_ports"]["22"]["host"]) == SSH_BANNER
        assert len(second.running_instances) == 1


async def test_a_forgotten_instance_is_stopped_and_its_disk_erased(tmp_path: Path) -> None:
    owner = EvmSigner.generate()
    executor = FakeVmExecutor()
    async with crn_app(tmp_path, executor=executor, instance_check_interval=0.1) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        for vm_hash in (INSTANCE, OTHER):
            crn.ccn.add_instance(vm_hash, owner=owner.address)
            assert (await crn.client.post(NOTIFY, json={"instance": vm_hash})).status_code == 200
            (crn.node.settings.volumes_dir / vm_hash / "rootfs.ext4").write_bytes(b"disk")

        crn.ccn.forget(INSTANCE)
        touched = await crn.client.post(
            f"/control/machine/{INSTANCE}/stop", headers=operation(owner, "POST", INSTANCE, "stop")
        )
        assert touched.status_code == 410
        assert "forgotten" in touched.json()["error"]
        assert not (crn.node.settings.volumes_dir / INSTANCE).exists()
        notified = await crn.client.post(NOTIFY, json={"instance": INSTANCE})
        assert notified.status_code == 410

        crn.ccn.forget(OTHER)  # nobody asks: the periodic check finds out
        await wait_until(lambda: not (crn.node.settings.volumes_dir / OTHER).exists())
        assert executor.running_instances == []

        # A disk left by an instance that no longer runs here is erased too.
        stopped_one = crn.node.settings.volumes_dir / vm_hash_of(0x1D) / "rootfs.ext4"
        stopped_one.parent.mkdir(parents=True)
        stopped_one.write_bytes(b"disk")
        crn.ccn.forgotten.add(vm_hash_of(0x1D))
        await wait_until(lambda: not stopped_one.parent.exists())


async def test_the_sdk_notifies_the_crn_and_reads_the_ssh_port(tmp_path: Path) -> None:
    async with crn_app(tmp_path, executor=FakeVmExecutor()) as crn:
        crn.ccn.add_store(ROOTFS_REF, IMAGE)
        crn.ccn.add_instance(INSTANCE)
        crn.ccn.add_store(CODE_REF, b"code")
        crn.ccn.add_program(PROGRAM)
        async with CrnClient.for_app(crn.app) as client:
            await client.notify(INSTANCE)
            await wait_ready(crn, INSTANCE)
            execution = await client.execution(INSTANCE)
            assert execution.vm_type == "instance"
            assert await ssh_banner(execution.networking.mapped_ports["22"].host) == SSH_BANNER
            with pytest.raises(ResponseError, match="not an INSTANCE") as refused:
                await client.notify(PROGRAM)
            assert refused.value.status_code == 400
