"""`alephnet` imports a command group only when it runs one of its commands
(`alephnet.cli.lazy`): the root's help loads no group and no SDK module."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alephnet.cli.app import GROUPS

GROUP_MODULES = {lazy.module for lazy in GROUPS.values()}
HEAVY = {"eth_account", "httpx", "uvicorn"}


# Prints the modules loaded when the process ends (sys.exit included) on stderr.
REPORT_MODULES = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print(*sys.modules, file=sys.stderr))\n"
    "sys.argv = ['alephnet', *sys.argv[1:]]\n"
    "runpy.run_module('alephnet', run_name='__main__')\n"
)


def imported_by(*args: str, home: Path) -> set[str]:
    """The modules that running `alephnet ARGS` loaded."""
    completed = subprocess.run(
        [sys.executable, "-c", REPORT_MODULES, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ALEPHNET_HOME": str(home)},
        check=True,
    )
    return set(completed.stderr.split())


def test_root_help_lists_every_group_and_imports_none(tmp_path: Path) -> None:
    loaded = imported_by("--help", home=tmp_path)
    assert not GROUP_MODULES & loaded
    sdk_modules = {name for name in loaded if name.startswith("alephnet.sdk.")}
    assert sdk_modules == {"alephnet.sdk.exceptions"}  # the root's error handler catches them
    assert not HEAVY & loaded
    help_text = subprocess.run(
        [sys.executable, "-m", "alephnet", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name, lazy in GROUPS.items():
        assert name in help_text
        assert lazy.summary[:40] in " ".join(help_text.split())


def test_a_command_imports_its_group_only(tmp_path: Path) -> None:
    loaded = imported_by("account", "list", home=tmp_path)
    assert GROUP_MODULES & loaded == {"alephnet.cli.account"}
    assert not HEAVY & loaded


@pytest.mark.parametrize("name", list(GROUPS))
def test_each_summary_is_its_group_s_own_help(name: str) -> None:
    module = importlib.import_module(GROUPS[name].module)
    assert module.app.info.help == GROUPS[name].summary


def test_completion_lists_groups_from_their_summaries_and_loads_a_group_to_go_deeper(
    tmp_path: Path,
) -> None:
    environment = {
        **os.environ,
        "ALEPHNET_HOME": str(tmp_path),
        "_ALEPHNET_COMPLETE": "complete_zsh",
    }

    def complete(words: str) -> str:
        return subprocess.run(
            [str(Path(sys.executable).parent / "alephnet")],  # completion goes by the prog name
            capture_output=True,
            text=True,
            env={**environment, "_TYPER_COMPLETE_ARGS": words},
            check=True,
        ).stdout

    assert '"instance":"Create, list and delete instances' in complete("alephnet i")
    assert '"reboot":' in complete("alephnet instance r")
