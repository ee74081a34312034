"""Signed AGGREGATE and FORGET messages for the tests, and the expected merge of aggregates
computed without the node's code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import httpx

from alephnet.protocol import EvmSigner, MessageType, build_message
from tests.ccn.conftest import publish

OWNER = EvmSigner(bytes(range(1, 33)))
DELEGATE = EvmSigner(bytes(range(2, 34)))
STRANGER = EvmSigner(bytes(range(3, 35)))


def aggregate_message(
    signer: EvmSigner,
    key: str,
    content: dict[str, Any],
    content_time: float | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    body = {
        "address": address or signer.address,
        "time": time.time() if content_time is None else content_time,
        "key": key,
        "content": content,
    }
    return build_message(signer, MessageType.AGGREGATE, body, channel="TEST").message


def forget_message(
    signer: EvmSigner,
    hashes: Iterable[str] = (),
    aggregates: Iterable[str] = (),
    address: str | None = None,
) -> dict[str, Any]:
    body = {
        "address": address or signer.address,
        "time": time.time(),
        "hashes": list(hashes),
        "aggregates": list(aggregates),
    }
    return build_message(signer, MessageType.FORGET, body, channel="TEST").message


async def grant(
    client: httpx.AsyncClient, owner: EvmSigner, delegate: EvmSigner, **filters: Any
) -> None:
    """Write `owner`'s `security` aggregate: `delegate` may act for it within `filters`."""
    authorization = {"address": delegate.address, **filters}
    message = aggregate_message(owner, "security", {"authorizations": [authorization]})
    response = await publish(client, message)
    assert response.status_code == 200, response.text


def expected_merge(messages: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The value of each (address, key): revisions folded by (content.time, item_hash)."""
    revisions = sorted(
        ((json.loads(message["item_content"]), message["item_hash"]) for message in messages),
        key=lambda revision: (revision[0]["time"], revision[1]),
    )
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for content, _ in revisions:
        merged.setdefault((content["address"], content["key"]), {}).update(content["content"])
    return merged
