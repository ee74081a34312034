"""The two ways a request to a CRN proves who sent it, as the reference CRN checks them.

**Scheduler calls** (`/control/allocations`): header
`Authorization: Aleph-EIP191-V1 sig=0x…,payload=…`, where `payload` is the hex of a JSON object
`{method, path, body_sha256, iat}` and `sig` its EIP-191 (`personal_sign`) signature. The CRN
recovers the signer and checks it is authorised (the linked CCN's key); `iat` must be within
`ALLOCATION_MAX_AGE_SECONDS` of now and grow for every accepted call of a signer, which makes a
captured request useless (`AllocationReplayGuard`). Query strings are refused: they are not
covered by the signature.

**Owner calls** (`/control/machine/{ref}/...`): the wallet signs (EIP-191) once an ephemeral
P-256 public key with an expiry and the CRN's domain (`X-SignedPubKey`); that key then signs
each operation `{time, method, path, domain}` with ES256 (`X-SignedOperation`), so a console
or CLI does not prompt the wallet at every call. Both headers are JSON `{payload: hex, signature:
hex}`. The operation's time must be within `OPERATION_MAX_SKEW_SECONDS` of now.

Pure: the caller passes the clock (`now`, Unix seconds) and keeps replay state.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature as InvalidEcdsaSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from alephnet.protocol.chains.evm import EvmSigner, checksum_address, recover_raw_address
from alephnet.protocol.errors import InvalidSignature

ALLOCATION_SCHEME = "Aleph-EIP191-V1"
ALLOCATION_MAX_AGE_SECONDS = 300
MAX_SIGNED_BODY_BYTES = 1024 * 1024
OPERATION_MAX_SKEW_SECONDS = 120
DEFAULT_KEY_LIFETIME_SECONDS = 24 * 3600
SIGNED_PUBKEY_HEADER = "X-SignedPubKey"
SIGNED_OPERATION_HEADER = "X-SignedOperation"
_P256_COORDINATE_BYTES = 32


class CrnAuthError(Exception):
    """The request does not prove its sender; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _unauthorized(reason: str) -> CrnAuthError:
    return CrnAuthError(401, reason)


def _bad_request(reason: str) -> CrnAuthError:
    return CrnAuthError(400, reason)


# ---------------------------------------------------------------------------------------------
# Scheduler calls


@dataclass(frozen=True)
class VerifiedAllocation:
    signer: str  # EIP-55 checksummed
    iat: int


def sign_allocation_request(
    signer: EvmSigner, method: str, path: str, body: bytes, now: float
) -> str:
    """The `Authorization` header value for a scheduler call."""
    payload = _compact_json(
        {
            "method": method.upper(),
            "path": path,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "iat": int(now),
        }
    )
    signature = signer.sign_buffer(payload, now)
    return f"{ALLOCATION_SCHEME} sig={signature},payload={payload.hex()}"


def verify_allocation_request(
    authorization: str | None,
    method: str,
    path: str,
    query_string: str,
    body: bytes,
    now: float,
    max_age_seconds: int = ALLOCATION_MAX_AGE_SECONDS,
) -> VerifiedAllocation:
    """Who signed this call; raises `CrnAuthError(401)` for anything that does not check out.

    The caller still decides whether that signer is authorised and whether its `iat` is fresh.
    """
    if not authorization:
        raise _unauthorized(f"missing Authorization header ({ALLOCATION_SCHEME} signature)")
    if query_string:
        raise _unauthorized("signed calls take no query string (it is not signed)")
    if len(body) > MAX_SIGNED_BODY_BYTES:
        raise _unauthorized(f"signed bodies are limited to {MAX_SIGNED_BODY_BYTES} bytes")
    params = _allocation_params(authorization)
    payload_bytes = _hex_bytes(params["payload"], "payload")
    payload = _json_object(payload_bytes, "payload", _unauthorized)
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _unauthorized("payload field iat must be an integer")
    if abs(iat - now) > max_age_seconds:
        raise _unauthorized(f"signature time {iat} is more than {max_age_seconds} s from now")
    if payload.get("method") != method.upper() or payload.get("path") != path:
        raise _unauthorized("the signature covers another method or path")
    if payload.get("body_sha256") != hashlib.sha256(body).hexdigest():
        raise _unauthorized("the signature covers another body")
    try:
        raw_signer = recover_raw_address(payload_bytes, params["sig"])
    except InvalidSignature as error:
        raise _unauthorized(f"invalid signature: {error}") from error
    return VerifiedAllocation(signer=checksum_address(raw_signer), iat=iat)


