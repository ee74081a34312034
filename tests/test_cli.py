"""The `alephnet` command: help, offline message verification, file hashing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from alephnet.cli.app import app
from tests.conftest import VECTORS

runner = CliRunner()


def test_help_lists_only_working_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "message" in result.output
    assert "file" in result.output


def test_module_entry_point_prints_version() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "alephnet", "--version"], capture_output=True, text=True, check=True
    )
    assert completed.stdout.startswith("alephnet ")


def test_message_verify_accepts_real_vectors() -> None:
    result = runner.invoke(
        app, ["message", "verify", str(VECTORS / "pyaleph/test-data-posts.json")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("valid") == 2


def test_message_verify_reports_the_forged_forget(tmp_path: Path) -> None:
    path = VECTORS / "pyaleph/test-data-forgotten-messages.json"
    result = runner.invoke(app, ["message", "verify", str(path)])
    assert result.exit_code == 1
    assert "INVALID_FORMAT (0)" in result.output
    assert "1 of 3 messages are invalid" in result.output


def test_message_verify_reads_stdin() -> None:
    message = json.loads((VECTORS / "pyaleph/test-data-pending-messaging.json").read_text())
    result = runner.invoke(app, ["message", "verify", "-"], input=json.dumps(message))
    assert result.exit_code == 0, result.output


def test_message_verify_unreadable_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = runner.invoke(app, ["message", "verify", str(broken)])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_file_hash_prints_sha256_and_cid(tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world\n")
    result = runner.invoke(app, ["file", "hash", str(path)])
    assert result.exit_code == 0, result.output
    assert "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o" in result.output
    assert "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447" in result.output
