"""The dev wallet: one ETH key, made on a devnet's first start and kept in its folder.

It is the default key of the devnet's key store (`DIR/keys`), so the CLI signs with it when
`ALEPHNET_HOME` is the devnet folder. "Funded" is honest only because nodes do not enforce
balances yet: every address counts as funded until the payments issue lands, and a genesis
balance for this address is to be added then.
"""

from __future__ import annotations

from pathlib import Path

from alephnet.devnet.layout import WALLET_NAME
from alephnet.sdk.accounts import Account, KeyStore, generate_account


def ensure_wallet(keys_dir: Path) -> Account:
    """The devnet's wallet, created the first time (later starts reuse it: same address)."""
    store = KeyStore(root=keys_dir)
    if not store.path_of(WALLET_NAME).exists():
        store.save(generate_account(), WALLET_NAME)
        store.default = WALLET_NAME
    return store.load(WALLET_NAME)
