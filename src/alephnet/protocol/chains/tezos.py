"""TEZOS: ed25519, secp256k1 or p256 signatures over the blake2b-256 digest of the signed bytes.

The message's `signature` field is a JSON string::

    {"publicKey": "edpk…|sppk…|p2pk…", "signature": "edsig…|spsig1…|p2sig…|sig…",
     "signingType"?: "raw" | "micheline", "dAppUrl"?: str}

Tezos keys never sign bytes directly: tezos-client, Taquito, Beacon wallets and pytezos all sign
the 32-byte blake2b digest of the bytes, so verification hashes first and then runs the curve
check. The sender is the public key hash (tz1/tz2/tz3), so the public key travels in the
signature and must hash to the sender.

Two kinds of signed bytes exist. `raw` (the default, SDK accounts) signs the verification buffer.
`micheline` is what Beacon web wallets produce: they only sign Michelson-packed data, so the
dApp wraps the buffer in a readable sentence (see `micheline_payload`), and the node rebuilds the
same sentence from the message time.

All keys and signatures use Tezos base58check: fixed binary prefixes chosen so the encoded text
starts with a readable tag (`tz1`, `edpk`, `edsig`, …).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeGuard, get_args

import base58
import coincurve
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey

from alephnet.protocol.chains.base import SignedFields, Signer
from alephnet.protocol.errors import InvalidSignature

Curve = Literal["ed25519", "secp256k1", "p256"]
SigningType = Literal["raw", "micheline"]

DEFAULT_DAPP_URL: Final = "aleph.im"
SECRET_LENGTH: Final = 32
SECP256K1_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# Packed-data tag 0x05, Michelson string tag 0x01, then a 0x00 byte: the Taquito/Beacon recipe
# that pyaleph reproduces (not a real 4-byte Michelson length, but what wallets sign).
MICHELINE_PREFIX: Final = b"\x05\x01\x00"
MICHELINE_SENTENCE: Final = b"Tezos Signed Message:"

# ECDSA signs the digest as a number and never records which hash made it, so declaring the
# 32-byte blake2b digest as "SHA-256" only tells `Prehashed` its length; the result is exact.
_PREHASHED_ECDSA: Final = ec.ECDSA(Prehashed(hashes.SHA256()))

_CURVES: Final[tuple[Curve, ...]] = get_args(Curve)
_SIGNING_TYPES: Final[tuple[SigningType, ...]] = get_args(SigningType)


class TezosEncodingError(ValueError):
    """A string that is not the expected Tezos base58check kind (tag, checksum or length)."""


@dataclass(frozen=True, slots=True)
class Base58Kind:
    """One Tezos base58check kind: `tag` is the readable start of every encoded string."""

    tag: str
    binary_prefix: bytes
    payload_length: int
    encoded_length: int

    def matches(self, text: str) -> bool:
        return text.startswith(self.tag)

    def encode(self, payload: bytes) -> str:
        if len(payload) != self.payload_length:
            raise TezosEncodingError(
                f"a {self.tag}… payload is {self.payload_length} bytes, got {len(payload)}"
            )
        return str(base58.b58encode_check(self.binary_prefix + payload).decode("ascii"))

    def decode(self, text: str) -> bytes:
        """The payload; checks the length first so huge inputs never reach the quadratic decoder."""
        if not self.matches(text) or len(text) != self.encoded_length:
            raise TezosEncodingError(
                f"expected a {self.encoded_length}-character {self.tag}… string, got {text[:8]!r}…"
            )
        try:
            raw: bytes = base58.b58decode_check(text)
        except ValueError as error:
            raise TezosEncodingError(f"{text[:8]}… is not valid base58check: {error}") from error
        if not raw.startswith(self.binary_prefix):
            raise TezosEncodingError(f"{text[:8]}… does not carry the {self.tag} binary prefix")
        payload = raw[len(self.binary_prefix) :]
        if len(payload) != self.payload_length:
            raise TezosEncodingError(
                f"{text[:8]}… holds {len(payload)} bytes, expected {self.payload_length}"
            )
        return payload


@dataclass(frozen=True, slots=True)
class CurveKinds:
    """The four base58check kinds of one curve."""

    address: Base58Kind
    public_key: Base58Kind
    signature: Base58Kind
    secret_key: Base58Kind


KINDS: Final[dict[Curve, CurveKinds]] = {
    "ed25519": CurveKinds(
        address=Base58Kind("tz1", bytes.fromhex("06a19f"), 20, 36),
        public_key=Base58Kind("edpk", bytes.fromhex("0d0f25d9"), 32, 54),
        signature=Base58Kind("edsig", bytes.fromhex("09f5cd8612"), 64, 99),
        secret_key=Base58Kind("edsk", bytes.fromhex("0d0f3a07"), 32, 54),
    ),
    "secp256k1": CurveKinds(
        address=Base58Kind("tz2", bytes.fromhex("06a1a1"), 20, 36),
        public_key=Base58Kind("sppk", bytes.fromhex("03fee256"), 33, 55),
        signature=Base58Kind("spsig1", bytes.fromhex("0d7365133f"), 64, 99),
        secret_key=Base58Kind("spsk", bytes.fromhex("11a2e0c9"), 32, 54),
    ),
    "p256": CurveKinds(
        address=Base58Kind("tz3", bytes.fromhex("06a1a4"), 20, 36),
        public_key=Base58Kind("p2pk", bytes.fromhex("03b28b7f"), 33, 55),
        signature=Base58Kind("p2sig", bytes.fromhex("36f02c34"), 64, 98),
        secret_key=Base58Kind("p2sk", bytes.fromhex("1051eebd"), 32, 54),
    ),
}
# Curve-less signature: the curve is the one of the public key it is checked against.
GENERIC_SIGNATURE: Final = Base58Kind("sig", bytes.fromhex("04822b"), 64, 96)


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def datetime_to_iso8601(moment: dt.datetime) -> str:
    """JavaScript's `Date.toISOString()` form, e.g. `2022-01-01T12:06:23.675Z`.

    Milliseconds are truncated, not rounded, as pyaleph does. A naive datetime is taken as UTC.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def micheline_payload(buffer: bytes, time: float, dapp_url: str) -> bytes:
    """The bytes a Beacon wallet signs for `buffer`.

    `0x05 0x01 0x00` + the ASCII decimal length of the sentence's hex form + the sentence
    `Tezos Signed Message: <dapp_url> <time as ISO-8601 ms Z> <buffer>`. The time is the
    message's envelope time; raises ValueError/OverflowError/OSError for an unrepresentable time
    and UnicodeEncodeError for a dApp URL that is not encodable.
    """
    moment = dt.datetime.fromtimestamp(time, dt.UTC)
    sentence = b" ".join(
        (MICHELINE_SENTENCE, dapp_url.encode(), datetime_to_iso8601(moment).encode(), buffer)
    )
    hex_length = 2 * len(sentence)  # the length of `sentence.hex()`, Taquito's convention
    return MICHELINE_PREFIX + str(hex_length).encode("ascii") + sentence


