"""TEZOS signatures: real vectors from pyaleph and tezos-client, rejections, and round trips.

Sources of the vectors (public repositories, read through the reference search):
- aleph-im/pyaleph `tests/chains/test_tezos.py`: three signed Aleph messages (raw secp256k1 tz2,
  raw ed25519 with a generic `sig…` signature, micheline ed25519 from a Beacon wallet) and the
  ISO-8601 formatting case.
- murbard/pytezos `tests/unit_tests/test_crypto/test_crypto.py`: keys, addresses and signatures
  made by `tezos-client` (including p256 signatures this module never produced).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alephnet.protocol.chains.base import SignedFields
from alephnet.protocol.chains.tezos import (
    DEFAULT_DAPP_URL,
    KINDS,
    P256_ORDER,
    SECP256K1_ORDER,
    Curve,
    SigningType,
    TezosEncodingError,
    TezosPublicKey,
    TezosSigner,
    datetime_to_iso8601,
    micheline_payload,
    verify_tezos,
)
from alephnet.protocol.errors import InvalidSignature

CURVES: tuple[Curve, ...] = ("ed25519", "secp256k1", "p256")
SIGNING_TYPES: tuple[SigningType, ...] = ("raw", "micheline")
SECRET_A = bytes(range(1, 33))
SECRET_B = bytes(range(33, 65))

# --- pyaleph tests/chains/test_tezos.py ----------------------------------------------------------

RAW_SECP256K1 = (
    SignedFields(
        chain="TEZOS",
        sender="tz2M3NQJ982QV1YwvGL77drZCY55tfBzWm3x",
        type="POST",
        item_hash="75bce3f296c6479242c740a051c2ddef4184f39386a883ceb33bf1f36f45ad09",
        time=1657534863.1375434,
    ),
    '{"publicKey": "sppk7cKmJSNo8LxB6R3eUGGRg3Lt7xn6K4wRNNxjSLxeB5zPZhvkQ6k", "signature": '
    '"spsig1Z3B4PduY14W2FjbHPuaYG8CRSFzJiZeNDPhdivyiDGqyAG1ZRKtubTmq7zfKywekzUBaAdop6mxoodBfq8Yi9'
    'RqroECk5"}',
)
RAW_ED25519_GENERIC = (
    SignedFields(
        chain="TEZOS",
        sender="tz1SmGHzna3YhKropa3WudVq72jhTPDBn4r5",
        type="POST",
        item_hash="41de1a7766c7e5fad54772470eefde63b6bef8683c4159d9179d74955009deb4",
        time=1661451074.86,
    ),
    '{"signature":"siggLSTX5i9ZZJHb6vUoi5gNxWEjEcBD62Jjs8JdFgDND3uc9xb5YC9bUFLpBAoudhdTRNfmV7GTnJzo'
    'WUm9y1cDh7T6KX59","publicKey":"edpkvUuhtQDPA9KfC3BY7ydh89hT34KTANMfX7L22BUrA9aGWg6QxF"}',
)
MICHELINE_ED25519 = (
    SignedFields(
        chain="TEZOS",
        sender="tz1VrPqrVdMFsgykWyhGH7SYcQ9avHTjPcdD",
        type="POST",
        item_hash="72b2722b95582419cfa71f631ff6c6afc56344dc6a4609e772877621813040b7",
        time=1663944079.029,
    ),
    '{"signingType":"micheline","signature":"sigXD8iT5ivdawgPzE1AbtDwqqAjJhS5sHS1psyE74YjfiaQnxW'
    'ZsATNjncdsuQw3b9xaK79krxtsC8uQoT5TcUXmo66aovT","publicKey":"edpkvapDnjnasrNcmUdMZXhQZwpX6viPy'
    'uGCq6nrP4W7ZJCm7EFTpS"}',
)
PYALEPH_VECTORS = {
    "raw-secp256k1": RAW_SECP256K1,
    "raw-ed25519-generic-sig": RAW_ED25519_GENERIC,
    "micheline-ed25519": MICHELINE_ED25519,
}

# --- pytezos tests (tezos-client output) --------------------------------------------------------

TEZOS_CLIENT_KEYS = [
    (
        "edsk3nM41ygNfSxVU4w1uAW3G9EnTQEB5rjojeZedLTGmiGRcierVv",
        "edpku976gpuAD2bXyx1XGraeKuCo1gUZ3LAJcHM12W1ecxZwoiu22R",
        "tz1eKkWU5hGtfLUiqNpucHrXymm83z3DG9Sq",
    ),
    (
        "spsk1zkqrmst1yg2c4xi3crWcZPqgdc9KtPtb9SAZWYHAdiQzdHy7j",
        "sppk7aMNM3xh14haqEyaxNjSt7hXanCDyoWtRcxF8wbtya859ak6yZT",
        "tz28YZoayJjVz2bRgGeVjxE8NonMiJ3r2Wdu",
    ),
    (
        "p2sk3PM77YMR99AvD3fSSxeLChMdiQ6kkEzqoPuSwQqhPsh29irGLC",
        "p2pk679D18uQNkdjpRxuBXL5CqcDKTKzsiXVtc9oCUT6xb82zQmgUks",
        "tz3agP9LGe2cXmKQyYn6T68BHKjjktDbbSWX",
    ),
    (
        "p2sk2rHNfHbuqq1Q6RZAnXfwoA3fFk1xtUFPrNVj7mhwxmvY4xmrEd",
        "p2pk663exKaDHnzFmUeBsmYjKUMJYPyW1WQJzmhyYgNrUuo5Ef9SXxG",
        "tz3VqqyCrvZni4jbxVrzG2EeVQ97D9LARjJz",
    ),
    (
        "p2sk2Md6rioE62a7hVdD8xdYGDLH2erDbAcD4i15e8DSpnHruhVHBw",
        "p2pk66yEDuRC5RLHpVj8hvAS5fr8HnU2YsLvFNdwQoW3jH8WUynMwGG",
        "tz3Q2KTKWw3xqiowvfX4N7gyyAfCz8hTvcnk",
    ),
]
ED25519_TEST_SIGNATURE = (
    "edsigtzLBGCyadERX1QsYHKpwnxSxEYQeGLnJGsSkHEsyY8vB5GcNdnvzUZDdFevJK7YZQ2ujwVjvQZn62ahCEcy74Aw"
    "tbA8HuN"
)
SECP256K1_TEST_SIGNATURE = (
    "spsig1RriZtYADyRhyNoQMa6AiPuJJ7AUDcrxWZfgqexzgANqMv4nXs6qsXDoXcoChBgmCcn2t7Y3EkJaVRuAmNh2cD"
    "DxWTdmsz"
)
TEZOS_CLIENT_SIGNATURES = [
    ("edpku976gpuAD2bXyx1XGraeKuCo1gUZ3LAJcHM12W1ecxZwoiu22R", b"test", ED25519_TEST_SIGNATURE),
    ("sppk7aMNM3xh14haqEyaxNjSt7hXanCDyoWtRcxF8wbtya859ak6yZT", b"test", SECP256K1_TEST_SIGNATURE),
    (
        "p2pk67wVncLFS1DQDm2gVR45sYCzQSXTtqn3bviNYXVCq6WRoqtxHXL",
        bytes.fromhex(
            "017a06a770000508440322bf4860a065d1c8747a08f7685be9c79da2b21d5930c12fff86b230081d223b"
            "000000005c752b3a04bc5b950ff781580616c12a646af98285da66232b232661f179c98d6f8c8912ae00"
            "000011000000010000000008000000"
            "00009b55bda7ad9debcd2657b76d444b14807c7b5dc13e06f754e2b43186d0fb22b3d3332c0000000000"
            "031048815b00"
        ),
        "sigqWxz3GKFXg6G8ndSzJF8JD9j7m12kPWZj6bHLqdKw6XpxhVLwGm26hVqMdEfgPdoz8qoA5QkM9mvnMyMFmYny9"
        "sqjb5bE",
    ),
    (
        "p2pk66n1NmhPDEkcf9sXEKe9kBoTwBoTYxke1hx16aTRVq8MoXuwNqo",
        bytes.fromhex(
            "027a06a770ad828485977947451e23e99f5040ead0f09ef89f58be2583640edcb1e295d0cb000005085e"
        ),
        "sigQVTY9CkYw8qL6Xa7QWestkLSdtPv6HZ4ToSMHDcRot3BwRGwZhSwXd9jJwKkDvvotTLSNWQdUqiDSfXuCNUfj"
        "bEaY2j6j",
    ),
]


def _base58check(prefix_hex: str, payload: bytes) -> str:
    return str(base58.b58encode_check(bytes.fromhex(prefix_hex) + payload).decode())


def _document(signature: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(signature)
    return document


def _with(signature: str, /, **changes: Any) -> str:
    """The signature JSON with some entries replaced (a None value removes the entry)."""
    document = _document(signature)
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return json.dumps(document)


def _reencode_signature(encoded: str, change: Callable[[bytearray], None]) -> str:
    """Apply `change` to the raw base58check bytes and re-encode with a valid checksum."""
    raw = bytearray(base58.b58decode_check(encoded))
    change(raw)
    return str(base58.b58encode_check(bytes(raw)).decode())


def _flip_raw_byte(encoded: str, index: int) -> str:
    def flip(raw: bytearray) -> None:
        raw[len(raw) - 64 + index % 64] ^= 0x01

    return _reencode_signature(encoded, flip)


def _replace_char(text: str, index: int) -> str:
    index %= len(text)
    replacement = "1" if text[index] != "1" else "2"
    return text[:index] + replacement + text[index + 1 :]


# --- Real vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PYALEPH_VECTORS))
def test_pyaleph_vectors_verify(name: str) -> None:
    fields, signature = PYALEPH_VECTORS[name]
    verify_tezos(fields, signature)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2022, 1, 1, 12, 6, 23, 675789),
        dt.datetime(2022, 1, 1, 12, 6, 23, 675789, tzinfo=dt.UTC),
        dt.datetime(2022, 1, 1, 14, 6, 23, 675999, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    ],
)
def test_datetime_to_iso8601_truncates_to_milliseconds_in_utc(moment: dt.datetime) -> None:
    assert datetime_to_iso8601(moment) == "2022-01-01T12:06:23.675Z"


def test_micheline_payload_layout() -> None:
    fields = MICHELINE_ED25519[0]
    sentence = (
        b"Tezos Signed Message: aleph.im 2022-09-23T14:41:19.029Z "
        b"TEZOS\ntz1VrPqrVdMFsgykWyhGH7SYcQ9avHTjPcdD\nPOST\n"
        b"72b2722b95582419cfa71f631ff6c6afc56344dc6a4609e772877621813040b7"
    )
    expected = b"\x05\x01\x00" + str(len(sentence.hex())).encode() + sentence
    assert micheline_payload(fields.buffer(), fields.time, DEFAULT_DAPP_URL) == expected


@pytest.mark.parametrize(("secret_key", "public_key", "address"), TEZOS_CLIENT_KEYS)
def test_tezos_client_keys_derive_the_same_public_key_and_address(
    secret_key: str, public_key: str, address: str
) -> None:
    signer = TezosSigner.from_secret_key(secret_key)
    assert signer.public_key == public_key
    assert signer.address == address
    assert TezosPublicKey.decode(public_key).address == address


@pytest.mark.parametrize(("public_key", "message", "signature"), TEZOS_CLIENT_SIGNATURES)
def test_tezos_client_signatures_verify(public_key: str, message: bytes, signature: str) -> None:
    key = TezosPublicKey.decode(public_key)
    key.verify(signature, message)
    with pytest.raises(InvalidSignature):
        key.verify(signature, b"fake")


@pytest.mark.parametrize(
    ("secret_key", "signature"),
    [
        (TEZOS_CLIENT_KEYS[0][0], ED25519_TEST_SIGNATURE),
        (TEZOS_CLIENT_KEYS[1][0], SECP256K1_TEST_SIGNATURE),
    ],
)
def test_deterministic_signatures_equal_tezos_client(secret_key: str, signature: str) -> None:
    """ed25519 is deterministic and secp256k1 uses RFC 6979, so the bytes must be identical."""
    assert TezosSigner.from_secret_key(secret_key).sign_raw(b"test") == signature


def test_sdk_signature_field_length_for_ed25519() -> None:
    """The SDK's unit test pins a raw ed25519 signature field at 187 characters."""
    signer = TezosSigner.ed25519(SECRET_A)
    fields = SignedFields("TEZOS", signer.address, "POST", "ab" * 32, 1.0)
    assert len(signer.sign(fields)) == 187
    assert len(signer.public_key) == 54


