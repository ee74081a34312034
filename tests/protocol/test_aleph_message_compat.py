"""What we build is what Aleph clients accept: the reference schema library parses it."""

from __future__ import annotations

from typing import Any

import pytest
from aleph_message import parse_message as reference_parse

from alephnet.protocol import MessageType, build_message, validate_message
from alephnet.protocol.content import (
    AggregateContent,
    BaseContent,
    ForgetContent,
    PostContent,
    ProgramContent,
    StoreContent,
)
from tests.conftest import load_vector
from tests.protocol.signers import KEY_A, SIGNER_FACTORIES

ADDRESS = SIGNER_FACTORIES["ETH"](KEY_A).address
HASH = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"


def _program() -> ProgramContent:
    content = dict(load_vector("aleph-message/machine.json")["content"])
    return ProgramContent.model_validate(content | {"address": ADDRESS, "time": 5.0})


CONTENTS: dict[str, tuple[MessageType, BaseContent]] = {
    "post": (
        MessageType.POST,
        PostContent(address=ADDRESS, time=1.5, content={"hello": "wörld"}, type="note"),
    ),
    "amend": (
        MessageType.POST,
        PostContent(address=ADDRESS, time=1.5, content={"v": 2}, type="amend", ref=HASH),
    ),
    "aggregate": (
        MessageType.AGGREGATE,
        AggregateContent(address=ADDRESS, time=2.0, key="profile", content={"a": None, "b": 1}),
    ),
    "store": (
        MessageType.STORE,
        StoreContent(address=ADDRESS, time=3.0, item_type="storage", item_hash=HASH),
    ),
    "forget": (
        MessageType.FORGET,
        ForgetContent(address=ADDRESS, time=4.0, hashes=[HASH], reason="test"),
    ),
    "program": (MessageType.PROGRAM, _program()),
}


def _as_reference_input(message: dict[str, Any], content: BaseContent) -> dict[str, Any]:
    """The reference library needs the parsed content beside the envelope, as nodes serve it."""
    return message | {"content": content.model_dump(mode="json", exclude_none=True)}


@pytest.mark.parametrize("chain", ["ETH", "SOL"])
@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_reference_library_accepts_what_we_build(name: str, chain: str) -> None:
    message_type, content = CONTENTS[name]
    signer = SIGNER_FACTORIES[chain](KEY_A)
    content = content.model_copy(update={"address": signer.address})
    built = build_message(signer, message_type, content, channel="TEST", time=10.0)
    reference = reference_parse(_as_reference_input(built.message, content))
    assert reference.item_hash == built.item_hash
    assert reference.sender == signer.address
    validate_message(built.message)


def test_non_ascii_is_escaped_like_the_sdk() -> None:
    _, content = CONTENTS["post"]
    built = build_message(SIGNER_FACTORIES["ETH"](KEY_A), MessageType.POST, content, time=1.0)
    assert '"w\\u00f6rld"' in built.item_content


@pytest.mark.parametrize(
    ("chain", "key", "item_hash", "signature"),
    [
        pytest.param(
            "ETH",
            bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
            "ade2920928ba3998d355364cf47e68c6d2c503666b6a70fd0e22fdaef59814c1",
            "0x51f747ab3bd22bae49a863767b8db2735acb1ae927f76d241e5a725e3e70919228e616b2daf8589f0115"
            "ec1ead079412c704969d5abe9f04fa360d08086aca6f1c",
            id="ETH",
        ),
        pytest.param(
            "SOL",
            bytes(range(1, 33)),
            "7cfb0bba20cbe93240af9e52ad1fb545ae76fb9f9101b427f4cd2590dfd7709b",
            '{"publicKey": "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj", "signature": '
            '"2rggGSeuyxqGVYbBnud2tfZsbU4mjpXEsoaqhpubutfmDgyUNzhNWsayejad8YQewYxhea3f7kYFVB9XxssJr11Q"}',
            id="SOL",
        ),
    ],
)
def test_sdk_reference_vector_is_reproduced(
    chain: str, key: bytes, item_hash: str, signature: str
) -> None:
    """The deterministic vectors generated with the released SDK (reference §6.3)."""
    signer = SIGNER_FACTORIES[chain](key)
    content = PostContent(
        address=signer.address, time=1700000000.0, content={"hello": "world"}, type="test"
    )
    built = build_message(signer, MessageType.POST, content, time=1700000000.0)
    assert built.item_hash == item_hash
    assert built.message["signature"] == signature
