"""`AlephClient`: reading from any node that speaks the Aleph `/api/v0` API.

Use it inside `async with`: the connection pool lives as long as the block. Every error is an
`alephnet.sdk.exceptions` error; every answer is a typed model of `alephnet.sdk.models`.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Self, Unpack, overload

from alephnet.protocol.enums import MessageStatus
from alephnet.sdk._download import (
    DownloadProgress,
    Sink,
    download_to_path,
    download_to_sink,
    raw_path,
)
from alephnet.sdk._filters import (
    MESSAGE_FILTERS,
    POST_FILTERS,
    MessageFilters,
    PostFilters,
    query_params,
)
from alephnet.sdk._lifecycle import TransportOwner
from alephnet.sdk._responses import json_body, parse
from alephnet.sdk._watch import Connector, connect_websocket, watch, websocket_url
from alephnet.sdk.exceptions import ForgottenMessage, InvalidResponse, MessageRejected, NotFound
from alephnet.sdk.models import (
    AddressFiles,
    AddressStatsPage,
    AggregatePage,
    Authorization,
    Balance,
    Downloaded,
    FileMetadata,
    Message,
    MessageInfo,
    MessagePage,
    NodeRegistry,
    PostPage,
    PriceEstimate,
    StoredContent,
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
SECURITY_KEY = "security"
"""The aggregate key where an address lists who may write for it."""
NODE_REGISTRY_KEY = "corechannel"
"""The aggregate key where the network lists its core and compute nodes."""
NODE_REGISTRY_OWNER = "0xa1B3bb7d2332383D96b7796B908fB7f7F3c2Be10"
"""The address whose `corechannel` aggregate is Aleph's node registry."""


class AlephClient(TransportOwner):
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
        super().__init__(transport or HttpxTransport(self.api_url, timeout=timeout))
        self.websocket_connector = websocket_connector

    @classmethod
    def for_app(cls, app: Any, **options: Any) -> Self:
        """A client of an ASGI app (a node built by `create_app`) in this process."""
        return cls(transport=AsgiTransport(app), **options)

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

    async def list_aggregates(
        self,
        *,
        keys: Iterable[str] = (),
        addresses: Iterable[str] = (),
        page: int = 1,
        pagination: int = DEFAULT_PAGE_SIZE,
    ) -> AggregatePage:
        """Aggregates of any address (or of `addresses`), newest change first."""
        params: dict[str, str | int] = {"page": page, "pagination": pagination}
        if keys := ",".join(keys):
            params["keys"] = keys
        if addresses := ",".join(addresses):
            params["addresses"] = addresses
        body = await self._get("/api/v0/aggregates.json", params)
        return parse(AggregatePage, body, "aggregates")

    async def get_authorizations(self, address: str) -> list[Authorization]:
        """Who may write for `address` (its `security` aggregate); empty when nobody may."""
        try:
            security = await self.fetch_aggregate(address, SECURITY_KEY)
        except NotFound:
            return []
        entries = security.get("authorizations", []) if isinstance(security, dict) else []
        return [
            parse(Authorization, entry, f"the authorizations of {address}")
            for entry in entries
            if isinstance(entry, dict) and "address" in entry
        ]

    async def get_nodes(self, owner: str = NODE_REGISTRY_OWNER) -> NodeRegistry:
        """The core and compute nodes listed in the `corechannel` aggregate of `owner` (Aleph's
        registry by default; another owner for a private network or a test). `NotFound` when
        the node knows no such registry."""
        try:
            registry = await self.fetch_aggregate(owner, NODE_REGISTRY_KEY)
        except NotFound as error:
            raise NotFound(
                f"no node registry on this network: {owner} has no {NODE_REGISTRY_KEY!r} "
                f"aggregate on {self.api_url or 'this node'}"
            ) from error
        return parse(NodeRegistry, registry, f"the node registry of {owner}")

    # --- files -------------------------------------------------------------------------

    @overload
    async def download_file(
        self,
        file_hash: str,
        destination: None = None,
        *,
        progress: DownloadProgress | None = None,
    ) -> bytes: ...
    @overload
    async def download_file(
        self,
        file_hash: str,
        destination: str | os.PathLike[str],
        *,
        progress: DownloadProgress | None = None,
    ) -> Downloaded: ...
    @overload
    async def download_file(
        self, file_hash: str, destination: Sink, *, progress: DownloadProgress | None = None
    ) -> int: ...

    async def download_file(
        self,
        file_hash: str,
        destination: str | os.PathLike[str] | Sink | None = None,
        *,
        progress: DownloadProgress | None = None,
    ) -> bytes | Downloaded | int:
        """The file named by `file_hash` (sha256 or CID), verified: in memory (bytes), into a
        writable stream (the byte count), or to a path (resumed with an HTTP range if a `.part`
        file is there). `progress(received, total)` follows the transfer. `HashMismatch` if the
        node sends other bytes."""
        if destination is None:
            buffer = io.BytesIO()
            await download_to_sink(self.transport, file_hash, buffer, progress)
            return buffer.getvalue()
        if isinstance(destination, str | os.PathLike):
            return await download_to_path(self.transport, file_hash, Path(destination), progress)
        return await download_to_sink(self.transport, file_hash, destination, progress)

    async def get_file_metadata(self, file_hash: str) -> FileMetadata:
        """Size and kind of a file the node holds; `NotFound` when it holds none by that hash."""
        body = await self._get(f"/api/v0/storage/metadata/{file_hash}")
        return parse(FileMetadata, body, "file metadata")

    async def get_stored_content(self, store_hash: str) -> StoredContent:
        """The file a STORE message keeps, with its name and where to download it."""
        message = (await self.get_message(store_hash)).message
        content = message.content if message is not None else None
        if message is None or message.type != "STORE" or not isinstance(content, dict):
            raise InvalidResponse(f"{store_hash} is not a STORE message")
        metadata = content.get("metadata")
        return parse(
            StoredContent,
            {
                "store_hash": store_hash,
                "file_hash": content.get("item_hash"),
                "engine": content.get("item_type"),
                "size": content.get("size"),
                "filename": metadata.get("name") if isinstance(metadata, dict) else None,
                "url": self.api_url + raw_path(str(content.get("item_hash"))),
            },
            f"the STORE message {store_hash}",
        )

    async def get_address_files(
        self, address: str, *, page: int = 1, pagination: int = 100
    ) -> AddressFiles:
        """The files `address` keeps, newest first; `NotFound` when it keeps none."""
        params = {"page": page, "pagination": pagination}
        body = await self._get(f"/api/v0/addresses/{address}/files", params)
        return parse(AddressFiles, body, f"the files of {address}")

    # --- accounts and costs ------------------------------------------------------------

    async def get_address_stats(
        self,
        *,
        address_contains: str | None = None,
        page: int = 1,
        pagination: int = DEFAULT_PAGE_SIZE,
    ) -> AddressStatsPage:
        """How many messages each address sent, busiest first; `address_contains` filters
        addresses on a substring (case ignored)."""
        params: dict[str, str | int] = {"page": page, "pagination": pagination}
        if address_contains:
            params["addressContains"] = address_contains
        body = await self._get("/api/v1/addresses/stats.json", params)
        return parse(AddressStatsPage, body, "address stats")

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
