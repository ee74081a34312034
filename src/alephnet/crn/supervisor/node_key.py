"""The node's own key: an ETH key file in its data dir, created on first start (0600).

The CRN signs with it what it publishes on its CCN: its runtime descriptor and the self-test
program. Its address is shown in `/status/config`.
"""

from __future__ import annotations

from pathlib import Path

from alephnet.sdk.accounts import Account, KeyStore, generate_account, load_account

KEY_NAME = "node"


def load_or_create_node_key(data_dir: Path) -> Account:
    store = KeyStore(data_dir / "keys")
    path = store.path_of(KEY_NAME)
    if path.exists():
        return load_account(path)
    account = generate_account("ETH")
    store.save(account, KEY_NAME)
    return load_account(path)
