"""Turning untrusted input into messages: every failure is an `InvalidFormat` naming the problem.

Two entry points, because content arrives in two ways:
- `parse_message(raw)`: a submitted message dict (from HTTP, gossip or a sync peer). Inline
  content is checked and parsed right away.
- `parse_content(message, raw_content)`: content fetched later for storage/ipfs items, or the
  inline string itself. The node hashes and stores content exactly as received and never
  re-serialises it: re-serialising would change the bytes the item hash was computed over.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError

from alephnet.protocol.content import CONTENT_MODELS, BaseContent, ProgramContent
from alephnet.protocol.enums import ItemType, MessageType
from alephnet.protocol.errors import InvalidFormat
from alephnet.protocol.item_hash import item_type_from_hash
from alephnet.protocol.message import PendingMessage

MAX_INLINE_SIZE = 200_000
NULL_ESCAPE = "\\u0000"
DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
LONG_DIGIT_RUN = b"0" * 19
"""Nineteen digits in a row may be an integer beyond 64 bits, which orjson reads as a float."""


def parse_message(raw: Any) -> PendingMessage:
    """Validate a submitted message dict; inline content is parsed and attached.

    A submitted `content` key is ignored: content is only ever derived from what `item_hash`
    names (the inline string, or the fetched file), so it cannot disagree with the signature.
    """
    if not isinstance(raw, dict):
        raise InvalidFormat(f"a message is a JSON object, not {type(raw).__name__}")
    _require_known_type(raw)
    if _holds_nul(raw):
        raise InvalidFormat("the message contains a NUL character (\\u0000), which is refused")
    fields = {key: value for key, value in raw.items() if key != "content"}
    fields["item_type"] = _resolve_item_type(fields)
    try:
        message = PendingMessage.model_validate(fields)
    except ValidationError as error:
        raise InvalidFormat("invalid message envelope", details=error_details(error)) from error
    if message.item_type == ItemType.INLINE:
        assert message.item_content is not None
        _check_inline_content(message.item_content, message.item_hash)
        message.content = parse_content(message, message.item_content)
    return message


def parse_content(message: PendingMessage, raw_content: str | bytes) -> BaseContent:
    """Validate a message's content, filling `address` and `time` from the envelope if absent."""
    text = _decode(raw_content)
    if NULL_ESCAPE in text or "\x00" in text:
        raise InvalidFormat("content contains a NUL character (\\u0000), which is refused")
    try:
        document = decode_json(text, _CONTENT_DECODER.decode)
    except json.JSONDecodeError as error:
        raise InvalidFormat(f"content is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise InvalidFormat(f"content is a JSON object, not {type(document).__name__}")
    document.setdefault("address", message.sender)
    document.setdefault("time", message.time)
    model = CONTENT_MODELS[MessageType(message.type)]
    try:
        content = model.model_validate(document)
    except ValidationError as error:
        raise InvalidFormat(
            f"invalid {message.type} content", details=error_details(error)
        ) from error
    if isinstance(content, ProgramContent):
        _check_program_round_trip(content, document)
    return content


def decode_json(text: str, fallback: Callable[[str], Any] = json.loads) -> Any:
    """JSON text read by orjson, several times faster than the json module, except where the
    two would read it differently: integers beyond 64 bits, which orjson turns into floats
    (any run of 19 digits, even in a string, sends the text to `fallback`), and what orjson
    refuses (lone surrogates, numbers beyond a double, invalid JSON), which `fallback`
    decides and explains."""
    if not _holds_long_digit_run(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return fallback(text)


def _holds_long_digit_run(text: str) -> bool:
    """Whether `text` holds 19 ASCII digits in a row (JSON numbers have no others). Digits
    made zeros, then a search for 19 zeros: both in C, ~0.7 µs for a 500-byte message, where
    the regular expression `\\d{19}` took ~11 µs, more than orjson's whole parse."""
    return LONG_DIGIT_RUN in text.encode(errors="surrogatepass").translate(DIGITS_AS_ZEROS)


def error_details(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's error list without the offending input (it may be huge) and URLs."""
    return [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def strip_nulls(value: Any) -> Any:
    """A JSON value with every null-valued object key removed, at any depth."""
    if isinstance(value, dict):
        return {key: strip_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [strip_nulls(item) for item in value]
    return value


def _holds_nul(value: Any) -> bool:
    """NUL cannot be stored in PostgreSQL text and has no business in an envelope."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259): Python reads them, stricter parsers (the
    reference's, PostgreSQL's) do not, and no other node could store such content."""
    raise InvalidFormat(f"content is not valid JSON: {name} is not a JSON number")


def _finite_float(literal: str) -> float:
    """A number beyond a double (1e400) would be read as infinity, stored as null."""
    value = float(literal)
    if math.isinf(value):
        raise InvalidFormat(f"content is not valid JSON: {literal} is beyond a double")
    return value


_CONTENT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
"""Built once: `json.loads` with hooks builds a decoder per call, which costs as much as the
decoding of a small content."""


def _require_known_type(raw: dict[str, Any]) -> None:
    message_type = raw.get("type")
    if message_type not in MessageType.__members__.values():
        known = ", ".join(MessageType)
        raise InvalidFormat(f"unknown message type {message_type!r}: expected one of {known}")


def _resolve_item_type(fields: dict[str, Any]) -> str:
    """The declared item type, checked against the hash; inferred when absent, as the
    reference does (inline when content is present, else from the shape of the hash)."""
    declared = fields.get("item_type")
    item_content = fields.get("item_content")
    if declared is None:
        if item_content is not None:
            return ItemType.INLINE
        return _hash_item_type(fields.get("item_hash"))
    if declared == ItemType.INLINE:
        if item_content is None:
            raise InvalidFormat("item_type is 'inline' but item_content is missing")
        return ItemType.INLINE
    if declared in (ItemType.STORAGE, ItemType.IPFS):
        if item_content is not None:
            raise InvalidFormat(f"item_type is {declared!r}: item_content must be absent")
        if _hash_item_type(fields.get("item_hash")) != declared:
            raise InvalidFormat(f"item_hash {fields.get('item_hash')!r} is not a {declared} hash")
        return str(declared)
    raise InvalidFormat(f"unknown item_type {declared!r}: expected inline, storage or ipfs")


def _hash_item_type(item_hash: Any) -> ItemType:
    if not isinstance(item_hash, str):
        raise InvalidFormat("item_hash is missing or not a string")
    try:
        return item_type_from_hash(item_hash)
    except ValueError as error:
        raise InvalidFormat(str(error)) from error


def _check_inline_content(item_content: str, item_hash: str) -> None:
    if len(item_content) > MAX_INLINE_SIZE:
        raise InvalidFormat(
            f"Message too long: inline item_content is {len(item_content)} characters, "
            f"at most {MAX_INLINE_SIZE}; store larger content as a file"
        )
    actual = hashlib.sha256(item_content.encode()).hexdigest()
    if actual != item_hash:
        raise InvalidFormat(f"item_hash {item_hash} does not match sha256(item_content) = {actual}")


def _check_program_round_trip(content: ProgramContent, document: dict[str, Any]) -> None:
    """The official clients drop a PROGRAM whose content does not serialise back to itself (every
    default written out), so such a program would be invisible to them: refuse it here."""
    dumped = content.model_dump(mode="json", exclude_none=True)
    if dumped != strip_nulls(document):
        missing = sorted(set(dumped) - set(document))
        hint = f" (fields left out: {', '.join(missing)})" if missing else ""
        raise InvalidFormat("PROGRAM content must spell out every field, defaults included" + hint)


def _decode(raw_content: str | bytes) -> str:
    if isinstance(raw_content, str):
        return raw_content
    try:
        return raw_content.decode()
    except UnicodeDecodeError as error:
        raise InvalidFormat(f"content is not UTF-8: {error}") from error