# ---------------------------------------------------------------------------------------------
# Curve operations: each checks or makes a 64-byte signature over a 32-byte digest.

DigestCheck = Callable[[bytes, bytes], bool]
"""`(digest, 64-byte signature) -> valid?` for one public key."""

DigestSign = Callable[[bytes], bytes]
"""`digest -> 64-byte signature` for one secret key."""


def _der_from_compact(signature: bytes) -> bytes:
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    return encode_dss_signature(r, s)


def _compact_low_s(der_signature: bytes, order: int) -> bytes:
    """`r‖s` with `s` in the lower half of the group: Tezos rejects high-s ECDSA signatures."""
    r, s = decode_dss_signature(der_signature)
    s = min(s, order - s)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _ed25519_check(raw_public_key: bytes) -> DigestCheck:
    key = VerifyKey(raw_public_key)

    def check(digest: bytes, signature: bytes) -> bool:
        try:
            key.verify(digest, signature)
        except CryptoError:
            return False
        return True

    return check


def _secp256k1_check(raw_public_key: bytes) -> DigestCheck:
    try:
        key = coincurve.PublicKey(raw_public_key)
    except ValueError as error:
        raise TezosEncodingError("publicKey is not a point on secp256k1") from error

    def check(digest: bytes, signature: bytes) -> bool:
        # libsecp256k1 refuses high-s signatures, as the Tezos node and pytezos do.
        try:
            return bool(key.verify(_der_from_compact(signature), digest, hasher=None))
        except ValueError:
            return False

    return check


