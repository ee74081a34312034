"""The README's quickstart and the SDK guide's examples (`docs/sdk.md`), run verbatim against a
real CCN and a real CRN (`alephnet crn run`, sandbox executor), so they never rot; and the
owner's commands on that CRN."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from alephnet.devnet.processes import CcnProcess, CrnProcess
from tests.ccn.node_process import free_port

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
README = REPOSITORY / "README.md"
SDK_GUIDE = REPOSITORY / "docs" / "sdk.md"
STOP_TIMEOUT = 30.0
TOUR_TIMEOUT = 180.0
QUICKSTART_BLOCK = re.compile(r"^## Quickstart\n.*?^```sh\n(?P<script>.*?)^```", re.M | re.S)
PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.M | re.S)


def quickstart_script() -> str:
    found = QUICKSTART_BLOCK.search(README.read_text())
    assert found is not None, "README.md has no ```sh block under '## Quickstart'"
    return found["script"]


@dataclass(frozen=True)
class Shell:
    """Runs shell scripts as a user does: `alephnet` on PATH, the nodes in the environment."""

    directory: Path
    environment: dict[str, str]

    def run(self, script: str, **environment: str) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.directory,
            env={**self.environment, **environment},
            capture_output=True,
            text=True,
            timeout=TOUR_TIMEOUT,
            check=False,
        )
        assert completed.returncode == 0, (
            f"exit {completed.returncode}\nscript:\n{script}\n"
            f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
        )
        return completed


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """A fresh CCN and CRN, and a folder holding the repository's examples, as after a clone."""
    tmp = tmp_path_factory.mktemp("quickstart")
    ccn = CcnProcess(tmp / "ccn", port=free_port())
    crn = CrnProcess(tmp / "crn", ccn.url, port=free_port())
    asyncio.run(ccn.start())
    try:
        asyncio.run(crn.start())
        try:
            work = tmp / "work"
            work.mkdir()
            (work / "examples").symlink_to(REPOSITORY / "examples")
            environment = {
                **os.environ,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "ALEPHNET_HOME": str(tmp / "home"),
                "ALEPHNET_API_URL": ccn.url,
                "ALEPHNET_CRN_URL": crn.url,
            }
            environment.pop("ALEPHNET_ACCOUNT", None)
            yield Shell(work, environment)
        finally:
            assert asyncio.run(crn.terminate(STOP_TIMEOUT)) == 0, crn.log_tail()
    finally:
        assert asyncio.run(ccn.terminate(STOP_TIMEOUT)) == 0, ccn.log_tail()


def test_the_readme_tour_runs_verbatim(shell: Shell) -> None:
    script = quickstart_script()
    assert len(script.splitlines()) <= 10
    tour = shell.run(script).stdout
    assert '"body": "hello"' in tour  # the post, read back
    assert "hello.txt" in tour  # the file, listed
    answer = json.loads(tour.strip().splitlines()[-1])  # the program's answer comes last
    assert answer["message"] == "Hello from alephnet!"


def test_the_owner_reads_logs_and_stops_the_program_on_the_crn(shell: Shell) -> None:
    script = (
        "alephnet account create --name owner\n"
        "PROGRAM=$(alephnet --account owner program upload examples/hello -q)\n"
        "alephnet program call $PROGRAM /\n"
        "alephnet --account owner program logs $PROGRAM --json\n"
        "alephnet account create --name stranger\n"
        "if alephnet --account stranger program stop $PROGRAM; then exit 1; fi\n"
        "alephnet --account owner program stop $PROGRAM\n"
        "alephnet program call $PROGRAM /again\n"
    )
    run = shell.run(script)
    assert run.stdout.count("Hello from alephnet!") == 2  # started again after the stop
    assert "stopped " in run.stdout
    assert "only the VM's owner" in run.stderr


def test_the_sdk_guide_runs_verbatim(shell: Shell, tmp_path: Path) -> None:
    """Every `python` block of docs/sdk.md, in order, as one script, with a key store of its
    own."""
    blocks = [found["code"] for found in PYTHON_BLOCK.finditer(SDK_GUIDE.read_text())]
    assert len(blocks) >= 10
    guide = tmp_path / "guide.py"
    guide.write_text("\n\n".join(blocks))
    run = shell.run(f"python {guide}", ALEPHNET_HOME=str(tmp_path / "home"))
    assert "Hello from alephnet!" in run.stdout
    assert "3145728 1000000" in run.stdout  # the resumed download
    assert "no such message" in run.stdout
    assert "[('my-ccn', 'cccc" in run.stdout  # the private node registry, read back
    assert "no node registry on this network" in run.stdout
    assert "the handler answered 404" in run.stdout
