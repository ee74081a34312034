"""`alephnet account ...`: keys in the key store, shown without their secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import base58
import pytest

from alephnet.protocol import SolanaSigner
from tests.cli.conftest import Cli

pytestmark = pytest.mark.slow

# Hardhat's first development key and the mnemonic it derives from: well known, hold nothing.
HARDHAT_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
HARDHAT_MNEMONIC = "test test test test test test test test test test test junk"


@pytest.fixture
def offline(tmp_path: Path) -> Cli:
    """Account commands that need no node, on a fresh key store."""
    return Cli("http://127.0.0.1:9", tmp_path / "home")


def test_first_created_key_is_the_default_and_private(offline: Cli) -> None:
    created = offline.json("account", "create", "--name", "alice")
    assert created["address"].startswith("0x")
    key_file = Path(created["key_file"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = offline.json("account", "show")
    assert shown == {"address": created["address"], "chain": "ETH", "key_file": str(key_file)}
    assert "private_key" not in offline.run("account", "show").stdout


def test_import_hex_and_show_private_key_on_request(offline: Cli) -> None:
    offline.run("account", "import", HARDHAT_KEY, "--name", "hardhat")
    shown = offline.json("account", "show", "hardhat", "--private-key")
    assert shown["address"] == HARDHAT_ADDRESS
    assert shown["private_key"] == HARDHAT_KEY


def test_import_mnemonic_from_stdin(offline: Cli) -> None:
    imported = offline.json("account", "import", "--mnemonic", input=HARDHAT_MNEMONIC + "\n")
    assert imported["address"] == HARDHAT_ADDRESS
    assert imported["name"] == "eth"


def test_import_solana_base58_and_list(offline: Cli) -> None:
    seed = bytes(range(32))
    offline.run("account", "create", "--name", "first")
    offline.run("account", "import", base58.b58encode(seed).decode(), "--chain", "sol", "--default")
    listed = offline.json("account", "list")
    assert [(key["name"], key["chain"], key["is_default"]) for key in listed] == [
        ("first", "ETH", False),
        ("sol", "SOL", True),
    ]
    assert listed[1]["address"] == SolanaSigner(seed).address
    table = offline.run("account", "list").stdout
    assert SolanaSigner(seed).address in table


def test_tezos_account(offline: Cli) -> None:
    created = offline.json("account", "create", "--chain", "TEZOS")
    assert created["chain"] == "TEZOS"
    assert created["address"].startswith("tz1")


def test_missing_account_says_how_to_make_one(offline: Cli) -> None:
    failed = offline.run("account", "show", expect=1)
    assert "alephnet account create" in failed.stderr
    failed = offline.run("--account", "nobody", "account", "show", expect=1)
    assert "no account named 'nobody'" in failed.stderr


def test_duplicate_name_is_refused(offline: Cli) -> None:
    offline.run("account", "create", "--name", "twice")
    failed = offline.run("account", "create", "--name", "twice", expect=1)
    assert "exists already" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_import_needs_a_key_or_a_mnemonic(offline: Cli) -> None:
    failed = offline.run("account", "import", expect=2)
    assert "PRIVATE_KEY or --mnemonic" in failed.stderr


def test_balance(cli: Cli) -> None:
    address = cli.json("account", "show")["address"]
    balance = cli.json("account", "balance")
    assert balance["address"] == address
    assert cli.json("account", "balance", HARDHAT_ADDRESS)["address"] == HARDHAT_ADDRESS
