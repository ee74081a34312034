"""The CRN API: about, status, metrics, the scheduler's signed allocations and the owner's
signed machine operations (test-double executor, fake CCN)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from alephnet.crn.supervisor.api.server_header import SERVER
from alephnet.protocol.chains.evm import EvmSigner
from alephnet.protocol.crn_auth import OperatorSession, sign_allocation_request
from tests.crn.crn_app import crn_app
from tests.crn.supervisor_doubles import CODE_REF, vm_hash_of

PROGRAM = vm_hash_of(0x51)
ALLOCATIONS = "/control/allocations"


async def test_about_status_and_metrics(tmp_path: Path) -> None:
    async with crn_app(tmp_path, memory_mib=1024) as crn:
        crn.ccn.add_store(CODE_REF, b"code")
        crn.ccn.add_program(PROGRAM, memory=256)
        assert (await crn.client.get(f"/vm/{PROGRAM}/")).status_code == 200

        login = await crn.client.get("/about/login")
        assert login.status_code == 401
        assert login.json() == {"success": False}
        assert login.headers["server"] == SERVER.decode()

        usage = (await crn.client.get("/about/usage/system")).json()
        assert usage["active"] is True
        assert usage["mem"]["total_kB"] <= 1024 * 1024
        assert usage["mem"]["available_kB"] <= (1024 - 256) * 1024
        assert set(usage["cpu"]["load_average"]) == {"load1", "load5", "load15"}

        running = (await crn.client.get("/about/executions/list")).json()
        assert running[PROGRAM]["vm_type"] == "microvm"
        listed = (await crn.client.get("/v2/about/executions/list")).json()
        assert listed[PROGRAM]["running"] is True
        assert listed[PROGRAM]["status"]["started_at"] is not None

        config = (await crn.client.get("/status/config")).json()
        assert config["DOMAIN_NAME"] == "crn.test"
        assert config["node_address"] == crn.node.account.address
        assert config["runtime_ref"] is None  # the fake CCN refuses the runtime STORE

        metrics = (await crn.client.get("/metrics")).text
        assert "alephnet_crn_executions 1.0" in metrics
        assert "alephnet_crn_cold_starts_total 1.0" in metrics
        assert 'alephnet_crn_program_request_seconds_count{outcome="ok"} 1.0' in metrics

        key_file = crn.node.settings.data_dir / "keys" / "node.json"
        assert key_file.stat().st_mode & 0o777 == 0o600


async def test_allocations_need_a_fresh_signature_of_an_authorized_signer(
    tmp_path: Path,
) -> None:
    scheduler, stranger = EvmSigner.generate(), EvmSigner.generate()
    async with crn_app(tmp_path, authorized_allocation_signers=[scheduler.address]) as crn:
        crn.ccn.add_store(CODE_REF, b"code")
        crn.ccn.add_program(PROGRAM, persistent=True)
        body = json.dumps({"persistent_vms": [PROGRAM], "instances": []}).encode()

        def signed(signer: EvmSigner, now: float) -> dict[str, str]:
            return {
                "Authorization": sign_allocation_request(signer, "POST", ALLOCATIONS, body, now)
            }

        unsigned = await crn.client.post(ALLOCATIONS, content=body)
        assert unsigned.status_code == 401
        assert "Authorization" in unsigned.json()["error"]
        foreign = await crn.client.post(
            ALLOCATIONS, content=body, headers=signed(stranger, time.time())
        )
        assert foreign.status_code == 401
        assert "not an authorized" in foreign.json()["error"]
        other_body = await crn.client.post(
            ALLOCATIONS, content=b'{"persistent_vms": []}', headers=signed(scheduler, time.time())
        )
        assert other_body.status_code == 401
        assert crn.executor.started == []

        headers = signed(scheduler, time.time() + 1)
        accepted = await crn.client.post(ALLOCATIONS, content=body, headers=headers)
        assert accepted.status_code == 200
        assert accepted.json()["successful"] == [PROGRAM]
        assert (await crn.client.get("/about/executions/list")).json()[PROGRAM]["vm_type"] == (
            "persistent_program"
        )
        replayed = await crn.client.post(ALLOCATIONS, content=body, headers=headers)
        assert replayed.status_code == 401
        assert "replay" in replayed.json()["error"]


async def test_machine_control_is_for_the_owner_only(tmp_path: Path) -> None:
    owner, stranger = EvmSigner.generate(), EvmSigner.generate()
    async with crn_app(tmp_path) as crn:
        crn.ccn.add_store(CODE_REF, b"code")
        crn.ccn.add_program(PROGRAM, owner=owner.address)
        assert (await crn.client.post(f"/vm/{PROGRAM}/print")).status_code == 200

        def operation(wallet: EvmSigner, method: str, action: str) -> dict[str, str]:
            session = OperatorSession.create(wallet, "crn.test", time.time())
            return session.headers(method, f"/control/machine/{PROGRAM}/{action}", time.time())

        refused = await crn.client.post(
            f"/control/machine/{PROGRAM}/stop", headers=operation(stranger, "POST", "stop")
        )
        assert refused.status_code == 403
        assert refused.json()["error"] == "Unauthorized sender"
        unsigned = await crn.client.post(f"/control/machine/{PROGRAM}/stop")
        assert unsigned.status_code == 400
        assert crn.node.pool.running_count() == 1

        logs = await crn.client.get(
            f"/control/machine/{PROGRAM}/logs", headers=operation(owner, "GET", "logs")
        )
        assert logs.status_code == 200
        assert [entry["MESSAGE"] for entry in logs.json()] == ["printed"]
        assert (crn.node.settings.logs_dir / f"{PROGRAM}.log").read_text().endswith("printed\n")

        stopped = await crn.client.post(
            f"/control/machine/{PROGRAM}/stop", headers=operation(owner, "POST", "stop")
        )
        assert stopped.status_code == 200
        assert stopped.text == "Stopped VM"
        assert crn.node.pool.running_count() == 0

        volume = crn.node.settings.volumes_dir / PROGRAM / "data"
        volume.mkdir(parents=True)
        erased = await crn.client.post(
            f"/control/machine/{PROGRAM}/erase", headers=operation(owner, "POST", "erase")
        )
        assert erased.status_code == 200
        assert not volume.exists()
