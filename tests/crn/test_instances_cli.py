"""`alephnet instance start|ssh` against a CRN served on loopback (the fake VM executor, whose
instances answer an SSH banner on the port the CRN reports)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from alephnet.cli.app import app as cli_app
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.api.app import create_app
from alephnet.crn.supervisor.executors import ExecutorSetup
from tests.ccn.node_process import free_port
from tests.crn.supervisor_doubles import (
    CODE_REF,
    ROOTFS_REF,
    SSH_BANNER,
    FakeCcn,
    FakeVmExecutor,
    vm_hash_of,
)
from tests.servers import serving_app

INSTANCE = vm_hash_of(0x2A)
PROGRAM = vm_hash_of(0x2B)
runner = CliRunner()


@pytest.fixture
def crn_url(tmp_path: Path) -> Iterator[str]:
    ccn = FakeCcn()
    ccn.add_store(ROOTFS_REF, b"an image")
    ccn.add_instance(INSTANCE)
    ccn.add_store(CODE_REF, b"code")
    ccn.add_program(PROGRAM)
    runtime = tmp_path / "runtime.json"
    runtime.write_text("{}")
    setup = ExecutorSetup(FakeVmExecutor(), lambda: runtime, needs_runtime=False)
    settings = CrnSettings(data_dir=tmp_path / "crn", domain="crn.test")
    port = free_port()
    with serving_app(create_app(settings, setup=setup, ccn_transport=ccn.transport()), port, "CRN"):
        yield f"http://127.0.0.1:{port}"


def ssh_port_when_up(crn_url: str) -> int:
    deadline = time.monotonic() + 5.0
    while True:
        entry = httpx.get(f"{crn_url}/v2/about/executions/list").json().get(INSTANCE, {})
        if (entry.get("status") or {}).get("started_at"):
            port: int = entry["networking"]["mapped_ports"]["22"]["host"]
            return port
        assert time.monotonic() < deadline, entry
        time.sleep(0.05)


def test_instance_start_boots_it_and_ssh_names_its_port(crn_url: str, tmp_path: Path) -> None:
    environment = {"ALEPHNET_HOME": str(tmp_path / "home")}
    started = runner.invoke(
        cli_app, ["instance", "start", INSTANCE, "--crn", crn_url], env=environment
    )
    assert started.exit_code == 0, started.output
    assert f"alephnet instance ssh {INSTANCE} --crn {crn_url}" in started.output

    port = ssh_port_when_up(crn_url)
    printed = runner.invoke(
        cli_app, ["instance", "ssh", INSTANCE, "--crn", crn_url, "--print"], env=environment
    )
    assert printed.output.strip() == f"ssh -p {port} root@127.0.0.1"
    with socket.create_connection(("127.0.0.1", port), 5) as connection:
        assert connection.recv(64) == SSH_BANNER

    refused = runner.invoke(
        cli_app, ["instance", "start", PROGRAM, "--crn", crn_url], env=environment
    )
    assert refused.exit_code == 1
    assert "not an INSTANCE" in refused.output
