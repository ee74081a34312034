"""`AlephClient`: reading from any node that speaks the Aleph `/api/v0` API.

Use it inside `async with`: the connection pool lives as long as the block. Every error is an
`alephnet.sdk.exceptions` error; every answer is a typed model of `alephnet.sdk.models`.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterable
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Self, Unpack, overload

from alephnet.protocol.enums import MessageStatus
from alephnet.sdk._download import Sink, download_to_path, download_to_sink
from alephnet.sdk._filters import (
    MESSAGE_FILTERS,
    POST_FILTERS,
    MessageFilters,
    PostFilters,
    query_params,
)
from alephnet.sdk._responses import json_body, parse
from alephnet.sdk._watch import Connector, connect_websocket, watch, websocket_url
from alephnet.sdk.exceptions import ForgottenMessage, InvalidResponse, MessageRejected, NotFound
from alephnet.sdk.models import (
    Balance,
    Downloaded,
    Message,
    MessageInfo,
    MessagePage,
    PostPage,
    PriceEstimate,
)
from alephnet.sdk.transport import (
    DEFAULT_TIMEOUT_SECONDS,
    AsgiTransport,
    HttpxTransport,
    Params,
    Transport,
)

DEFAULT_API_URL = "http://127.0.0.1:4024"
DEFAULT_PAGE_SIZE = 20
CURSOR_PAGE_SIZE = 200
"""The most a node answers per cursor page."""
ERASED_STATUSES = (MessageStatus.FORGOTTEN, MessageStatus.REMOVED)


class ClientState(Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class AlephClient:
    """Reads messages, posts, aggregates, files and balances from one node."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        transport: Transport | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        websocket_connector: Connector = connect_websocket,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.transport = transport or HttpxTransport(self.api_url, timeout=timeout)
        self.websocket_connector = websocket_connector
        self.state = ClientState.UNOPENED

    @classmethod
    def for_app(cls, app: Any, **options: Any) -> Self:
        """A client of an ASGI app (a node built by `create_app`) in this process."""
        return cls(transport=AsgiTransport(app), **options)

    async def __aenter__(self) -> Self:
        if self.state is not ClientState.UNOPENED:
            raise RuntimeError(f"a client is opened once; this one is {self.state.name.lower()}")
        self.state = ClientState.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self.state is not ClientState.CLOSED:
            self.state = ClientState.CLOSED
            await self.transport.aclose()

    # --- messages ----------------------------------------------------------------------

    async def get_messages(
        self,
        *,
        page: int = 1,
        pagination: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[MessageFilters],
    ) -> MessagePage:
        """One page of the messages matching every filter (processed ones by default)."""
        params = {**query_params(filters, MESSAGE_FILTERS), "page": page, "pagination": pagination}
        return parse(MessagePage, await self._get("/api/v0/messages.json", params), "messages")

    async def iter_messages(self, **filters: Unpack[MessageFilters]) -> AsyncIterator[Message]:
        """Every matching message, page after page (a cursor: no page is skipped or repeated
        when messages arrive meanwhile)."""
        cursor = ""
        while True:
            params = {
                **query_params(filters, MESSAGE_FILTERS),
                "cursor": cursor,
                "pagination": CURSOR_PAGE_SIZE,
            }
            body = await self._get("/api/v0/messages.json", params)
            page = parse(MessagePage, body, "messages")
            for message in page.messages:
                yield message
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def get_message(self, item_hash: str) -> MessageInfo:
        """The message and its status. A rejected message raises `MessageRejected`, a forgotten
        or removed one `ForgottenMessage`, an unknown hash `NotFound`."""
        info = parse(MessageInfo, await self._get(f"/api/v0/messages/{item_hash}"), "message")
        if info.status == MessageStatus.REJECTED:
            raise MessageRejected(item_hash, info.error_code, info.details)
        if info.status in ERASED_STATUSES:
            raise ForgottenMessage(item_hash, info.forgotten_by or (), info.status.value)
        return info

    async def get_message_status(self, item_hash: str) -> MessageStatus:
        body = await self._get(f"/api/v0/messages/{item_hash}/status")
        return parse(MessageInfo, body, "message status").status

    async def watch_messages(self, **filters: Unpack[MessageFilters]) -> AsyncIterator[Message]:
        """Each new matching message as the node processes it, forever; reconnects when the
        connection drops and resumes without repeating a message."""
        async for message in watch(
            self.websocket_connector,
            websocket_url(self.api_url),
            query_params(filters, MESSAGE_FILTERS),
        ):
            yield message

    # --- posts and aggregates ----------------------------------------------------------

    async def get_posts(
        self, *, page: int = 1, pagination: int = DEFAULT_PAGE_SIZE, **filters: Unpack[PostFilters]
    ) -> PostPage:
        params = {**query_params(filters, POST_FILTERS), "page": page, "pagination": pagination}
        return parse(PostPage, await self._get("/api/v0/posts.json", params), "posts")

    async def fetch_aggregates(
        self, address: str, keys: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The merged value of each key of `address` (all keys, or only `keys`); `NotFound`
        when the address has none of them."""
        params = {"keys": ",".join(keys)} if keys is not None else None
        body = await self._get(f"/api/v0/aggregates/{address}.json", params)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise InvalidResponse(f"unexpected answer for the aggregates of {address}")
        return data

    async def fetch_aggregate(self, address: str, key: str) -> Any:
        data = await self.fetch_aggregates(address, [key])
        if key not in data:
            raise NotFound(f"{address} has no aggregate {key!r}")
        return data[key]

    # --- files -------------------------------------------------------------------------

    @overload
    async def download_file(self, file_hash: str, destination: None = None) -> bytes: ...
    @overload
    async def download_file(
        self, file_hash: str, destination: str | os.PathLike[str]
    ) -> Downloaded: ...
    @overload
    async def download_file(self, file_hash: str, destination: Sink) -> int: ...

    async def download_file(
        self, file_hash: str, destination: str | os.PathLike[str] | Sink | None = None
    ) -> bytes | Downloaded | int:
        """The file named by `file_hash` (sha256 or CID), verified: in memory (bytes), into a
        writable stream (the byte count), or to a path (resumed if a `.part` file is there).
        `HashMismatch` if the node sends other bytes."""
        if destination is None:
            buffer = io.BytesIO()
            await download_to_sink(self.transport, file_hash, buffer)
            return buffer.getvalue()
        if isinstance(destination, str | os.PathLike):
            return await download_to_path(self.transport, file_hash, Path(destination))
        return await download_to_sink(self.transport, file_hash, destination)

    # --- accounts and costs ------------------------------------------------------------

    async def get_balance(self, address: str) -> Balance:
        body = await self._get(f"/api/v0/addresses/{address}/balance")
        return parse(Balance, body, "balance")

    async def estimate_price(self, message: dict[str, Any]) -> PriceEstimate:
        """What the node would charge for `message` (a signed message dict)."""
        response = await self.transport.request(
            "POST", "/api/v0/price/estimate", json={"message": message}
        )
        return parse(PriceEstimate, json_body(response), "price estimate")

    async def _get(self, path: str, params: Params | None = None) -> Any:
        return json_body(await self.transport.request("GET", path, params=params))
