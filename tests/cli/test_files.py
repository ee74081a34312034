"""`alephnet file ...` against a real node, and the message every command gives without one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

pytestmark = pytest.mark.slow


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.bin"
    path.write_bytes(b"alephnet file " * 10_000)
    return path


def test_upload_info_list_download_forget(cli: Cli, sample: Path, tmp_path: Path) -> None:
    file_hash = hashlib.sha256(sample.read_bytes()).hexdigest()
    uploaded = cli.json("file", "upload", str(sample))
    assert uploaded["status"] == "processed"
    [info] = cli.json("file", "info", file_hash)
    assert info["store_hash"] == uploaded["item_hash"]
    assert (info["size"], info["name"], info["engine"]) == (
        sample.stat().st_size,
        "sample.bin",
        "storage",
    )
    assert file_hash in [record["file_hash"] for record in cli.json("file", "list")]
    assert file_hash in cli.run("file", "list").stdout

    target = tmp_path / "copy.bin"
    cli.run("file", "download", file_hash, "-o", str(target))
    assert target.read_bytes() == sample.read_bytes()
    assert cli.run("file", "download", file_hash, "-o", "-").stdout == sample.read_text()

    cli.run("file", "forget", file_hash)
    failed = cli.run("file", "info", file_hash, expect=1)
    assert "no STORE message keeps the file" in failed.stderr


def test_ipfs_upload_is_named_by_cid(cli: Cli, sample: Path) -> None:
    cid = cli.run("file", "hash", str(sample)).stdout.split("ipfs")[1].split()[0]
    cli.run("file", "upload", str(sample), "--engine", "ipfs")
    [info] = cli.json("file", "info", cid)
    assert info["engine"] == "ipfs"


def test_download_of_an_unknown_file_leaves_nothing(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "missing.bin"
    failed = cli.run("file", "download", "0" * 64, "-o", str(target), expect=1)
    assert "error:" in failed.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["message", "get", "0" * 64],
        ["message", "find"],
        ["post", "list"],
        ["account", "balance", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"],
        ["post", "send", "--content", "{}"],
    ],
)
def test_unreachable_node_gives_a_helpful_line(tmp_path: Path, command: list[str]) -> None:
    offline = Cli("http://127.0.0.1:9", tmp_path / "home")
    offline.run("account", "create")
    failed = offline.run(*command, expect=1)
    assert failed.stderr.startswith("error: node at http://127.0.0.1:9 is not reachable: start one")
    assert "--api-url" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