def _allocation_params(authorization: str) -> dict[str, str]:
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.casefold() != ALLOCATION_SCHEME.casefold():
        raise _unauthorized(f"unsupported Authorization scheme {scheme!r}")
    params: dict[str, str] = {}
    for pair in rest.split(","):
        key, separator, value = pair.strip().partition("=")
        if not separator or not value:
            raise _unauthorized(f"malformed Authorization parameter {pair.strip()!r}")
        params[key] = value
    if set(params) != {"sig", "payload"}:
        raise _unauthorized("the Authorization header takes exactly sig= and payload=")
    return params


@dataclass
class AllocationReplayGuard:
    """Accepts each signer's `iat` only if it is later than the last one accepted."""

    _last_iat: dict[str, int] = field(default_factory=dict)

    def accept(self, verified: VerifiedAllocation) -> bool:
        signer = verified.signer.lower()
        if verified.iat <= self._last_iat.get(signer, -1):
            return False
        self._last_iat[signer] = verified.iat
        return True


# ---------------------------------------------------------------------------------------------
# Owner calls


@dataclass(frozen=True)
class OperatorSession:
    """An ephemeral key the wallet authorised once; it signs every owner call until it expires."""

    key: ec.EllipticCurvePrivateKey
    signed_pubkey: str  # the X-SignedPubKey header value
    domain: str

    @classmethod
    def create(
        cls,
        wallet: EvmSigner,
        domain: str,
        now: float,
        lifetime_seconds: int = DEFAULT_KEY_LIFETIME_SECONDS,
    ) -> OperatorSession:
        key = ec.generate_private_key(ec.SECP256R1())
        payload = _compact_json(
            {
                "pubkey": _public_jwk(key.public_key()),
                "alg": "ECDSA",
                "domain": domain,
                "address": wallet.address,
                "chain": wallet.chain,
                "expires": _iso_time(now + lifetime_seconds),
            }
        )
        header = {"payload": payload.hex(), "signature": wallet.sign_buffer(payload, now)}
        return cls(key=key, signed_pubkey=json.dumps(header), domain=domain)

    def headers(self, method: str, path: str, now: float) -> dict[str, str]:
        """The two headers that authenticate one call of `method` on `path`."""
        payload = _compact_json(
            {"time": _iso_time(now), "method": method.upper(), "path": path, "domain": self.domain}
        )
        der = self.key.sign(payload, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(
            _P256_COORDINATE_BYTES, "big"
        )
        operation = {"payload": payload.hex(), "signature": signature.hex()}
        return {
            SIGNED_PUBKEY_HEADER: self.signed_pubkey,
            SIGNED_OPERATION_HEADER: json.dumps(operation),
        }


def verify_operator_request(
    signed_pubkey: str | None,
    signed_operation: str | None,
    method: str,
    path: str,
    domain: str,
    now: float,
) -> str:
    """The wallet address behind an owner call; 400 for malformed headers, 401 for bad proofs."""
    pubkey_payload, pubkey_signature = _signed_header(signed_pubkey, SIGNED_PUBKEY_HEADER)
    operation_payload, operation_signature = _signed_header(
        signed_operation, SIGNED_OPERATION_HEADER
    )
    key_info = _json_object(pubkey_payload, SIGNED_PUBKEY_HEADER)
    address = _wallet_address(key_info, pubkey_payload, pubkey_signature)
    if _parse_time(key_info.get("expires"), "expires") <= now:
        raise _unauthorized("the operator key has expired")
    operation = _json_object(operation_payload, SIGNED_OPERATION_HEADER)
    _check_operation(operation, method, path, domain, now)
    public_key = _jwk_public_key(key_info.get("pubkey"))
    _verify_es256(public_key, operation_payload, operation_signature)
    return address


def _wallet_address(key_info: dict[str, Any], payload: bytes, signature: bytes) -> str:
    chain = key_info.get("chain", "ETH")
    if chain != "ETH":
        raise _unauthorized(f"operator keys signed on chain {chain!r} are not supported")
    address = key_info.get("address")
    if not isinstance(address, str):
        raise _bad_request(f"{SIGNED_PUBKEY_HEADER} payload has no address")
    try:
        signer = recover_raw_address(payload, signature.hex())
    except InvalidSignature as error:
        raise _unauthorized(f"invalid wallet signature: {error}") from error
    if signer.hex() != address.lower().removeprefix("0x"):
        raise _unauthorized("the operator key was not signed by its address")
    return checksum_address(signer)


def _check_operation(
    operation: dict[str, Any], method: str, path: str, domain: str, now: float
) -> None:
    if operation.get("domain") != domain:
        raise _unauthorized(f"the operation is for domain {operation.get('domain')!r}")
    if operation.get("path") != path:
        raise _unauthorized("the operation is for another path")
    if operation.get("method") != method.upper():
        raise _unauthorized("the operation is for another method")
    if abs(_parse_time(operation.get("time"), "time") - now) > OPERATION_MAX_SKEW_SECONDS:
        raise _unauthorized(
            f"the operation's time is more than {OPERATION_MAX_SKEW_SECONDS} s from now"
        )


def _verify_es256(public_key: ec.EllipticCurvePublicKey, payload: bytes, signature: bytes) -> None:
    if len(signature) != 2 * _P256_COORDINATE_BYTES:
        raise _unauthorized("an ES256 signature is 64 bytes")
    r = int.from_bytes(signature[:_P256_COORDINATE_BYTES], "big")
    s = int.from_bytes(signature[_P256_COORDINATE_BYTES:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), payload, ec.ECDSA(hashes.SHA256()))
    except InvalidEcdsaSignature as error:
        raise _unauthorized("the operation signature does not verify") from error


def _public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(_P256_COORDINATE_BYTES, "big")),
        "y": _b64url(numbers.y.to_bytes(_P256_COORDINATE_BYTES, "big")),
    }


