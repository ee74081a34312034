"""Messages and files from the CCN, as the reference CRN fetches them (reference §4.4).

A message comes from `GET /api/v0/messages.json?hashes=`. A STORE referenced with `use_latest`
is replaced by the newest STORE of the same owner whose `content.ref` names it (an amend). Files
come from `GET /api/v0/storage/raw/{hash}` into a cache under the data dir: written to a `.part`
file, checked against their hash (sha256 for the storage engine, the CIDv0 for ipfs), then
renamed, so a file in the cache is always whole and right. Files are named by hash and never
change, so a cached file is served from disk forever.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol

import httpx

from alephnet.crn.supervisor.errors import ProgramNotFound, ResourceUnavailable
from alephnet.protocol.cid import CidBuilder

MESSAGES_PATH = "/api/v0/messages.json"
RAW_FILE_PATH = "/api/v0/storage/raw/{}"
AGGREGATES_PATH = "/api/v0/aggregates/{}.json"
STATUS_PATH = "/api/v0/messages/{}/status"
STORE = "STORE"


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class _CidDigest:
    def __init__(self) -> None:
        self._builder = CidBuilder()

    def update(self, data: bytes, /) -> None:
        self._builder.update(data)

    def hexdigest(self) -> str:
        return self._builder.cid_v0()


class CcnSource:
    """The CCN as the supervisor sees it: messages by hash and the files of STOREs."""

    def __init__(self, client: httpx.AsyncClient, cache_dir: Path) -> None:
        self._client = client
        self._files_dir = cache_dir / "files"
        self._file_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def message(self, item_hash: str) -> dict[str, Any]:
        """The processed message `item_hash`; `ProgramNotFound` when the CCN has none."""
        messages = await self._messages({"hashes": item_hash})
        if not messages:
            raise ProgramNotFound(f"Item hash {item_hash} not found on the CCN")
        return messages[0]

    async def store_file(self, ref: str, owner: str, use_latest: bool) -> Path:
        """The file of the STORE `ref` (or of its latest amend), downloaded once."""
        return await self.file(*await self.stored_file(ref, owner, use_latest))

    async def stored_file(self, ref: str, owner: str, use_latest: bool) -> tuple[str, str]:
        """(file hash, storage engine) of what the STORE `ref`, or its latest amend, names
        now: asked again each time, since an amend changes the answer (the file cache is
        keyed by file hash, so it never gives the old file for an amended ref)."""
        try:
            store = await self._store(ref, owner, use_latest)
        except ProgramNotFound as error:
            raise ResourceUnavailable(f"no STORE message {ref}") from error
        content = store.get("content") or {}
        file_hash, engine = str(content.get("item_hash", "")), content.get("item_type", "storage")
        if not file_hash:
            raise ResourceUnavailable(f"STORE {ref} names no file")
        return file_hash, str(engine)

    async def file(self, file_hash: str, engine: str = "storage") -> Path:
        path = self._files_dir / file_hash
        async with self._file_locks[file_hash]:
            if not path.exists():
                await self._download(file_hash, engine, path)
        return path

    async def delegates(self, owner: str, message_type: str) -> set[str]:
        """Addresses the owner's `security` aggregate lets act for it on `message_type`
        messages (an authorization without `types` covers every type)."""
        security = await self.aggregate(owner, "security")
        delegates = set()
        for authorization in security.get("authorizations", []) or []:
            if not isinstance(authorization, dict):
                continue
            types = authorization.get("types") or []
            if not types or message_type in types:
                delegates.add(str(authorization.get("address", "")).lower())
        return delegates

    async def aggregate(self, owner: str, key: str) -> dict[str, Any]:
        """The owner's aggregate `key`; empty when it has none or the CCN does not answer
        (what it grants is then not granted)."""
        try:
            response = await self._client.get(AGGREGATES_PATH.format(owner), params={"keys": key})
            found = response.json().get("data", {}).get(key, {})
        except (httpx.HTTPError, ValueError, AttributeError):
            return {}
        return found if isinstance(found, dict) else {}

    async def status(self, item_hash: str) -> str | None:
        """The message's status on the CCN (`processed`, `forgotten`...); None when the CCN
        does not know it or does not answer, which proves nothing."""
        try:
            response = await self._client.get(STATUS_PATH.format(item_hash))
            status = response.json().get("status") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return str(status) if status is not None else None

    async def _store(self, ref: str, owner: str, use_latest: bool) -> dict[str, Any]:
        if use_latest:
            amend = await self._latest_amend(ref, owner)
            if amend is not None:
                return amend
        store = await self.message(ref)
        if store.get("type") != STORE:
            raise ResourceUnavailable(f"{ref} is a {store.get('type')} message, not a STORE")
        return store

    async def _latest_amend(self, ref: str, owner: str) -> dict[str, Any] | None:
        """The newest STORE amending `ref`; accepted only with the same owner (reference)."""
        hits = await self._messages(
            {"msgTypes": STORE, "refs": ref, "owners": owner, "sortOrder": "-1", "pagination": "1"}
        )
        for hit in hits:
            content = hit.get("content") or {}
            if content.get("ref") == ref and content.get("address") == owner:
                return hit
        return None

    async def _messages(self, params: dict[str, str]) -> list[dict[str, Any]]:
        try:
            response = await self._client.get(MESSAGES_PATH, params=params)
            response.raise_for_status()
            messages = response.json().get("messages", [])
        except (httpx.HTTPError, ValueError) as error:
            raise ResourceUnavailable(f"the CCN did not answer {MESSAGES_PATH}: {error}") from error
        return [message for message in messages if isinstance(message, dict)]

    async def _download(self, file_hash: str, engine: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.part")
        digest: _Digest = _CidDigest() if engine == "ipfs" else hashlib.sha256()
        try:
            async with self._client.stream("GET", RAW_FILE_PATH.format(file_hash)) as response:
                if response.status_code != 200:
                    raise ResourceUnavailable(
                        f"file {file_hash}: the CCN answered {response.status_code}"
                    )
                with partial.open("wb") as output:
                    async for chunk in response.aiter_bytes():
                        digest.update(chunk)
                        output.write(chunk)
        except httpx.HTTPError as error:
            partial.unlink(missing_ok=True)
            raise ResourceUnavailable(f"file {file_hash}: {error}") from error
        if digest.hexdigest() != file_hash:
            partial.unlink(missing_ok=True)
            raise ResourceUnavailable(f"file {file_hash}: the bytes received have another hash")
        os.replace(partial, path)
