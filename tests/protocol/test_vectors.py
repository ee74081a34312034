"""Real signed messages from the public network parse, hash-check and verify."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alephnet.protocol import ErrorCode, MessageError, validate_message
from alephnet.protocol.content import AggregateContent, PostContent, StoreContent
from tests.conftest import load_vector


def _messages(name: str) -> list[dict[str, Any]]:
    document = load_vector(f"pyaleph/{name}")
    return document if isinstance(document, list) else [document]


FORGED_FORGET_HASH = "431a0d2f79ecfa859949d2a09f67068ce7ebd4eb777d179ad958be6c79abc66b"
VALID = [
    (name, message)
    for name in (
        "test-data-posts.json",
        "test-data-aggregates.json",
        "test-data-pending-messaging.json",
        "test-data-forgotten-messages.json",
    )
    for message in _messages(name)
    if message["item_hash"] != FORGED_FORGET_HASH
]


@pytest.mark.parametrize(
    ("name", "raw"), VALID, ids=[f"{n}:{m['item_hash'][:8]}" for n, m in VALID]
)
def test_pyaleph_vector_verifies(name: str, raw: dict[str, Any]) -> None:
    message = validate_message(raw)
    assert message.item_hash == raw["item_hash"]
    assert message.content is not None
    declared = json.loads(raw["item_content"])
    assert message.content.address == declared.get("address", raw["sender"])
    assert message.content.time == declared.get("time", raw["time"])


def test_forget_with_mismatched_hash_is_rejected_as_invalid_format() -> None:
    forget = next(
        m for m in _messages("test-data-forgotten-messages.json") if m["type"] == "FORGET"
    )
    with pytest.raises(MessageError) as caught:
        validate_message(forget)
    assert caught.value.error_code == ErrorCode.INVALID_FORMAT
    assert "does not match" in str(caught.value)


def test_onchain_archive_messages_all_verify() -> None:
    archive = load_vector("pyaleph/test-data-pending-tx-messages.json")
    messages = archive["content"]["messages"]
    assert len(messages) == 5
    parsed = [validate_message(raw) for raw in messages]
    assert [type(m.content) for m in parsed] == [
        AggregateContent,
        AggregateContent,
        PostContent,
        StoreContent,
        PostContent,
    ]


def test_aggregate_vectors_carry_their_keys() -> None:
    parsed = [validate_message(raw) for raw in _messages("test-data-aggregates.json")]
    contents = [m.content for m in parsed]
    assert all(isinstance(c, AggregateContent) for c in contents)
    keys = {c.key_name for c in contents if isinstance(c, AggregateContent)}
    assert keys == {"test_key", "test_reference", "test_target"}


def test_instance_vector_with_iso_time_verifies() -> None:
    raw = load_vector("aleph-message/instance_content.json")
    message = validate_message(raw)
    assert message.time == pytest.approx(1732118563.21439)