def _jwk_public_key(jwk: Any) -> ec.EllipticCurvePublicKey:
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise _bad_request(f"{SIGNED_PUBKEY_HEADER} pubkey must be an EC P-256 JWK")
    try:
        x = int.from_bytes(_b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(_b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, TypeError, ValueError) as error:
        raise _bad_request(f"{SIGNED_PUBKEY_HEADER} pubkey is not a valid point") from error


def _signed_header(value: str | None, name: str) -> tuple[bytes, bytes]:
    if not value:
        raise _bad_request(f"missing {name} header")
    header = _json_object(value.encode(), name)
    payload, signature = header.get("payload"), header.get("signature")
    if not isinstance(payload, str) or not isinstance(signature, str):
        raise _bad_request(f"{name} must hold a hex payload and a hex signature")
    return _hex_bytes(payload, f"{name} payload", _bad_request), _hex_bytes(
        signature, f"{name} signature", _bad_request
    )


def _hex_bytes(
    value: str, what: str, error: Callable[[str], CrnAuthError] = _unauthorized
) -> bytes:
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as problem:
        raise error(f"{what} is not hex") from problem


def _json_object(
    raw: bytes, what: str, error: Callable[[str], CrnAuthError] = _bad_request
) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as problem:
        raise error(f"{what} is not JSON") from problem
    if not isinstance(value, dict):
        raise error(f"{what} must be a JSON object")
    return value


def _parse_time(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise _bad_request(f"{what} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise _bad_request(f"{what} {value!r} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise _bad_request(f"{what} {value!r} has no time zone")
    return moment.timestamp()


def _iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
