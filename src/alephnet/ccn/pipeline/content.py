"""Where the content of `storage`/`ipfs` messages comes from: the local store, and whatever a
`FileSource` (peer nodes) can bring into it. Missing content is a retryable error, never a
rejection."""

from __future__ import annotations

from typing import Protocol

from alephnet.ccn.storage import FileNotFound, FileStore
from alephnet.ccn.storage.sources import FileSource
from alephnet.protocol.errors import ContentUnavailable
from alephnet.protocol.message import PendingMessage

MAX_CONTENT_SIZE = 25 << 20


class ContentSource(Protocol):
    async def fetch(self, message: PendingMessage) -> bytes:
        """The raw content named by `message.item_hash`; ContentUnavailable if not found."""
        ...


class LocalContent:
    def __init__(self, store: FileStore) -> None:
        self._store = store

    async def fetch(self, message: PendingMessage) -> bytes:
        size = self._store.size_of(message.item_hash)
        if size is None:
            raise ContentUnavailable(f"content {message.item_hash} is not stored on this node")
        if size > MAX_CONTENT_SIZE:
            raise ContentUnavailable(f"content {message.item_hash} is too large ({size} bytes)")
        try:
            return await self._store.read_all(message.item_hash)
        except FileNotFound as error:
            raise ContentUnavailable(str(error)) from error


class SourcedContent:
    """Content made local by a `FileSource` (peers, for one), then read like `LocalContent`."""

    def __init__(self, files: FileSource, store: FileStore) -> None:
        self._files = files
        self._local = LocalContent(store)

    async def fetch(self, message: PendingMessage) -> bytes:
        await self._files.obtain(message.item_hash)
        return await self._local.fetch(message)
