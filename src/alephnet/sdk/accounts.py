"""Accounts: a signing key, and where it is kept.

Key files live in `$ALEPHNET_HOME/keys/` (default `~/.alephnet/keys/`), one JSON file per key,
readable by its owner only (0600, in a 0700 folder):

```json
{"chain": "ETH", "private_key": "<64 hex digits>", "address": "0x..."}
```

`private_key` is the 32-byte secret: the secp256k1 key (ETH and EVM chains), the ed25519 seed
(SOL, ES, TEZOS). `address` is written for people and tools that list keys without loading them;
it is checked on load. A file named `default` holds the name of the default key. `load_account`
also reads the official SDK's key files (the raw 32 bytes, ETH).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import base58

from alephnet.protocol import EvmSigner, Signer, SolanaSigner, TezosSigner
from alephnet.sdk.exceptions import AccountError

SOLANA_CHAINS = frozenset({"SOL", "ES"})
TEZOS = "TEZOS"
SECRET_LENGTH = 32
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_FILE = "default"


@dataclass(frozen=True, slots=True)
class Account:
    """A signer, and the key file it was loaded from or saved to (None if it lives in memory)."""

    signer: Signer
    path: Path | None = None

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def chain(self) -> str:
        return self.signer.chain

    @property
    def private_key(self) -> bytes:
        return _secret_of(self.signer)


def signer_for(chain: str, secret: bytes) -> Signer:
    """The signer of `chain` for a 32-byte secret. Every chain not Solana or Tezos is an EVM
    chain, as in the official SDK."""
    if len(secret) != SECRET_LENGTH:
        raise AccountError(f"a private key is {SECRET_LENGTH} bytes, got {len(secret)}")
    if chain in SOLANA_CHAINS:
        return SolanaSigner(secret, chain)
    if chain == TEZOS:
        return TezosSigner.ed25519(secret)
    return EvmSigner(secret, chain)


def generate_account(chain: str = "ETH") -> Account:
    return Account(signer_for(chain, os.urandom(SECRET_LENGTH)))


def import_account(private_key: str, chain: str = "ETH") -> Account:
    """From hex (with or without 0x), or for Solana chains base58 of the 32-byte seed or of the
    64-byte keypair that wallets such as Phantom export."""
    return Account(signer_for(chain, _decode_secret(private_key.strip(), chain)))


def account_from_mnemonic(mnemonic: str, chain: str = "ETH", path: str | None = None) -> Account:
    """ETH (and EVM chains) through eth-account's BIP-44 derivation (default `m/44'/60'/0'/0/0`).
    Solana and Tezos wallets derive keys in ways no well-kept Python library reproduces
    (SLIP-10 ed25519 paths), so they are refused rather than derived differently.

    eth-account is imported here, not with the module: it costs about 0.2 s of CPU to import,
    and only this function uses it."""
    from eth_account import Account as EthAccount

    if chain in SOLANA_CHAINS or chain == TEZOS:
        raise AccountError(
            f"mnemonics are supported for ETH and EVM chains only, not {chain}: "
            "import the private key instead"
        )
    EthAccount.enable_unaudited_hdwallet_features()
    try:
        local = (
            EthAccount.from_mnemonic(mnemonic)
            if path is None
            else EthAccount.from_mnemonic(mnemonic, account_path=path)
        )
    except Exception as error:  # eth-account raises ValueError and its own errors alike
        raise AccountError(f"invalid mnemonic: {error}") from error
    return Account(signer_for(chain, bytes(local.key)))


def load_account(path: str | os.PathLike[str]) -> Account:
    """A key file: ours (JSON), or the official SDK's raw 32 bytes (an ETH key)."""
    key_path = Path(path)
    try:
        raw = key_path.read_bytes()
    except OSError as error:
        raise AccountError(f"cannot read key file {key_path}: {error.strerror}") from error
    if len(raw) == SECRET_LENGTH:
        return Account(signer_for("ETH", raw), key_path)
    try:
        document = json.loads(raw)
        chain, secret = str(document["chain"]), bytes.fromhex(document["private_key"])
    except (ValueError, KeyError, TypeError) as error:
        raise AccountError(f"{key_path} is not a key file: {error}") from error
    account = Account(signer_for(chain, secret), key_path)
    if document.get("address") not in (None, account.address):
        raise AccountError(f"{key_path}: its address does not match its private key")
    return account


@dataclass(frozen=True, slots=True)
class StoredKey:
    name: str
    chain: str
    address: str
    path: Path
    is_default: bool


def alephnet_home() -> Path:
    return Path(os.environ.get("ALEPHNET_HOME") or Path.home() / ".alephnet")


class KeyStore:
    """Named key files in one folder (see the module docstring for the format)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else alephnet_home() / "keys"

    def path_of(self, name: str) -> Path:
        if not KEY_NAME.match(name) or name == DEFAULT_FILE:
            raise AccountError(f"invalid key name {name!r}: letters, digits, '.', '_' and '-'")
        return self.root / f"{name}.json"

    def save(self, account: Account, name: str, *, overwrite: bool = False) -> Path:
        """Write the key file (0600) atomically; refuses to replace a key unless `overwrite`."""
        path = self.path_of(name)
        if path.exists() and not overwrite:
            raise AccountError(f"a key named {name!r} exists already: {path}")
        document = {
            "chain": account.chain,
            "private_key": account.private_key.hex(),
            "address": account.address,
        }
        self._write_private(path, json.dumps(document, indent=2) + "\n")
        return path

    def load(self, name: str) -> Account:
        path = self.path_of(name)
        if not path.exists():
            raise AccountError(f"no key named {name!r} in {self.root}")
        return load_account(path)

    def list(self) -> list[StoredKey]:
        default = self.default
        keys = []
        for path in sorted(self.root.glob("*.json")):
            account = load_account(path)
            name = path.stem
            keys.append(StoredKey(name, account.chain, account.address, path, name == default))
        return keys

    def delete(self, name: str) -> None:
        path = self.path_of(name)
        if not path.exists():
            raise AccountError(f"no key named {name!r} in {self.root}")
        path.unlink()
        if self.default == name:
            (self.root / DEFAULT_FILE).unlink()

    @property
    def default(self) -> str | None:
        """The default key's name, or None when none is set."""
        marker = self.root / DEFAULT_FILE
        return marker.read_text().strip() or None if marker.exists() else None

    @default.setter
    def default(self, name: str) -> None:
        if not self.path_of(name).exists():
            raise AccountError(f"no key named {name!r} in {self.root}")
        self._write_private(self.root / DEFAULT_FILE, name + "\n")

    def load_default(self) -> Account:
        name = self.default
        if name is None:
            raise AccountError(f"no default key in {self.root}")
        return self.load(name)

    def _write_private(self, path: Path, text: str) -> None:
        """Written to a 0600 temporary file, then renamed: a key is never half-written nor, for
        an instant, readable by others."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)
        temporary = path.with_name(f".{path.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)


def _decode_secret(text: str, chain: str) -> bytes:
    hex_text = text.removeprefix("0x")
    if re.fullmatch(r"[0-9a-fA-F]{64}", hex_text):
        return bytes.fromhex(hex_text)
    if chain not in SOLANA_CHAINS:
        raise AccountError(f"a {chain} private key is 64 hex digits")
    try:
        decoded = base58.b58decode(text)
    except ValueError as error:
        raise AccountError(f"not hex nor base58: {error}") from error
    if len(decoded) not in (SECRET_LENGTH, 2 * SECRET_LENGTH):
        raise AccountError(f"a Solana key is 32 or 64 bytes, got {len(decoded)}")
    return bytes(decoded[:SECRET_LENGTH])


def _secret_of(signer: Signer) -> bytes:
    if isinstance(signer, EvmSigner | SolanaSigner):
        return signer.private_key
    if isinstance(signer, TezosSigner) and signer.curve == "ed25519":
        return signer.secret
    raise AccountError(f"{type(signer).__name__} keys cannot be exported")