# --- Rejections --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PYALEPH_VECTORS))
@pytest.mark.parametrize("index", [0, 17, 31, 32, 50, 63])
def test_tampered_signature_bytes_are_rejected(name: str, index: int) -> None:
    fields, signature = PYALEPH_VECTORS[name]
    tampered = _flip_raw_byte(_document(signature)["signature"], index)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_tezos(fields, _with(signature, signature=tampered))


@pytest.mark.parametrize("name", sorted(PYALEPH_VECTORS))
def test_bad_base58_checksum_is_rejected(name: str) -> None:
    fields, signature = PYALEPH_VECTORS[name]
    encoded = _document(signature)["signature"]
    with pytest.raises(InvalidSignature, match="base58check"):
        verify_tezos(fields, _with(signature, signature=_replace_char(encoded, 40)))
    public_key = _document(signature)["publicKey"]
    with pytest.raises(InvalidSignature, match="base58check"):
        verify_tezos(fields, _with(signature, publicKey=_replace_char(public_key, 30)))


@pytest.mark.parametrize("name", sorted(PYALEPH_VECTORS))
def test_tampered_fields_are_rejected(name: str) -> None:
    fields, signature = PYALEPH_VECTORS[name]
    for changed in (
        replace(fields, item_hash=_replace_char(fields.item_hash, 5)),
        replace(fields, type="STORE"),
    ):
        with pytest.raises(InvalidSignature):
            verify_tezos(changed, signature)


