"""End to end: a real CCN process and a real `alephnet crn run` process (sandbox executor).

Programs are deployed the way users deploy them (a STORE of the zipped code, then a PROGRAM
naming the CRN's published runtime) and called through the CRN's HTTP front.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from alephnet.devnet.processes import CcnProcess, CrnProcess
from alephnet.protocol.chains.evm import EvmSigner
from alephnet.protocol.crn_auth import OperatorSession, sign_allocation_request
from alephnet.sdk import AuthenticatedAlephClient, generate_account
from alephnet.sdk.accounts import Account
from tests.ccn.node_process import free_port
from tests.crn.programs import PROBE_APP

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REUSE_TIMEOUT = 1.5
DOMAIN = "crn.test"
COUNTER_VOLUME = {
    "name": "counter",
    "mount": "/var/lib/counter",
    "persistence": "host",
    "size_mib": 1,
}


@dataclass
class Network:
    ccn: CcnProcess
    crn: CrnProcess
    user: Account
    scheduler: EvmSigner
    runtime_ref: str
    tmp: Path

    def crn_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.crn.url, timeout=30)

    async def deploy(self, code: Path, **settings: object) -> str:
        async with AuthenticatedAlephClient(self.user, api_url=self.ccn.url) as client:
            published = await client.create_program(
                code, "main:app", runtime=self.runtime_ref, **{"internet": False, **settings}
            )
        return published.item_hash

    async def restart_crn(self) -> None:
        """SIGTERM (exit 0, every execution ended and cleared up), then start again."""
        assert await self.crn.terminate(30) == 0
        assert list((self.crn.data_dir / "executions").iterdir()) == []
        self.crn.port = free_port()
        await self.crn.start()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def network(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Network]:
    tmp = tmp_path_factory.mktemp("crn-e2e")
    scheduler = EvmSigner.generate()
    config = tmp / "crn.toml"
    config.write_text(
        f"reuse_timeout = {REUSE_TIMEOUT}\n"
        f'domain = "{DOMAIN}"\n'
        f'authorized_allocation_signers = ["{scheduler.address}"]\n'
    )
    # On loopback only: programs reach the CCN through the guest API, not the network.
    ccn = CcnProcess(tmp / "ccn", port=free_port())
    await ccn.start()
    crn = CrnProcess(tmp / "crn", ccn.url, port=free_port(), config=config, log_level="INFO")
    try:
        await crn.start()
        runtime_ref = await published_runtime(crn)
        yield Network(ccn, crn, generate_account(), scheduler, runtime_ref, tmp)
    finally:
        for process in (crn, ccn):
            if process.running:
                assert await process.terminate(30) == 0, process.log_tail()


async def published_runtime(crn: CrnProcess) -> str:
    async with httpx.AsyncClient(base_url=crn.url) as client:
        for _ in range(100):
            config = (await client.get("/status/config")).json()
            if config["runtime_ref"]:
                return str(config["runtime_ref"])
            await asyncio.sleep(0.1)
    raise AssertionError(f"the CRN did not publish its runtime:\n{crn.log_tail()}")


async def _executions(client: httpx.AsyncClient) -> dict[str, dict[str, object]]:
    listed: dict[str, dict[str, object]] = (await client.get("/v2/about/executions/list")).json()
    return listed


def _probe_dir(network: Network) -> Path:
    folder = network.tmp / "probe"
    if not folder.exists():
        folder.mkdir()
        (folder / "main.py").write_text(PROBE_APP)
    return folder


async def test_hello_answers_stays_warm_then_expires(network: Network) -> None:
    program = await network.deploy(EXAMPLES / "hello")
    async with network.crn_client() as client:
        first = await client.get(f"/vm/{program}/greet")
        assert first.status_code == 200, first.text
        assert first.json()["message"] == "Hello from alephnet!"
        assert first.json()["path"] == "/greet"
        assert first.headers["aleph-program-itemhash"] == program
        started = (await _executions(client))[program]["status"]

        second = await client.get(f"/vm/{program}/")
        assert second.status_code == 200
        assert (await _executions(client))[program]["status"] == started  # same execution

        await asyncio.sleep(REUSE_TIMEOUT + 1.0)
        assert program not in (await client.get("/about/executions/list")).json()
        assert (await _executions(client))[program]["running"] is False


async def test_a_crash_is_502_and_the_crn_keeps_serving(network: Network) -> None:
    probe, hello = await asyncio.gather(
        network.deploy(_probe_dir(network)), network.deploy(EXAMPLES / "hello")
    )
    async with network.crn_client() as client:
        assert (await client.get(f"/vm/{hello}/")).status_code == 200
        crashed = await client.get(f"/vm/{probe}/crash")
        assert crashed.status_code == 502
        assert (await client.get(f"/vm/{hello}/")).status_code == 200
        again = await client.get(f"/vm/{probe}/")
        assert again.status_code == 200
        assert again.text == "hello world"


async def test_a_looping_program_is_stopped_at_its_time_limit(network: Network) -> None:
    probe = await network.deploy(_probe_dir(network), timeout_seconds=2)
    async with network.crn_client() as client:
        assert (await client.get(f"/vm/{probe}/")).status_code == 200  # warm: time the loop only
        started = time.monotonic()
        looped = await client.get(f"/vm/{probe}/loop")
        elapsed = time.monotonic() - started
        assert looped.status_code == 504
        assert 1.9 < elapsed < 5
        assert probe not in (await client.get("/about/executions/list")).json()


async def test_the_counter_survives_a_program_restart_and_a_crn_restart(
    network: Network,
) -> None:
    counter = await network.deploy(EXAMPLES / "counter", volumes=[COUNTER_VOLUME])
    stop_path = f"/control/machine/{counter}/stop"
    async with network.crn_client() as client:
        assert (await client.get(f"/vm/{counter}/")).json() == {"count": 1}
        assert (await client.get(f"/vm/{counter}/")).json() == {"count": 2}
        session = OperatorSession.create(network.user.signer, DOMAIN, time.time())  # type: ignore[arg-type]
        stopped = await client.post(
            stop_path, headers=session.headers("POST", stop_path, time.time())
        )
        assert stopped.status_code == 200
        assert (await client.get(f"/vm/{counter}/")).json() == {"count": 3}
    await network.restart_crn()
    async with network.crn_client() as client:
        assert (await client.get(f"/vm/{counter}/value")).json() == {"count": 3}
        assert (await client.get(f"/vm/{counter}/")).json() == {"count": 4}


async def test_control_routes_refuse_wrong_signatures(network: Network) -> None:
    hello = await network.deploy(EXAMPLES / "hello")
    body = json.dumps({"persistent_vms": [hello], "instances": []}).encode()
    stranger = EvmSigner.generate()
    async with network.crn_client() as client:
        unsigned = await client.post("/control/allocations", content=body)
        assert unsigned.status_code == 401
        forged = sign_allocation_request(
            stranger, "POST", "/control/allocations", body, time.time()
        )
        wrong = await client.post(
            "/control/allocations", content=body, headers={"Authorization": forged}
        )
        assert wrong.status_code == 401
        signed = sign_allocation_request(
            network.scheduler, "POST", "/control/allocations", body, time.time()
        )
        accepted = await client.post(
            "/control/allocations", content=body, headers={"Authorization": signed}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["successful"] == [hello]

        stop_path = f"/control/machine/{hello}/stop"
        session = OperatorSession.create(stranger, DOMAIN, time.time())
        refused = await client.post(
            stop_path, headers=session.headers("POST", stop_path, time.time())
        )
        assert refused.status_code == 403
        listed = (await client.get("/about/executions/list")).json()
        assert listed[hello]["vm_type"] == "persistent_program"


async def test_the_aggregates_example_writes_and_reads_through_the_sdk(network: Network) -> None:
    program_key = generate_account()
    program = await network.deploy(
        EXAMPLES / "aggregates",
        internet=False,  # the guest API needs no network
        aleph_api=True,
        env={"PRIVATE_KEY": program_key.private_key.hex()},
    )
    async with network.crn_client() as client:
        missing = await client.get(f"/vm/{program}/profile")
        assert missing.status_code == 404, missing.text
        written = await client.post(f"/vm/{program}/profile", json={"name": "alice"})
        assert written.status_code == 200, written.text
        read = await client.get(f"/vm/{program}/profile")
        assert read.json() == {"address": program_key.address, "profile": {"name": "alice"}}
