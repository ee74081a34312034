"""Where STORE files and message contents come from, for whichever process processes messages."""

from __future__ import annotations

from alephnet.ccn.peer_http import ClientFactory
from alephnet.ccn.pipeline.content import ContentSource, LocalContent, SourcedContent
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.ccn.storage.peer_files import PeerFiles
from alephnet.ccn.storage.sources import FileSource, LocalFiles


def content_sources(
    settings: CcnSettings, store: FileStore, clients: ClientFactory
) -> tuple[FileSource, ContentSource]:
    """The local store, and the peers if any (reached through `clients`)."""
    if not settings.peers:
        return LocalFiles(store), LocalContent(store)
    max_size = max(settings.max_file_size, settings.max_ipfs_upload)
    files = PeerFiles(store, settings.peers, clients, max_size)
    return files, SourcedContent(files, store)