def test_micheline_signature_covers_the_time_to_the_millisecond() -> None:
    fields, signature = MICHELINE_ED25519
    verify_tezos(replace(fields, time=fields.time + 0.0004), signature)
    with pytest.raises(InvalidSignature):
        verify_tezos(replace(fields, time=fields.time + 0.001), signature)


def test_signing_type_is_part_of_what_is_verified() -> None:
    fields, signature = MICHELINE_ED25519
    with pytest.raises(InvalidSignature):
        verify_tezos(fields, _with(signature, signingType="raw"))
    with pytest.raises(InvalidSignature):
        verify_tezos(fields, _with(signature, dAppUrl="https://aleph.im"))
    raw_fields, raw_signature = RAW_ED25519_GENERIC
    with pytest.raises(InvalidSignature):
        verify_tezos(raw_fields, _with(raw_signature, signingType="micheline"))


@pytest.mark.parametrize("signing_type", ["Micheline", "RAW", "", "michelson", 1, None, []])
def test_unknown_signing_type_is_rejected(signing_type: Any) -> None:
    fields, signature = RAW_ED25519_GENERIC
    document = _document(signature)
    document["signingType"] = signing_type
    with pytest.raises(InvalidSignature, match="signingType"):
        verify_tezos(fields, json.dumps(document))


