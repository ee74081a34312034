"""`alephnet devnet up|status|down` as a user runs them: subprocesses, real nodes on loopback.

Each test starts its own devnet of 2 CCNs in a temporary folder on free ports, and always
leaves nothing running: whatever a test does, the fixture stops what is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alephnet.devnet.layout import port_is_free
from tests.ccn.node_process import free_port
from tests.cli.conftest import COMMAND_TIMEOUT, run_alephnet
from tests.servers import loopback_url

pytestmark = pytest.mark.slow

CCNS = 2
UP_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0


def free_port_pair() -> int:
    """A port whose next one is free too: the devnet takes consecutive ports."""
    for _ in range(100):
        port = free_port()
        if port < 65535 and port_is_free(port + 1):
            return port
    raise AssertionError("no two consecutive free ports")


class Devnet:
    """A `devnet up` subprocess and the commands of "another terminal" on its folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.base_port = free_port_pair()
        self.output = directory.parent / "up.out"
        self.up_process: subprocess.Popen[bytes] | None = None

    def up(self) -> subprocess.Popen[bytes]:
        with self.output.open("wb") as out:
            self.up_process = subprocess.Popen(
                self._up_command(), stdout=out, stderr=subprocess.STDOUT
            )
        return self.up_process

    def up_again(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._up_command(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )

    def status(self) -> subprocess.CompletedProcess[str]:
        return run_alephnet("devnet", "status", "--dir", str(self.directory), "--json")

    def down(self) -> subprocess.CompletedProcess[str]:
        return run_alephnet("devnet", "down", "--dir", str(self.directory))

    def wait_until_up(self) -> dict[str, Any]:
        """The status once every node answers; fails with `up`'s output otherwise."""
        deadline = time.monotonic() + UP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.up_process is not None
            assert self.up_process.poll() is None, self.log()
            completed = self.status()
            if completed.returncode == 0:
                document: dict[str, Any] = json.loads(completed.stdout)
                if len(document["nodes"]) == CCNS and all(n["up"] for n in document["nodes"]):
                    return document
            time.sleep(0.3)
        raise AssertionError(f"the devnet was not up within {UP_TIMEOUT} s:\n{self.log()}")

    def wait_up_exit(self) -> int:
        assert self.up_process is not None
        return self.up_process.wait(STOP_TIMEOUT)

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    @property
    def api_url(self) -> str:
        return loopback_url(self.base_port)

    def _up_command(self) -> list[str]:
        return [
            sys.executable, "-m", "alephnet", "devnet", "up", "--ccns", str(CCNS), "--crns", "0",
            "--dir", str(self.directory), "--base-port", str(self.base_port),
        ]  # fmt: skip


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    devnet = Devnet(tmp_path / "devnet")
    try:
        yield devnet
    finally:
        devnet.down()
        if devnet.up_process is not None and devnet.up_process.poll() is None:
            devnet.up_process.kill()
            devnet.up_process.wait()


def pids_of(status: dict[str, Any]) -> list[int]:
    return [status["supervisor"]["pid"], *(node["pid"] for node in status["nodes"])]


def assert_gone(pids: list[int]) -> None:
    """Gone means gone: not even a zombie waiting to be reaped (kill 0 would reach it)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    assert alive == [], f"processes left behind: {alive}"


def wait_processed(api_url: str, item_hash: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = httpx.get(f"{api_url}/api/v0/messages/{item_hash}").json()
        if body.get("status") == "processed":
            return
        time.sleep(0.2)
    raise AssertionError(f"{item_hash} not processed on {api_url}")


def test_up_serves_a_network_and_down_stops_every_process(devnet: Devnet) -> None:
    devnet.up()
    status = devnet.wait_until_up()
    assert [node["url"] for node in status["nodes"]] == [
        devnet.api_url,
        loopback_url(devnet.base_port + 1),
    ]
    key_file = Path(status["wallet"]["key_file"])
    assert key_file.is_file()
    assert str(key_file) in devnet.log()
    assert status["wallet"]["address"] in devnet.log()

    # The dev wallet is the default key of ALEPHNET_HOME=DIR: the CLI signs with it.
    posted = run_alephnet(
        "--api-url", devnet.api_url, "post", "send", "--content", '{"a": 1}', "--json",
        home=devnet.directory,
    )  # fmt: skip
    assert posted.returncode == 0, posted.stderr
    published = json.loads(posted.stdout)
    assert published["message"]["sender"] == status["wallet"]["address"]
    wait_processed(devnet.api_url, published["item_hash"])
    node_1 = json.loads(devnet.status().stdout)["nodes"][0]
    assert node_1["processed"] >= 1
    # The nodes sync with each other: the message reaches node 2 without being sent there.
    wait_processed(status["nodes"][1]["url"], published["item_hash"])

    stopped = devnet.down()
    assert stopped.returncode == 0, stopped.stderr
    assert devnet.wait_up_exit() == 0, devnet.log()
    assert_gone(pids_of(status))
    assert not (devnet.directory / "devnet.json").exists()
    assert devnet.status().returncode == 1


def test_ctrl_c_on_up_stops_every_process(devnet: Devnet) -> None:
    up = devnet.up()
    status = devnet.wait_until_up()
    up.send_signal(signal.SIGINT)
    assert devnet.wait_up_exit() == 0, devnet.log()
    assert_gone(pids_of(status))
    assert not (devnet.directory / "devnet.json").exists()
    assert "devnet stopped" in devnet.log()


def test_a_second_up_on_the_same_dir_is_refused(devnet: Devnet) -> None:
    devnet.up()
    devnet.wait_until_up()
    second = devnet.up_again()
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert devnet.status().returncode == 0, "the refused start must not touch the running devnet"
