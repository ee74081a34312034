"""Where the files of STORE messages come from.

A STORE message can only be processed once its file is in the local store. `LocalFiles` knows
the store alone (the file was uploaded to this node); `peer_files.PeerFiles` downloads from peer
nodes into the store and then answers like it. IPFS would be one more such source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alephnet.ccn.storage.filestore import FileStore


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file present in the local store: what the `files` table records about it."""

    sha256: str
    size: int


class FileSource(Protocol):
    async def obtain(self, file_hash: str) -> LocalFile | None:
        """Make the file named by `file_hash` (sha256 or CID) local; None if no source has it."""
        ...


class LocalFiles:
    """The files already in the local store, and no others."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    async def obtain(self, file_hash: str) -> LocalFile | None:
        sha256 = self._store.sha256_of(file_hash)
        size = self._store.size_of(file_hash)
        if sha256 is None or size is None:
            return None
        return LocalFile(sha256, size)