def test_public_key_of_another_key_is_rejected() -> None:
    fields, signature = RAW_SECP256K1
    other = TezosSigner.secp256k1(SECRET_B)
    with pytest.raises(InvalidSignature, match="not to the sender"):
        verify_tezos(fields, _with(signature, publicKey=other.public_key))


def test_another_keys_valid_signature_for_the_same_sender_is_rejected() -> None:
    """A correct signature by key B, presented for the sender of key A."""
    owner, intruder = TezosSigner.ed25519(SECRET_A), TezosSigner.ed25519(SECRET_B)
    fields = SignedFields("TEZOS", owner.address, "POST", "cd" * 32, 5.0)
    forged = intruder.sign_buffer(fields.buffer(), fields.time)
    with pytest.raises(InvalidSignature, match="not to the sender"):
        verify_tezos(fields, forged)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_tezos(fields, _with(forged, publicKey=owner.public_key))


def test_sender_of_another_curve_is_rejected() -> None:
    """Same secret, other curve: a tz2 sender cannot be proved with the tz1 key."""
    ed25519, secp256k1 = TezosSigner.ed25519(SECRET_A), TezosSigner.secp256k1(SECRET_A)
    fields = SignedFields("TEZOS", secp256k1.address, "POST", "ef" * 32, 5.0)
    with pytest.raises(InvalidSignature, match="not to the sender"):
        verify_tezos(fields, ed25519.sign_buffer(fields.buffer(), fields.time))


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not json",
        "[]",
        '"text"',
        "null",
        "1",
        "{",
        json.dumps({"publicKey": "edpkvUuhtQDPA9KfC3BY7ydh89hT34KTANMfX7L22BUrA9aGWg6QxF"}),
        json.dumps({"signature": ED25519_TEST_SIGNATURE}),
        json.dumps({"publicKey": 1, "signature": 2}),
        json.dumps({"publicKey": None, "signature": ED25519_TEST_SIGNATURE}),
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_malformed_signature_documents_are_rejected(signature: str) -> None:
    fields, _ = RAW_ED25519_GENERIC
    with pytest.raises(InvalidSignature):
        verify_tezos(fields, signature)


