"""`alephnet devnet up --crns N`: compute nodes linked to the CCNs, in the status, stopped by
`down` with everything else."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from alephnet.sdk import AuthenticatedAlephClient, generate_account
from tests.ccn.node_process import free_port
from tests.cli.conftest import run_alephnet
from tests.devnet.test_devnet import UP_TIMEOUT, assert_gone
from tests.servers import loopback_url

pytestmark = pytest.mark.slow

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"


def _wait_until_up(directory: Path, up: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline:
        assert up.poll() is None, log.read_text()
        completed = run_alephnet("devnet", "status", "--dir", str(directory), "--json")
        if completed.returncode == 0:
            document: dict[str, Any] = json.loads(completed.stdout)
            nodes = [*document["nodes"], *document["crns"]]
            if len(document["crns"]) == 1 and all(node["up"] for node in nodes):
                return document
        time.sleep(0.3)
    raise AssertionError(f"the devnet was not up within {UP_TIMEOUT} s:\n{log.read_text()}")


async def _deploy_and_call(ccn_url: str, crn_url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=crn_url, timeout=30) as crn:
        for _ in range(100):
            runtime = (await crn.get("/status/config")).json()["runtime_ref"]
            if runtime:
                break
            await asyncio.sleep(0.1)
        async with AuthenticatedAlephClient(generate_account(), api_url=ccn_url) as client:
            program = await client.create_program(HELLO, "main:app", runtime=runtime)
        return await crn.get(f"/vm/{program.item_hash}/")


def test_up_with_crns_serves_programs_and_down_stops_them(tmp_path: Path) -> None:
    directory, log = tmp_path / "devnet", tmp_path / "up.out"
    ccn_port, crn_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "alephnet", "devnet", "up", "--ccns", "1", "--crns", "1",
        "--dir", str(directory), "--base-port", str(ccn_port), "--crn-base-port", str(crn_port),
    ]  # fmt: skip
    with log.open("wb") as out:
        up = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        status = _wait_until_up(directory, up, log)
        crn = status["crns"][0]
        assert crn["url"] == loopback_url(crn_port)
        response = asyncio.run(_deploy_and_call(loopback_url(ccn_port), crn["url"]))
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Hello from alephnet!"
        assert run_alephnet("devnet", "down", "--dir", str(directory)).returncode == 0
        assert up.wait(40) == 0
        assert_gone([status["supervisor"]["pid"], status["nodes"][0]["pid"], crn["pid"]])
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
