"""The node's libp2p identity: an Ed25519 key kept in its data dir, so its peer id is stable
across restarts (peers and bootstrap lists name it).

The file holds the 32-byte private seed, readable by the owner only (0600). Ed25519 rather
than Aleph's RSA-2048: py-libp2p signs every gossip message with it, and Ed25519 signs in
microseconds where RSA takes a millisecond.
"""

from __future__ import annotations

import os
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

KEY_FILE = "p2p-node.key"
SEED_SIZE = 32


class NodeKeyError(Exception):
    """The key file exists but is not a node key."""


def node_key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_or_create_node_key(data_dir: Path) -> KeyPair:
    """The key of `data_dir`, created on first use. It is created under a temporary name and
    renamed: a node killed while writing never leaves a truncated key behind."""
    path = node_key_path(data_dir)
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as output:
            output.write(os.urandom(SEED_SIZE))
        partial.replace(path)
    seed = path.read_bytes()
    if len(seed) != SEED_SIZE:
        raise NodeKeyError(f"{path} holds {len(seed)} bytes, not a {SEED_SIZE}-byte Ed25519 seed")
    return create_new_key_pair(seed)


def peer_id_of(data_dir: Path) -> str:
    """The peer id of the node of `data_dir` (its key is created if missing), in base58."""
    return str(ID.from_pubkey(load_or_create_node_key(data_dir).public_key))
