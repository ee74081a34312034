"""The query parameters of message lists, shared by `/api/v0/messages.json` and the
`/api/ws0/messages` WebSocket, and how `contentFormat` trims the messages they answer with."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Query

from alephnet.ccn.api.params import CommaList, DateRangeDep
from alephnet.ccn.message_filters import MessageFilters
from alephnet.protocol.enums import Chain, MessageType, PaymentType


def message_filters(
    dates: DateRangeDep,
    msg_type: Annotated[
        MessageType | None, Query(alias="msgType", deprecated=True, description="use msgTypes")
    ] = None,
    msg_types: Annotated[CommaList[MessageType] | None, Query(alias="msgTypes")] = None,
    addresses: Annotated[
        CommaList[str] | None, Query(description="senders of the messages")
    ] = None,
    owners: Annotated[CommaList[str] | None, Query(description="content.address")] = None,
    refs: Annotated[CommaList[str] | None, Query(description="content.ref")] = None,
    content_hashes: Annotated[CommaList[str] | None, Query(alias="contentHashes")] = None,
    content_keys: Annotated[CommaList[str] | None, Query(alias="contentKeys")] = None,
    content_types: Annotated[CommaList[str] | None, Query(alias="contentTypes")] = None,
    chains: Annotated[CommaList[Chain] | None, Query()] = None,
    channels: Annotated[CommaList[str] | None, Query()] = None,
    tags: Annotated[CommaList[str] | None, Query(description="any of these tags")] = None,
    hashes: Annotated[CommaList[str] | None, Query(description="item hashes")] = None,
    payment_types: Annotated[CommaList[PaymentType] | None, Query(alias="paymentTypes")] = None,
) -> MessageFilters:
    types = {*(msg_types or ()), *((msg_type,) if msg_type else ())}
    return MessageFilters(
        types=frozenset(types),
        senders=_set(addresses),
        owners=_set(owners),
        refs=_set(refs),
        content_hashes=_set(content_hashes),
        content_keys=_set(content_keys),
        content_types=_set(content_types),
        chains=_set(chains),
        channels=_set(channels),
        tags=_set(tags),
        hashes=_set(hashes),
        payment_types=_set(payment_types),
        start_date=dates.start,
        end_date=dates.end,
    )


MessageFiltersDep = Annotated[MessageFilters, Depends(message_filters)]


class ContentFormat(StrEnum):
    FULL = "full"
    HEADERS = "headers"
    NONE = "none"


def content_format(
    requested: Annotated[ContentFormat, Query(alias="contentFormat")] = ContentFormat.FULL,
    exclude_content: Annotated[
        bool, Query(alias="excludeContent", deprecated=True, description="contentFormat=none")
    ] = False,
) -> ContentFormat:
    return ContentFormat.NONE if exclude_content else requested


ContentFormatDep = Annotated[ContentFormat, Depends(content_format)]

HEADER_FIELDS: dict[str, tuple[str, ...]] = {
    MessageType.POST: ("address", "type", "ref"),
    MessageType.AGGREGATE: ("address", "key"),
    MessageType.STORE: ("address", "item_hash", "ref"),
}
"""What `contentFormat=headers` keeps of the content, per type; other types keep `address`."""


def shape_content(message: dict[str, Any], content: ContentFormat) -> dict[str, Any]:
    """The message as asked: whole, with only its content's headers, or without content."""
    if content is ContentFormat.FULL:
        return message
    shaped = {
        key: value for key, value in message.items() if key not in ("content", "item_content")
    }
    if content is ContentFormat.HEADERS:
        fields = HEADER_FIELDS.get(message["type"], ("address",))
        document = message.get("content") or {}
        shaped["content"] = {field: document.get(field) for field in fields}
    return shaped


def _set(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(values or ())
