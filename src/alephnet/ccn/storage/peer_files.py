"""Files from peer nodes: a `FileSource` that downloads what the local store lacks.

Each peer's `GET /api/v0/storage/raw/{hash}` is streamed into the store, which checks the hash
while writing (sha256, or the CID recomputed), so a peer can never plant wrong bytes under a
name; the first peer that answers with the right bytes wins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from alephnet.ccn.peer_http import ClientFactory
from alephnet.ccn.storage.errors import StorageError
from alephnet.ccn.storage.filestore import FileStore
from alephnet.ccn.storage.sources import LocalFile, LocalFiles

logger = logging.getLogger(__name__)


class PeerFiles:
    """The local store first, then each peer in order."""

    def __init__(
        self, store: FileStore, peers: Sequence[str], clients: ClientFactory, max_size: int
    ) -> None:
        self._store = store
        self._local = LocalFiles(store)
        self._peers = list(peers)
        self._clients = clients
        self._max_size = max_size

    async def obtain(self, file_hash: str) -> LocalFile | None:
        local = await self._local.obtain(file_hash)
        if local is not None:
            return local
        for peer in self._peers:
            if await self._download(peer, file_hash):
                return await self._local.obtain(file_hash)
        return None

    async def _download(self, peer: str, file_hash: str) -> bool:
        """Whether `peer` had the file and sent its exact bytes; failures are the peer's, logged
        and passed over (the caller's retry comes back later)."""
        try:
            async with (
                self._clients(peer) as http,
                http.stream("GET", f"/api/v0/storage/raw/{file_hash}") as response,
            ):
                if response.status_code != httpx.codes.OK:
                    return False
                await self._store.write_stream(
                    response.aiter_bytes(), max_size=self._max_size, expected_hash=file_hash
                )
        except (httpx.HTTPError, StorageError) as error:
            logger.warning("file %s from %s failed: %s", file_hash, peer, error)
            return False
        logger.info("file %s fetched from %s", file_hash, peer)
        return True
