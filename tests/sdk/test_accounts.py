"""Accounts and key files: generation, import, mnemonics, the key store's files and default."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import base58
import pytest

from alephnet.protocol import MessageType, build_message, validate_message
from alephnet.sdk import (
    AccountError,
    KeyStore,
    account_from_mnemonic,
    alephnet_home,
    generate_account,
    import_account,
    load_account,
)

HARDHAT_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
HARDHAT_MNEMONIC = "test test test test test test test test test test test junk"


@pytest.mark.parametrize("chain", ["ETH", "SOL", "TEZOS"])
def test_a_generated_account_signs_messages_that_verify(chain: str) -> None:
    account = generate_account(chain)
    body = {"address": account.address, "time": 1.0, "type": "note", "content": {}}
    built = build_message(account.signer, MessageType.POST, body)
    assert validate_message(built.message).sender == account.address


def test_import_hex_with_or_without_0x() -> None:
    assert import_account(HARDHAT_KEY).address == HARDHAT_ADDRESS
    assert import_account("0x" + HARDHAT_KEY).address == HARDHAT_ADDRESS


def test_a_solana_keypair_in_base58_imports_as_its_seed() -> None:
    account = generate_account("SOL")
    keypair = account.private_key + base58.b58decode(account.address)
    assert import_account(base58.b58encode(keypair).decode(), "SOL").address == account.address


def test_an_eth_mnemonic_derives_the_first_wallet_address() -> None:
    assert account_from_mnemonic(HARDHAT_MNEMONIC).address == HARDHAT_ADDRESS


def test_mnemonics_of_other_chains_are_refused_clearly() -> None:
    with pytest.raises(AccountError, match="ETH and EVM chains only"):
        account_from_mnemonic(HARDHAT_MNEMONIC, "SOL")


def test_bad_keys_are_account_errors() -> None:
    with pytest.raises(AccountError):
        import_account("not a key")


def test_a_saved_key_is_private_and_loads_back(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    account = import_account(HARDHAT_KEY)
    path = store.save(account, "main")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {
        "chain": "ETH",
        "private_key": HARDHAT_KEY,
        "address": HARDHAT_ADDRESS,
    }
    loaded = store.load("main")
    assert (loaded.address, loaded.path) == (HARDHAT_ADDRESS, path)


def test_a_key_is_not_overwritten_by_accident(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.save(generate_account(), "main")
    with pytest.raises(AccountError, match="exists already"):
        store.save(generate_account(), "main")


def test_list_default_and_delete(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    sol = generate_account("SOL")
    store.save(generate_account(), "eth")
    store.save(sol, "sol")
    assert store.default is None
    store.default = "sol"
    assert store.load_default().address == sol.address
    listed = {key.name: key for key in store.list()}
    assert listed["sol"].is_default
    assert listed["sol"].chain == "SOL"
    assert not listed["eth"].is_default
    store.delete("sol")
    assert store.default is None
    assert [key.name for key in store.list()] == ["eth"]


def test_the_default_must_name_a_stored_key(tmp_path: Path) -> None:
    with pytest.raises(AccountError, match="no key named"):
        KeyStore(tmp_path).default = "missing"


def test_alephnet_home_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALEPHNET_HOME", str(tmp_path))
    assert alephnet_home() == tmp_path
    assert KeyStore().root == tmp_path / "keys"


def test_the_official_sdk_raw_key_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "ethereum.key"
    path.write_bytes(bytes.fromhex(HARDHAT_KEY))
    assert load_account(path).address == HARDHAT_ADDRESS


def test_a_tampered_address_is_noticed(tmp_path: Path) -> None:
    path = KeyStore(tmp_path).save(generate_account(), "main")
    document = json.loads(path.read_text()) | {"address": HARDHAT_ADDRESS}
    path.write_text(json.dumps(document))
    with pytest.raises(AccountError, match="does not match"):
        load_account(path)
