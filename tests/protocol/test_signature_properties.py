"""For every chain: what a key signs verifies, and any single-byte change breaks it."""

from __future__ import annotations

import json
from dataclasses import replace

import base58
import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from alephnet.protocol import SignedFields
from alephnet.protocol.chains import VERIFIERS
from alephnet.protocol.chains.evm import checksum_address
from alephnet.protocol.errors import InvalidSignature
from tests.protocol.signers import KEY_A, SIGNER_FACTORIES

HEX = "0123456789abcdef"
item_hashes = st.text(alphabet=HEX, min_size=64, max_size=64)
times = st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False)
message_types = st.sampled_from(["POST", "AGGREGATE", "STORE", "FORGET", "PROGRAM", "INSTANCE"])


def _fields(kind: str, message_type: str, item_hash: str, time: float) -> SignedFields:
    signer = SIGNER_FACTORIES[kind](KEY_A)
    return SignedFields(signer.chain, signer.address, message_type, item_hash, time)


def _flip(text: str, position: int) -> str:
    """Change one character into another that is still plausible for the field."""
    index = position % len(text)
    replacement = "0" if text[index] != "0" else "1"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("kind", sorted(SIGNER_FACTORIES))
@settings(max_examples=25, deadline=None)
@given(
    message_type=message_types,
    item_hash=item_hashes,
    time=times,
    tampered_field=st.sampled_from(["sender", "type", "item_hash"]),
    position=st.integers(0, 10**6),
)
def test_sign_verify_and_tamper(
    kind: str, message_type: str, item_hash: str, time: float, tampered_field: str, position: int
) -> None:
    signer = SIGNER_FACTORIES[kind](KEY_A)
    fields = _fields(kind, message_type, item_hash, time)
    signature = signer.sign(fields)
    verify = VERIFIERS[signer.chain]
    verify(fields, signature)

    changed = _flip(getattr(fields, tampered_field), position)
    with pytest.raises(InvalidSignature):
        verify(replace(fields, **{tampered_field: changed}), signature)

    with pytest.raises(InvalidSignature):
        verify(fields, _flip_signature_byte(signature, position))


def _flip_signature_byte(signature: str, position: int) -> str:
    """Flip one bit of the raw signature bytes, re-encoded in the chain's own format."""
    if signature.startswith("0x"):
        raw = bytearray.fromhex(signature[2:])
        raw[position % len(raw)] ^= 0x01
        return "0x" + raw.hex()
    document = json.loads(signature)
    encoded = document["signature"]
    if encoded.startswith(("edsig", "spsig", "p2sig", "sig")):
        raw = bytearray(base58.b58decode_check(encoded))
        raw[-1 - position % 64] ^= 0x01
        document["signature"] = base58.b58encode_check(bytes(raw)).decode()
    else:
        raw = bytearray(base58.b58decode(encoded))
        raw[position % len(raw)] ^= 0x01
        document["signature"] = base58.b58encode(bytes(raw)).decode()
    return json.dumps(document)


@given(raw=st.binary(min_size=20, max_size=20))
def test_checksum_addresses_match_eth_utils(raw: bytes) -> None:
    """Our EIP-55 (written to spare every process the eth_utils import) agrees with it."""
    assert checksum_address(raw) == to_checksum_address(raw)