def _p256_check(raw_public_key: bytes) -> DigestCheck:
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_public_key)
    except ValueError as error:
        raise TezosEncodingError("publicKey is not a point on p256") from error

    def check(digest: bytes, signature: bytes) -> bool:
        # No low-s rule here: pytezos (the reference node's library) accepts both halves.
        try:
            key.verify(_der_from_compact(signature), digest, _PREHASHED_ECDSA)
        except CryptographyInvalidSignature:
            return False
        return True

    return check


def _ed25519_key(seed: bytes) -> tuple[bytes, DigestSign]:
    key = SigningKey(seed)
    return bytes(key.verify_key), lambda digest: bytes(key.sign(digest).signature)


def _secp256k1_key(secret: bytes) -> tuple[bytes, DigestSign]:
    key = coincurve.PrivateKey(secret)
    public_key: bytes = key.public_key.format(compressed=True)
    return public_key, lambda digest: _compact_low_s(key.sign(digest, hasher=None), SECP256K1_ORDER)


def _p256_key(secret: bytes) -> tuple[bytes, DigestSign]:
    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())
    public_key = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return public_key, lambda digest: _compact_low_s(key.sign(digest, _PREHASHED_ECDSA), P256_ORDER)


_CHECKS: Final[dict[Curve, Callable[[bytes], DigestCheck]]] = {
    "ed25519": _ed25519_check,
    "secp256k1": _secp256k1_check,
    "p256": _p256_check,
}
_KEYS: Final[dict[Curve, Callable[[bytes], tuple[bytes, DigestSign]]]] = {
    "ed25519": _ed25519_key,
    "secp256k1": _secp256k1_key,
    "p256": _p256_key,
}
_ORDERS: Final[dict[Curve, int]] = {"secp256k1": SECP256K1_ORDER, "p256": P256_ORDER}


# ---------------------------------------------------------------------------------------------
# Verification


def _is_curve(value: object) -> TypeGuard[Curve]:
    return value in _CURVES


def _is_signing_type(value: object) -> TypeGuard[SigningType]:
    return value in _SIGNING_TYPES


@dataclass(frozen=True, slots=True)
class TezosPublicKey:
    """A public key: its curve and raw bytes (32 for ed25519, 33 compressed for ECDSA)."""

    curve: Curve
    raw: bytes

    @classmethod
    def decode(cls, text: str) -> TezosPublicKey:
        """From `edpk…`, `sppk…` or `p2pk…`; the tag gives the curve."""
        for curve, kinds in KINDS.items():
            if kinds.public_key.matches(text):
                return cls(curve, kinds.public_key.decode(text))
        raise TezosEncodingError(f"a public key starts with edpk, sppk or p2pk, got {text[:8]!r}…")

    def encode(self) -> str:
        return KINDS[self.curve].public_key.encode(self.raw)

    @property
    def address(self) -> str:
        """The tz1/tz2/tz3 public key hash: blake2b-160 of the raw public key."""
        key_hash = hashlib.blake2b(self.raw, digest_size=20).digest()
        return KINDS[self.curve].address.encode(key_hash)

    def verify(self, signature: str, payload: bytes) -> None:
        """Raise InvalidSignature unless `signature` (base58) signs `payload` with this key.

        The counterpart of pytezos `Key.verify`: the curve check runs on blake2b-256(payload).
        """
        try:
            raw_signature = self._decode_signature(signature)
            check = _CHECKS[self.curve](self.raw)
        except TezosEncodingError as error:
            raise InvalidSignature(str(error)) from error
        if not check(blake2b_256(payload), raw_signature):
            raise InvalidSignature(f"the {self.curve} signature does not match the signed bytes")

    def _decode_signature(self, text: str) -> bytes:
        """The raw 64-byte signature, under the curve's own tag or the generic `sig` tag."""
        own = KINDS[self.curve].signature
        for kind in (own, GENERIC_SIGNATURE):
            if kind.matches(text):
                return kind.decode(text)
        raise TezosEncodingError(
            f"a {self.curve} key signs as {own.tag}… or sig…, got {text[:8]!r}…"
        )