@pytest.mark.parametrize(
    ("public_key", "reason"),
    [
        ("tz1SmGHzna3YhKropa3WudVq72jhTPDBn4r5", "edpk, sppk or p2pk"),
        ("BLpk1nRV5SBB2QCxsiem5Neoywcizr3mkdp167HL1iKFgFvzPhKo4RSy7J8JBh2BgGgVYjNsRGwU", "edpk"),
        ("edpk", "54-character"),
        # A 33-byte ed25519 key: Tezos tags only come out right for the right length.
        (_base58check("0d0f25d9", b"\x07" * 33), "edpk, sppk or p2pk"),
        # Reads "edpk…" with the right length, but the binary prefix is off by one.
        (_base58check("0d0f25da", b"\x07" * 32), "binary prefix"),
        ("edpk" + "é" * 50, "base58check"),
        ("edpk" + "0" * 50, "base58check"),
        ("p2pk" + "1" * 51, "base58check"),
        ("edpk" + "1" * 10**6, "54-character"),
    ],
)
def test_unusable_public_keys_are_rejected(public_key: str, reason: str) -> None:
    fields, signature = RAW_ED25519_GENERIC
    with pytest.raises(InvalidSignature, match=reason):
        verify_tezos(fields, _with(signature, publicKey=public_key))


@pytest.mark.parametrize("curve", ["secp256k1", "p256"])
def test_public_key_that_is_not_a_curve_point_is_rejected(curve: Curve) -> None:
    not_a_point = KINDS[curve].public_key.encode(b"\x02" + b"\xff" * 32)  # x beyond the field
    fields = SignedFields("TEZOS", TezosPublicKey.decode(not_a_point).address, "POST", "00" * 32)
    generic = _base58check("04822b", b"\x01" * 64)
    forged = json.dumps({"publicKey": not_a_point, "signature": generic})
    with pytest.raises(InvalidSignature, match="not a point"):
        verify_tezos(fields, forged)


def test_signature_of_another_curve_tag_is_rejected() -> None:
    fields, signature = RAW_ED25519_GENERIC
    with pytest.raises(InvalidSignature, match="signs as edsig"):
        verify_tezos(fields, _with(signature, signature=SECP256K1_TEST_SIGNATURE))


def test_signature_with_wrong_payload_length_is_rejected() -> None:
    fields, signature = RAW_ED25519_GENERIC
    short = _base58check("04822b", b"\x01" * 63)
    with pytest.raises(InvalidSignature):
        verify_tezos(fields, _with(signature, signature=short))


def test_high_s_secp256k1_signature_is_rejected() -> None:
    """libsecp256k1 (Tezos node, pytezos) only accepts the low-s form."""
    fields, signature = RAW_SECP256K1

    def negate_s(raw: bytearray) -> None:
        s = int.from_bytes(raw[-32:], "big")
        raw[-32:] = (SECP256K1_ORDER - s).to_bytes(32, "big")

    high_s = _reencode_signature(_document(signature)["signature"], negate_s)
    with pytest.raises(InvalidSignature):
        verify_tezos(fields, _with(signature, signature=high_s))


