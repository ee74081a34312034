"""PROGRAM/INSTANCE/FORGET schema vectors parse and serialise back unchanged."""

from __future__ import annotations

import hashlib
import json

import pytest

from alephnet.protocol import MessageType, parse_content, parse_message
from alephnet.protocol.content import CONTENT_MODELS, ProgramContent
from alephnet.protocol.errors import InvalidFormat
from tests.conftest import VECTORS, load_vector

SCHEMA_VECTORS = sorted(path.name for path in (VECTORS / "aleph-message").glob("*.json"))


@pytest.mark.parametrize("name", SCHEMA_VECTORS)
def test_content_round_trips(name: str) -> None:
    vector = load_vector(f"aleph-message/{name}")
    model = CONTENT_MODELS[MessageType(vector["type"])]
    content = model.model_validate(vector["content"] | {"time": vector["content"].get("time", 0)})
    dumped = content.model_dump(mode="json", exclude_unset=True)
    expected = dict(vector["content"])
    expected.setdefault("time", 0)
    assert dumped == expected


def test_all_schema_vectors_are_covered() -> None:
    assert len(SCHEMA_VECTORS) == 7


@pytest.mark.parametrize("name", ["machine.json", "machine_named.json"])
def test_program_vector_as_inline_message(name: str) -> None:
    """The content written out as item_content parses through the full message path."""
    vector = load_vector(f"aleph-message/{name}")
    item_content = json.dumps(vector["content"], separators=(",", ":"))
    envelope = _inline_envelope(vector, item_content)
    message = parse_message(envelope)
    assert isinstance(message.content, ProgramContent)
    assert message.content.code.effective_interface == "asgi"


def test_program_missing_a_default_field_is_refused() -> None:
    vector = load_vector("aleph-message/machine.json")
    content = dict(vector["content"])
    del content["volumes"]
    envelope = _inline_envelope(vector, json.dumps(content))
    with pytest.raises(InvalidFormat, match="volumes"):
        parse_message(envelope)


def test_content_time_and_address_default_from_envelope() -> None:
    vector = load_vector("aleph-message/forget.json")
    item_content = json.dumps({"hashes": vector["content"]["hashes"]})
    message = parse_message(_inline_envelope(vector, item_content))
    content = parse_content(message, item_content)
    assert content.address == vector["sender"]
    assert content.time == vector["time"]


def _inline_envelope(vector: dict[str, object], item_content: str) -> dict[str, object]:
    return {
        "chain": vector["chain"],
        "sender": vector["sender"],
        "type": vector["type"],
        "time": vector["time"],
        "signature": "0x00",
        "item_type": "inline",
        "item_content": item_content,
        "item_hash": hashlib.sha256(item_content.encode()).hexdigest(),
    }