@dataclass(frozen=True, slots=True)
class TezosSignatureDocument:
    """The parsed `signature` field of a TEZOS message."""

    public_key: str
    signature: str
    signing_type: SigningType = "raw"
    dapp_url: str = DEFAULT_DAPP_URL

    @classmethod
    def parse(cls, text: str) -> TezosSignatureDocument:
        try:
            document = json.loads(text)
        except (TypeError, ValueError, RecursionError) as error:
            raise InvalidSignature(f"the Tezos signature field is not JSON: {error}") from error
        if not isinstance(document, dict):
            raise InvalidSignature("the Tezos signature field must be a JSON object")
        signing_type = document.get("signingType", "raw")
        if not _is_signing_type(signing_type):
            raise InvalidSignature(f"signingType must be raw or micheline, got {signing_type!r}")
        return cls(
            public_key=_string_entry(document, "publicKey"),
            signature=_string_entry(document, "signature"),
            signing_type=signing_type,
            dapp_url=_string_entry(document, "dAppUrl", DEFAULT_DAPP_URL),
        )

    def to_json(self) -> str:
        """`publicKey` and `signature` (the SDK's order), plus the non-default options only."""
        document = {"publicKey": self.public_key, "signature": self.signature}
        if self.signing_type != "raw":
            document["signingType"] = self.signing_type
            if self.dapp_url != DEFAULT_DAPP_URL:
                document["dAppUrl"] = self.dapp_url
        return json.dumps(document)


def _string_entry(document: dict[str, Any], key: str, default: str | None = None) -> str:
    value = document.get(key, default)
    if not isinstance(value, str):
        raise InvalidSignature(f"the Tezos signature JSON has no string {key!r}")
    return value


def signed_payload(fields: SignedFields, signing_type: SigningType, dapp_url: str) -> bytes:
    """The bytes the signature covers: the verification buffer, raw or micheline-wrapped."""
    try:
        buffer = fields.buffer()
        if signing_type == "raw":
            return buffer
        return micheline_payload(buffer, fields.time, dapp_url)
    except (ValueError, OverflowError, OSError) as error:
        raise InvalidSignature(
            f"cannot rebuild the signed {signing_type} bytes: {error}"
        ) from error


def verify_tezos(fields: SignedFields, signature: str) -> None:
    """Raise InvalidSignature unless the publicKey hashes to the sender and signed the message.

    Stricter than pyaleph, which only logs a publicKey that does not hash to the sender.
    """
    document = TezosSignatureDocument.parse(signature)
    try:
        key = TezosPublicKey.decode(document.public_key)
    except TezosEncodingError as error:
        raise InvalidSignature(str(error)) from error
    if key.address != fields.sender:
        raise InvalidSignature(
            f"publicKey hashes to {key.address}, not to the sender {fields.sender}"
        )
    key.verify(document.signature, signed_payload(fields, document.signing_type, document.dapp_url))


# ---------------------------------------------------------------------------------------------
# Signing