def test_high_s_p256_signature_is_accepted_like_pytezos() -> None:
    public_key, message, signature = TEZOS_CLIENT_SIGNATURES[3]

    def negate_s(raw: bytearray) -> None:
        s = int.from_bytes(raw[-32:], "big")
        raw[-32:] = (P256_ORDER - s).to_bytes(32, "big")

    TezosPublicKey.decode(public_key).verify(_reencode_signature(signature, negate_s), message)


@pytest.mark.parametrize("time", [float("nan"), float("inf"), -float("inf"), 1e300])
def test_unrepresentable_micheline_time_is_rejected(time: float) -> None:
    fields, signature = MICHELINE_ED25519
    with pytest.raises(InvalidSignature, match="micheline"):
        verify_tezos(replace(fields, time=time), signature)


def test_unencodable_dapp_url_is_rejected() -> None:
    fields, signature = MICHELINE_ED25519
    with pytest.raises(InvalidSignature):
        verify_tezos(fields, _with(signature, dAppUrl="\ud800"))
    with pytest.raises(InvalidSignature, match="dAppUrl"):
        verify_tezos(fields, _with(signature, dAppUrl=3))


@settings(max_examples=200, deadline=None)
@given(signature=st.text())
def test_arbitrary_text_only_ever_raises_invalid_signature(signature: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_tezos(RAW_ED25519_GENERIC[0], signature)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=120),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=5,
)


@settings(max_examples=200, deadline=None)
@given(
    public_key=st.sampled_from(["edpk", "sppk", "p2pk", "sig", ""]).flatmap(
        lambda tag: st.text(max_size=60).map(lambda rest: tag + rest)
    )
    | json_values,
    signature=st.sampled_from(["edsig", "spsig1", "p2sig", "sig", ""]).flatmap(
        lambda tag: st.text(max_size=100).map(lambda rest: tag + rest)
    )
    | json_values,
    signing_type=st.sampled_from(["raw", "micheline"]) | json_values,
    dapp_url=st.text() | json_values,
)
def test_arbitrary_documents_only_ever_raise_invalid_signature(
    public_key: Any, signature: Any, signing_type: Any, dapp_url: Any
) -> None:
    document = {
        "publicKey": public_key,
        "signature": signature,
        "signingType": signing_type,
        "dAppUrl": dapp_url,
    }
    with pytest.raises(InvalidSignature):
        verify_tezos(MICHELINE_ED25519[0], json.dumps(document))


# --- Signing and round trips -------------------------------------------------------------------

HEX = "0123456789abcdef"


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("signing_type", SIGNING_TYPES)
@settings(max_examples=15, deadline=None)
@given(
    item_hash=st.text(alphabet=HEX, min_size=64, max_size=64),
    message_type=st.sampled_from(["POST", "AGGREGATE", "STORE", "FORGET", "PROGRAM"]),
    time=st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False),
    position=st.integers(0, 10**6),
)
def test_round_trip_and_single_byte_changes(
    curve: Curve,
    signing_type: SigningType,
    item_hash: str,
    message_type: str,
    time: float,
    position: int,
) -> None:
    signer = TezosSigner(curve, SECRET_A, signing_type=signing_type)
    fields = SignedFields("TEZOS", signer.address, message_type, item_hash, time)
    signature = signer.sign(fields)
    verify_tezos(fields, signature)

    with pytest.raises(InvalidSignature):
        verify_tezos(replace(fields, item_hash=_replace_char(item_hash, position)), signature)
    tampered = _flip_raw_byte(_document(signature)["signature"], position)
    with pytest.raises(InvalidSignature):
        verify_tezos(fields, _with(signature, signature=tampered))


@pytest.mark.parametrize("curve", CURVES)
@settings(max_examples=15, deadline=None)
@given(payload=st.binary(min_size=1, max_size=300), position=st.integers(0, 10**6))
def test_sign_raw_round_trip_over_random_bytes(curve: Curve, payload: bytes, position: int) -> None:
    signer = TezosSigner(curve, SECRET_B)
    key = TezosPublicKey.decode(signer.public_key)
    signature = signer.sign_raw(payload)
    key.verify(signature, payload)

    changed = bytearray(payload)
    changed[position % len(changed)] ^= 0x01
    with pytest.raises(InvalidSignature):
        key.verify(signature, bytes(changed))


