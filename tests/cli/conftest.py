"""The CLI as users run it: a subprocess of `python -m alephnet`, against a real node.

One node for the whole session (started with `alephnet ccn run`, as in the acceptance tests):
each test module gets a key store of its own in a temporary `ALEPHNET_HOME`, with its own
account, so modules never see each other's posts, files or programs through the default
"mine" filters, and no test reads or writes the developer's keys.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ccn.node_process import NodeProcess
from tests.servers import ccn_process

COMMAND_TIMEOUT = 60.0


def run_alephnet(
    *args: str, home: Path | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`alephnet ARGS` in a subprocess, as a user runs it, with `home` as its ALEPHNET_HOME:
    the developer's default account (ALEPHNET_ACCOUNT) never leaks into a test."""
    environment = {**os.environ, **({"ALEPHNET_HOME": str(home)} if home else {})}
    environment.pop("ALEPHNET_ACCOUNT", None)
    return subprocess.run(
        [sys.executable, "-m", "alephnet", *args],
        input=input,
        capture_output=True,
        text=True,
        env=environment,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


@dataclass(frozen=True)
class Cli:
    """Runs `alephnet` with a fixed node and home; `run` checks the exit status."""

    api_url: str
    home: Path

    def run(
        self, *args: str, input: str | None = None, expect: int = 0
    ) -> subprocess.CompletedProcess[str]:
        completed = run_alephnet("--api-url", self.api_url, *args, home=self.home, input=input)
        assert completed.returncode == expect, (
            f"`alephnet {' '.join(args)}` exited {completed.returncode}, expected {expect}\n"
            f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
        )
        return completed

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run a command with --json; its whole stdout must be one JSON document."""
        return json.loads(self.run(*args, "--json", input=input).stdout)


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with ccn_process(tmp_path_factory.mktemp("cli-node") / "ccn") as process:
        yield process


@pytest.fixture(scope="module")
def cli(node: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A CLI with one ETH account, the default, already created."""
    cli = Cli(node.url, tmp_path_factory.mktemp("alephnet-home"))
    cli.run("account", "create", "--name", "main")
    return cli