class TezosSigner(Signer):
    """A Tezos key on one of the three curves, from its 32-byte secret (ed25519: the seed).

    `signing_type="micheline"` signs as a Beacon wallet would, for `dapp_url`; the default `raw`
    signs as the Aleph SDK does (`dapp_url` is then unused).
    """

    chain = "TEZOS"

    def __init__(
        self,
        curve: Curve,
        secret: bytes,
        *,
        signing_type: SigningType = "raw",
        dapp_url: str = DEFAULT_DAPP_URL,
    ) -> None:
        if not _is_curve(curve):
            raise ValueError(f"curve must be one of {', '.join(_CURVES)}, got {curve!r}")
        if not _is_signing_type(signing_type):
            raise ValueError(f"signing_type must be raw or micheline, got {signing_type!r}")
        if len(secret) != SECRET_LENGTH:
            raise ValueError(f"a Tezos secret is {SECRET_LENGTH} bytes, got {len(secret)}")
        self.curve: Curve = curve
        self.signing_type: SigningType = signing_type
        self.dapp_url = dapp_url
        self._secret = bytes(secret)
        raw_public_key, self._sign_digest = _KEYS[curve](self._secret)
        self._key = TezosPublicKey(curve, raw_public_key)
        self._address = self._key.address

    @classmethod
    def ed25519(
        cls, seed: bytes, *, signing_type: SigningType = "raw", dapp_url: str = DEFAULT_DAPP_URL
    ) -> TezosSigner:
        return cls("ed25519", seed, signing_type=signing_type, dapp_url=dapp_url)

    @classmethod
    def secp256k1(
        cls, secret: bytes, *, signing_type: SigningType = "raw", dapp_url: str = DEFAULT_DAPP_URL
    ) -> TezosSigner:
        return cls("secp256k1", secret, signing_type=signing_type, dapp_url=dapp_url)

    @classmethod
    def p256(
        cls, secret: bytes, *, signing_type: SigningType = "raw", dapp_url: str = DEFAULT_DAPP_URL
    ) -> TezosSigner:
        return cls("p256", secret, signing_type=signing_type, dapp_url=dapp_url)

    @classmethod
    def generate(
        cls,
        curve: Curve = "ed25519",
        *,
        signing_type: SigningType = "raw",
        dapp_url: str = DEFAULT_DAPP_URL,
    ) -> TezosSigner:
        """A fresh random key; ECDSA secrets are drawn below the group order, never rejected."""
        if curve in _ORDERS:
            secret = (secrets.randbelow(_ORDERS[curve] - 1) + 1).to_bytes(SECRET_LENGTH, "big")
        else:
            secret = secrets.token_bytes(SECRET_LENGTH)
        return cls(curve, secret, signing_type=signing_type, dapp_url=dapp_url)

    @classmethod
    def from_secret_key(
        cls,
        encoded: str,
        *,
        signing_type: SigningType = "raw",
        dapp_url: str = DEFAULT_DAPP_URL,
    ) -> TezosSigner:
        """From a tezos-client unencrypted secret key: `edsk…` (the 54-character seed form),
        `spsk…` or `p2sk…`. Raises TezosEncodingError (a ValueError) for anything else."""
        for curve, kinds in KINDS.items():
            if kinds.secret_key.matches(encoded):
                secret = kinds.secret_key.decode(encoded)
                return cls(curve, secret, signing_type=signing_type, dapp_url=dapp_url)
        raise TezosEncodingError("a secret key must start with edsk, spsk or p2sk")

    @property
    def address(self) -> str:
        """The tz1 (ed25519), tz2 (secp256k1) or tz3 (p256) public key hash."""
        return self._address

    @property
    def public_key(self) -> str:
        """The edpk/sppk/p2pk encoded public key."""
        return self._key.encode()

    @property
    def secret(self) -> bytes:
        """The 32-byte secret (the seed for ed25519), as the SDK's key files store it."""
        return self._secret

    def sign_raw(self, payload: bytes) -> str:
        """The edsig/spsig1/p2sig signature of arbitrary bytes (pytezos `Key.sign`)."""
        signature = self._sign_digest(blake2b_256(payload))
        return KINDS[self.curve].signature.encode(signature)

    def sign_buffer(self, buffer: bytes, time: float) -> str:
        if self.signing_type == "raw":
            payload = buffer
        else:
            payload = micheline_payload(buffer, time, self.dapp_url)
        document = TezosSignatureDocument(
            public_key=self.public_key,
            signature=self.sign_raw(payload),
            signing_type=self.signing_type,
            dapp_url=self.dapp_url,
        )
        return document.to_json()
