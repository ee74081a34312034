"""The node's libp2p identity: an Ed25519 key kept in its data dir, so its peer id is stable
across restarts (peers and bootstrap lists name it).

The file holds the 32-byte private seed, readable by the owner only (0600). Ed25519 rather
than Aleph's RSA-2048: py-libp2p signs every gossip message with it, and Ed25519 signs in
microseconds where RSA takes a millisecond. This module does not import libp2p (whose import
takes a second and configures logging): `devnet up` computes peer ids with it.
"""

from __future__ import annotations

import os
from pathlib import Path

import base58
from nacl.signing import SigningKey

KEY_FILE = "p2p-node.key"
SEED_SIZE = 32
# libp2p's PublicKey protobuf for an Ed25519 key: field 1 (type) = 1, field 2 (data) = 32 bytes.
ED25519_PUBLIC_KEY_PREFIX = bytes([0x08, 0x01, 0x12, 0x20])
IDENTITY_MULTIHASH = 0x00


class NodeKeyError(Exception):
    """The key file exists but is not a node key."""


def node_key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_or_create_seed(data_dir: Path) -> bytes:
    """The key seed of `data_dir`, created on first use. It is written under a temporary name
    and renamed: a node killed while writing never leaves a truncated key behind."""
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
    return seed


def peer_id_of(data_dir: Path) -> str:
    """The peer id of the node of `data_dir` (its key is created if missing): the identity
    multihash of the public key's protobuf encoding, in base58, as libp2p derives it for
    keys this small."""
    public_key = bytes(SigningKey(load_or_create_seed(data_dir)).verify_key)
    encoded = ED25519_PUBLIC_KEY_PREFIX + public_key
    return str(base58.b58encode(bytes([IDENTITY_MULTIHASH, len(encoded)]) + encoded).decode())
