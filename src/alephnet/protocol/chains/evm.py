"""ETH and the EVM chains: EIP-191 `personal_sign` of the buffer, verified by key recovery.

Verification recovers the public key with coincurve directly rather than through eth-account:
it is the hot path of message intake. It costs one recovery plus two keccaks (safe-pysha3, a C
extension, 4x faster than pycryptodome's here) and compares raw address bytes, because EIP-55
checksumming (17 µs in eth-utils) would cost a third of the recovery itself.
"""

from __future__ import annotations

import secrets

import coincurve
from sha3 import keccak_256

from alephnet.protocol.chains.base import SignedFields, Signer
from alephnet.protocol.errors import InvalidSignature

SIGNATURE_BYTES = 65
_EIP191_PREFIX = b"\x19Ethereum Signed Message:\n"


def keccak256(data: bytes) -> bytes:
    return bytes(keccak_256(data).digest())


def eip191_digest(buffer: bytes) -> bytes:
    """The hash `personal_sign` signs: the prefixed message, its length written in decimal."""
    return keccak256(_EIP191_PREFIX + str(len(buffer)).encode() + buffer)


def checksum_address(raw_address: bytes) -> str:
    """EIP-55: each hex letter is upper case where the keccak of the lower-case hex has a
    nibble >= 8. Written here because eth_utils costs every process ~60 ms of imports for it."""
    lower = raw_address.hex()
    digest = keccak256(lower.encode()).hex()
    letters = (c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest, strict=False))
    return "0x" + "".join(letters)


def raw_address_of(public_key: coincurve.PublicKey) -> bytes:
    return keccak256(public_key.format(compressed=False)[1:])[-20:]


def address_of(public_key: coincurve.PublicKey) -> str:
    """The EIP-55 checksummed address of a public key."""
    return checksum_address(raw_address_of(public_key))


def recover_raw_address(buffer: bytes, signature: str) -> bytes:
    """The 20-byte address that produced `signature` over `buffer`; InvalidSignature if none."""
    raw = _decode_signature(signature)
    recovery_id = raw[64] - 27 if raw[64] >= 27 else raw[64]
    if recovery_id not in (0, 1):
        raise InvalidSignature(f"signature recovery byte v={raw[64]} is not 27 or 28")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            raw[:64] + bytes([recovery_id]), eip191_digest(buffer), hasher=None
        )
    except Exception as error:  # coincurve raises bare Exception on an unrecoverable signature
        raise InvalidSignature(f"no public key recovers from this signature: {error}") from error
    return raw_address_of(public_key)


def verify_evm(fields: SignedFields, signature: str) -> None:
    """Addresses compare case-insensitively: the case of an EVM address is only a checksum."""
    signer = recover_raw_address(fields.buffer(), signature)
    if signer.hex() != _hex_address(fields.sender):
        signer_address = checksum_address(signer)
        raise InvalidSignature(f"signed by {signer_address}, not by the sender {fields.sender}")


def _hex_address(address: str) -> str:
    return address[2:].lower() if address.startswith(("0x", "0X")) else address.lower()


def _decode_signature(signature: str) -> bytes:
    text = signature[2:] if signature.startswith(("0x", "0X")) else signature
    try:
        raw = bytes.fromhex(text)
    except ValueError as error:
        raise InvalidSignature("an EVM signature is 65 bytes of hex") from error
    if len(raw) != SIGNATURE_BYTES:
        raise InvalidSignature(f"an EVM signature is 65 bytes, this one is {len(raw)}")
    return raw


class EvmSigner(Signer):
    """An secp256k1 key signing as `chain`; the official SDK always writes chain ETH."""

    def __init__(self, private_key: bytes, chain: str = "ETH") -> None:
        self._key = coincurve.PrivateKey(private_key)
        self._address = address_of(self._key.public_key)
        self.chain = chain

    @classmethod
    def generate(cls, chain: str = "ETH") -> EvmSigner:
        return cls(secrets.token_bytes(32), chain)

    @property
    def address(self) -> str:
        return self._address

    @property
    def private_key(self) -> bytes:
        return bytes(self._key.secret)

    def sign_buffer(self, buffer: bytes, time: float) -> str:
        raw = self._key.sign_recoverable(eip191_digest(buffer), hasher=None)
        return "0x" + (raw[:64] + bytes([raw[64] + 27])).hex()
