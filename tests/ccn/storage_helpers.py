"""Building STORE messages and upload forms, and reaching a test node's files from outside."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from alephnet.ccn.db.engine import SessionFactory, create_engine, create_session_factory
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.protocol import EvmSigner, ItemType, MessageType, build_message
from alephnet.protocol.content import StoreContent

UploadForm = list[tuple[str, tuple[str | None, bytes, str]]]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_message(
    signer: EvmSigner,
    file_hash: str,
    item_type: ItemType = ItemType.STORAGE,
    ref: str | None = None,
    content_time: float | None = None,
) -> dict[str, Any]:
    content = StoreContent(
        address=signer.address,
        time=time.time() if content_time is None else content_time,
        item_type=item_type,
        item_hash=file_hash,
        ref=ref,
    )
    return build_message(signer, MessageType.STORE, content, channel="TEST").message


def upload_form(
    data: bytes, message: dict[str, Any] | None = None, metadata_first: bool = True
) -> UploadForm:
    """The multipart form the official SDK sends (metadata, then file), or the other order."""
    form: UploadForm = [("file", ("file", data, "application/octet-stream"))]
    if message is not None:
        metadata = json.dumps({"message": message, "sync": True}).encode()
        part = ("metadata", (None, metadata, "application/json"))
        form.insert(0 if metadata_first else 1, part)
    return form


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    message: dict[str, Any] | None = None,
    engine: str = "storage",
    metadata_first: bool = True,
) -> httpx.Response:
    return await client.post(
        f"/api/v0/{engine}/add_file", files=upload_form(data, message, metadata_first)
    )


@asynccontextmanager
async def node_files(settings: CcnSettings) -> AsyncIterator[tuple[SessionFactory, FileStore]]:
    """The database and file store of the node running on `settings`, opened a second time,
    to drive the garbage collector or look at pins as the node's own parts would."""
    engine = create_engine(settings.resolved_database_url)
    try:
        yield create_session_factory(engine), FileStore(settings.files_dir)
    finally:
        await engine.dispose()