@pytest.mark.parametrize(("curve", "order"), [("secp256k1", SECP256K1_ORDER), ("p256", P256_ORDER)])
def test_ecdsa_signatures_are_low_s(curve: Curve, order: int) -> None:
    signer = TezosSigner(curve, SECRET_A)
    for index in range(64):
        raw = base58.b58decode_check(signer.sign_raw(index.to_bytes(2, "big")))
        assert int.from_bytes(raw[-32:], "big") <= order // 2


@pytest.mark.parametrize(
    ("curve", "address_tag", "public_key_tag", "signature_tag"),
    [
        ("ed25519", "tz1", "edpk", "edsig"),
        ("secp256k1", "tz2", "sppk", "spsig1"),
        ("p256", "tz3", "p2pk", "p2sig"),
    ],
)
def test_generated_keys_use_the_curve_tags(
    curve: Curve, address_tag: str, public_key_tag: str, signature_tag: str
) -> None:
    signer = TezosSigner.generate(curve)
    assert signer.address.startswith(address_tag)
    assert signer.public_key.startswith(public_key_tag)
    assert signer.sign_raw(b"x").startswith(signature_tag)
    assert TezosSigner(curve, signer.secret).address == signer.address


def test_named_constructors_match_the_generic_one() -> None:
    assert TezosSigner.ed25519(SECRET_A).address == TezosSigner("ed25519", SECRET_A).address
    assert TezosSigner.secp256k1(SECRET_A).address == TezosSigner("secp256k1", SECRET_A).address
    assert TezosSigner.p256(SECRET_A).address == TezosSigner("p256", SECRET_A).address


def test_signature_documents_written_by_the_signer() -> None:
    buffer, time = b"TEZOS\nsender\nPOST\nhash", 1663944079.029
    raw = _document(TezosSigner.ed25519(SECRET_A).sign_buffer(buffer, time))
    assert list(raw) == ["publicKey", "signature"]

    micheline = TezosSigner.p256(SECRET_A, signing_type="micheline")
    assert _document(micheline.sign_buffer(buffer, time))["signingType"] == "micheline"
    assert "dAppUrl" not in _document(micheline.sign_buffer(buffer, time))

    custom = TezosSigner.secp256k1(SECRET_A, signing_type="micheline", dapp_url="app.example")
    fields = SignedFields("TEZOS", custom.address, "POST", "12" * 32, time)
    signature = custom.sign(fields)
    assert _document(signature)["dAppUrl"] == "app.example"
    verify_tezos(fields, signature)


def test_sign_refuses_fields_of_another_sender() -> None:
    signer = TezosSigner.ed25519(SECRET_A)
    fields = SignedFields("TEZOS", TezosSigner.ed25519(SECRET_B).address, "POST", "00" * 32)
    with pytest.raises(ValueError, match="not this key's address"):
        signer.sign(fields)


@pytest.mark.parametrize(
    ("curve", "secret", "signing_type", "reason"),
    [
        pytest.param("bls", SECRET_A, "raw", "curve", id="unknown-curve"),
        pytest.param("ed25519", SECRET_A, "beacon", "signing_type", id="unknown-signing-type"),
        pytest.param("ed25519", SECRET_A[:31], "raw", "32 bytes", id="short-secret"),
        pytest.param("secp256k1", bytes(32), "raw", None, id="secp256k1-zero"),
        pytest.param("p256", bytes(32), "raw", None, id="p256-zero"),
        pytest.param("p256", P256_ORDER.to_bytes(32, "big"), "raw", None, id="p256-order"),
    ],
)
def test_invalid_signer_arguments(
    curve: Any, secret: bytes, signing_type: Any, reason: str | None
) -> None:
    with pytest.raises(ValueError, match=reason):
        TezosSigner(curve, secret, signing_type=signing_type)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "tz1eKkWU5hGtfLUiqNpucHrXymm83z3DG9Sq",
        "edpku976gpuAD2bXyx1XGraeKuCo1gUZ3LAJcHM12W1ecxZwoiu22R",
        _replace_char(TEZOS_CLIENT_KEYS[0][0], 20),
    ],
)
def test_from_secret_key_rejects_other_strings(encoded: str) -> None:
    with pytest.raises(TezosEncodingError):
        TezosSigner.from_secret_key(encoded)
