"""The gossip message id of Aleph's own p2p service, so that our IHAVE/IWANT dedupe with theirs.

Their service (rust-libp2p) hashes the payload with the Rust standard library's `DefaultHasher`
(SipHash-1-3 with zero keys) the way `Vec<u8>::hash` feeds it: the length as a little-endian
u64, then the bytes. The id is the decimal text of the 64-bit result.
"""

from __future__ import annotations

import struct

MASK = (1 << 64) - 1


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & MASK


def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & MASK
    v1 = _rotate(v1, 13) ^ v0
    v0 = _rotate(v0, 32)
    v2 = (v2 + v3) & MASK
    v3 = _rotate(v3, 16) ^ v2
    v0 = (v0 + v3) & MASK
    v3 = _rotate(v3, 21) ^ v0
    v2 = (v2 + v1) & MASK
    v1 = _rotate(v1, 17) ^ v2
    v2 = _rotate(v2, 32)
    return v0, v1, v2, v3


def siphash13(data: bytes, k0: int = 0, k1: int = 0) -> int:
    """SipHash-1-3 (one compression round, three finalization rounds) of `data`."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    whole = len(data) - len(data) % 8
    for (word,) in struct.iter_unpack("<Q", data[:whole]):
        v3 ^= word
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= word
    last = int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def aleph_message_id(payload: bytes) -> bytes:
    """The id Aleph's p2p service gives a gossip message carrying `payload`."""
    return str(siphash13(struct.pack("<Q", len(payload)) + payload)).encode()
