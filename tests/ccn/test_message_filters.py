"""The in-process message filter that the WebSocket stream applies, alone."""

from __future__ import annotations

from typing import Any

import pytest

from alephnet.ccn.message_filters import MessageFilters, matches, message_tags

POST: dict[str, Any] = {
    "type": "POST",
    "sender": "0xSender",
    "chain": "ETH",
    "channel": "TEST",
    "item_hash": "a" * 64,
    "time": 100.0,
    "content": {
        "address": "0xOwner",
        "type": "note",
        "ref": {"item_hash": "r" * 64, "chain": "ETH"},
        "content": {"tags": ["red", "blue", 7]},
    },
}
AGGREGATE: dict[str, Any] = {
    "type": "AGGREGATE",
    "sender": "0xSender",
    "chain": "ETH",
    "channel": None,
    "item_hash": "b" * 64,
    "time": 200.0,
    "content": {"address": "0xSender", "key": {"name": "profile"}, "content": {}},
}
STORE: dict[str, Any] = {
    "type": "STORE",
    "sender": "0xSender",
    "chain": "SOL",
    "channel": "FILES",
    "item_hash": "c" * 64,
    "time": 300.0,
    "content": {"address": "0xSender", "item_hash": "f" * 64, "tags": ["green"]},
}
INSTANCE: dict[str, Any] = {
    "type": "INSTANCE",
    "sender": "0xSender",
    "chain": "ETH",
    "channel": None,
    "item_hash": "d" * 64,
    "time": 400.0,
    "content": {"address": "0xSender", "payment": {"type": "hold"}, "metadata": {"tags": ["vm"]}},
}


def test_no_filter_matches_everything() -> None:
    assert all(matches(MessageFilters(), message) for message in (POST, AGGREGATE, STORE))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (MessageFilters(types=frozenset({"POST", "STORE"})), {"POST", "STORE"}),
        (MessageFilters(senders=frozenset({"0xSender"})), {"POST", "AGGREGATE", "STORE"}),
        (MessageFilters(owners=frozenset({"0xOwner"})), {"POST"}),
        (MessageFilters(refs=frozenset({"r" * 64})), {"POST"}),
        (MessageFilters(content_hashes=frozenset({"f" * 64})), {"STORE"}),
        (MessageFilters(content_keys=frozenset({"profile"})), {"AGGREGATE"}),
        (MessageFilters(content_types=frozenset({"note"})), {"POST"}),
        (MessageFilters(chains=frozenset({"SOL"})), {"STORE"}),
        (MessageFilters(channels=frozenset({"TEST", "FILES"})), {"POST", "STORE"}),
        (MessageFilters(tags=frozenset({"blue", "green"})), {"POST", "STORE"}),
        (MessageFilters(tags=frozenset({"7"})), set()),
        (MessageFilters(hashes=frozenset({"b" * 64})), {"AGGREGATE"}),
        (MessageFilters(payment_types=frozenset({"hold"})), set()),
        (MessageFilters(start_date=200.0), {"AGGREGATE", "STORE"}),
        (MessageFilters(end_date=200.0), {"POST"}),
        (MessageFilters(start_date=100.0, end_date=300.0), {"POST", "AGGREGATE"}),
        (
            MessageFilters(types=frozenset({"POST"}), channels=frozenset({"FILES"})),
            set(),
        ),
    ],
)
def test_each_filter(filters: MessageFilters, expected: set[str]) -> None:
    kept = {message["type"] for message in (POST, AGGREGATE, STORE) if matches(filters, message)}
    assert kept == expected


def test_payment_type_and_vm_tags() -> None:
    assert matches(MessageFilters(payment_types=frozenset({"hold"})), INSTANCE)
    assert matches(MessageFilters(tags=frozenset({"vm"})), INSTANCE)
    assert not matches(MessageFilters(payment_types=frozenset({"credit"})), INSTANCE)


def test_tags_are_read_where_each_type_keeps_them() -> None:
    assert message_tags("POST", POST["content"]) == {"red", "blue"}
    assert message_tags("STORE", STORE["content"]) == {"green"}
    assert message_tags("INSTANCE", INSTANCE["content"]) == {"vm"}
    assert message_tags("AGGREGATE", AGGREGATE["content"]) == frozenset()
    assert message_tags("POST", {"content": "not a dict"}) == frozenset()


def test_a_message_without_content_only_passes_envelope_filters() -> None:
    bare = {key: value for key, value in POST.items() if key != "content"}
    assert matches(MessageFilters(channels=frozenset({"TEST"})), bare)
    assert not matches(MessageFilters(owners=frozenset({"0xOwner"})), bare)
    assert not matches(MessageFilters(tags=frozenset({"red"})), bare)
