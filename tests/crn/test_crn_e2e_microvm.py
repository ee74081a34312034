"""End to end with the `microvm` executor: a real CCN, `alephnet crn run --executor microvm`
(QEMU, TCG here), a program deployed on the runtime the CRN published (its root filesystem).

One program only: each cold start boots a VM (seconds under TCG). The counter example covers a
first (cold) request, a warm one, and its persistent volume across a restart of the program.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from alephnet.devnet.processes import CcnProcess, CrnProcess
from alephnet.protocol.crn_auth import OperatorSession
from alephnet.sdk import AuthenticatedAlephClient, generate_account
from tests.ccn.node_process import free_port
from tests.crn.test_crn_e2e import COUNTER_VOLUME, DOMAIN, EXAMPLES, published_runtime

pytestmark = pytest.mark.slow

COLD_START_TIMEOUT = 120.0


@contextlib.asynccontextmanager
async def microvm_nodes(
    folder: Path, ccn_config: Path | None = None
) -> AsyncIterator[tuple[CcnProcess, CrnProcess]]:
    """A CCN and a CRN running micro-VMs on it, as processes on loopback, each checked to end
    cleanly (60 s: the CRN stops its VMs first)."""
    crn_config = folder / "crn.toml"
    crn_config.write_text(f'domain = "{DOMAIN}"\n')
    ccn = CcnProcess(folder / "ccn", port=free_port(), config=ccn_config)
    await ccn.start()
    crn = CrnProcess(
        folder / "crn", ccn.url, port=free_port(), executor="microvm", config=crn_config
    )
    try:
        await crn.start()
        yield ccn, crn
    finally:
        for process in (crn, ccn):
            if process.running:
                assert await process.terminate(60) == 0, process.log_tail()


@pytest_asyncio.fixture
async def microvm_crn(tmp_path: Path) -> AsyncIterator[tuple[CcnProcess, CrnProcess]]:
    async with microvm_nodes(tmp_path) as nodes:
        yield nodes


async def test_a_counter_in_a_micro_vm_keeps_its_volume_across_restarts(
    microvm_crn: tuple[CcnProcess, CrnProcess],
) -> None:
    ccn, crn = microvm_crn
    user = generate_account()
    runtime = await published_runtime(crn)
    async with AuthenticatedAlephClient(user, api_url=ccn.url) as client:
        published = await client.create_program(
            EXAMPLES / "counter",
            "main:app",
            runtime=runtime,
            internet=False,
            timeout_seconds=60,
            volumes=[COUNTER_VOLUME],
        )
    counter, stop_path = published.item_hash, f"/control/machine/{published.item_hash}/stop"
    async with httpx.AsyncClient(base_url=crn.url, timeout=COLD_START_TIMEOUT) as client:
        cold = await client.get(f"/vm/{counter}/")
        assert cold.status_code == 200, f"{cold.text}\n{crn.log_tail()}"
        assert cold.json() == {"count": 1}
        started = time.monotonic()
        assert (await client.get(f"/vm/{counter}/")).json() == {"count": 2}
        assert time.monotonic() - started < 2  # warm: no boot
        session = OperatorSession.create(user.signer, DOMAIN, time.time())  # type: ignore[arg-type]
        stopped = await client.post(
            stop_path, headers=session.headers("POST", stop_path, time.time())
        )
        assert stopped.status_code == 200
        assert (await client.get(f"/vm/{counter}/")).json() == {"count": 3}


async def test_the_aggregates_example_uses_the_sdk_in_a_micro_vm(
    microvm_crn: tuple[CcnProcess, CrnProcess],
) -> None:
    """`import alephnet.sdk` from the SDK image (not in the runtime): a write, then a read."""
    ccn, crn = microvm_crn
    program_key = generate_account()
    runtime = await published_runtime(crn)
    async with AuthenticatedAlephClient(generate_account(), api_url=ccn.url) as client:
        published = await client.create_program(
            EXAMPLES / "aggregates",
            "main:app",
            runtime=runtime,
            internet=False,
            aleph_api=True,
            timeout_seconds=60,
            env={"PRIVATE_KEY": program_key.private_key.hex()},
        )
    program = published.item_hash
    async with httpx.AsyncClient(base_url=crn.url, timeout=COLD_START_TIMEOUT) as client:
        written = await client.post(f"/vm/{program}/profile", json={"name": "alice"})
        assert written.status_code == 200, f"{written.text}\n{crn.log_tail()}"
        read = await client.get(f"/vm/{program}/profile")
        assert read.json() == {"address": program_key.address, "profile": {"name": "alice"}}
