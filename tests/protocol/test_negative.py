"""Every way a message can be wrong is refused with the reference's error code."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from alephnet.protocol import (
    ErrorCode,
    EvmSigner,
    MessageError,
    MessageType,
    build_message,
    parse_content,
    parse_message,
    validate_message,
)
from alephnet.protocol.parsing import decode_json
from tests.protocol.signers import KEY_A, KEY_B, SIGNER_FACTORIES


def _post(chain: str = "ETH", **content: Any) -> dict[str, Any]:
    signer = SIGNER_FACTORIES[chain](KEY_A)
    body = {"address": signer.address, "time": 1.0, "content": content or {"a": 1}, "type": "t"}
    return build_message(signer, MessageType.POST, body, time=2.0).message


def _code_of(raw: Any) -> ErrorCode:
    with pytest.raises(MessageError) as caught:
        validate_message(raw)
    return caught.value.error_code


def test_a_built_message_is_valid() -> None:
    assert validate_message(_post()).type == "POST"


def test_tampered_signature() -> None:
    message = _post()
    signature = bytearray.fromhex(message["signature"][2:])
    signature[10] ^= 0x01
    message["signature"] = "0x" + signature.hex()
    assert _code_of(message) == ErrorCode.INVALID_SIGNATURE


def test_signature_by_another_key_for_the_same_sender() -> None:
    message = _post()
    intruder = EvmSigner(KEY_B)
    assert intruder.address != message["sender"]
    message["signature"] = intruder.sign_buffer(
        f"ETH\n{message['sender']}\nPOST\n{message['item_hash']}".encode(), 2.0
    )
    assert _code_of(message) == ErrorCode.INVALID_SIGNATURE


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        pytest.param("chain", "BSC", ErrorCode.INVALID_SIGNATURE, id="wrong-chain"),
        pytest.param("chain", "DOGE", ErrorCode.INVALID_FORMAT, id="unknown-chain"),
        pytest.param("type", "TWEET", ErrorCode.INVALID_FORMAT, id="unknown-type"),
        pytest.param("item_type", "storage", ErrorCode.INVALID_FORMAT, id="storage-but-inline"),
        pytest.param("signature", None, ErrorCode.INVALID_SIGNATURE, id="missing-signature"),
    ],
)
def test_one_wrong_envelope_field(field: str, value: Any, code: ErrorCode) -> None:
    message = _post()
    message[field] = value
    assert _code_of(message) == code


def test_hash_mismatch() -> None:
    message = _post()
    message["item_content"] = message["item_content"].replace('"a":1', '"a":2')
    assert _code_of(message) == ErrorCode.INVALID_FORMAT


def test_inline_content_over_the_limit() -> None:
    message = _post(blob="x" * 200_001)
    assert len(message["item_content"]) > 200_000
    assert _code_of(message) == ErrorCode.INVALID_FORMAT


def test_non_json_content() -> None:
    signer = EvmSigner(KEY_A)
    message = build_message(signer, MessageType.POST, {"a": 1}, time=2.0).message
    message["item_content"] = "not json"
    message["item_hash"] = hashlib.sha256(b"not json").hexdigest()
    assert _code_of(message) == ErrorCode.INVALID_FORMAT


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_in_content_are_refused(value: float) -> None:
    """Python's json module writes and reads NaN and Infinity; JSON has no such numbers."""
    message = _post(amount=value)
    with pytest.raises(MessageError, match="is not a JSON number") as caught:
        validate_message(message)
    assert caught.value.error_code == ErrorCode.INVALID_FORMAT


def test_numbers_beyond_a_double_in_content_are_refused() -> None:
    """1e400 is valid JSON text, but a double cannot hold it: it would be read as infinity."""
    message = parse_message(_post())
    with pytest.raises(MessageError, match="1e400 is beyond a double") as caught:
        parse_content(message, '{"type": "t", "content": {"amount": 1e400}}')
    assert caught.value.error_code == ErrorCode.INVALID_FORMAT


@pytest.mark.parametrize(
    "number", [10**30 + 7, -(2**70), 2**64, -(2**63) - 1, 2**63 - 1, 10**18 - 1]
)
def test_integers_in_content_are_read_exactly_whatever_their_size(number: int) -> None:
    """orjson, which reads content, makes floats of integers beyond 64 bits: those are read
    by the json module instead."""
    message = parse_message(_post())
    text = f'{{"type": "t", "content": {{"wei": [{number}], "label": "x{number}"}}}}'
    content = parse_content(message, text)
    assert content.content == {"wei": [number], "label": f"x{number}"}
    assert type(content.content["wei"][0]) is int


def test_json_text_with_a_lone_surrogate_and_a_long_integer_is_read_exactly() -> None:
    """A str holding a lone surrogate (it cannot be encoded strictly) with 19 digits in a row
    still goes to the json module, which reads both."""
    number = 2**70
    assert decode_json(f'["\ud800", {number}]') == ["\ud800", number]


def test_null_escape_in_content_is_refused() -> None:
    assert _code_of(_post(text="a\u0000b")) == ErrorCode.INVALID_FORMAT


def test_uppercase_hex_hash_is_refused() -> None:
    message = _post()
    message["item_hash"] = message["item_hash"].upper()
    message["item_type"] = "storage"
    message.pop("item_content")
    assert _code_of(message) == ErrorCode.INVALID_FORMAT


@pytest.mark.parametrize(
    "signature",
    [
        "not json",
        "[]",
        json.dumps({"publicKey": "x"}),
        json.dumps({"signature": "x"}),
        json.dumps({"publicKey": 1, "signature": 2}),
        "0x" + "00" * 65,
    ],
)
@pytest.mark.parametrize("chain", ["SOL", "TEZOS-ed25519"])
def test_malformed_json_signatures(chain: str, signature: str) -> None:
    message = _post(chain)
    message["signature"] = signature
    assert _code_of(message) == ErrorCode.INVALID_SIGNATURE


def test_solana_public_key_of_someone_else() -> None:
    message = _post("SOL")
    document = json.loads(message["signature"])
    document["publicKey"] = SIGNER_FACTORIES["SOL"](KEY_B).address
    message["signature"] = json.dumps(document)
    assert _code_of(message) == ErrorCode.INVALID_SIGNATURE


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_not_an_object(raw: Any) -> None:
    assert _code_of(raw) == ErrorCode.INVALID_FORMAT


@pytest.mark.parametrize("field", ["chain", "sender", "item_hash", "time"])
def test_missing_envelope_field(field: str) -> None:
    message = _post()
    del message[field]
    assert _code_of(message) == ErrorCode.INVALID_FORMAT


def test_amend_without_ref() -> None:
    signer = EvmSigner(KEY_A)
    body = {"address": signer.address, "time": 1.0, "content": {}, "type": "amend"}
    message = build_message(signer, MessageType.POST, body, time=2.0).message
    assert _code_of(message) == ErrorCode.INVALID_FORMAT
