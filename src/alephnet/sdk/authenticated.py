"""`AuthenticatedAlephClient`: writing messages signed by one account.

Messages are built and signed by `alephnet.protocol.build_message` (pure, no I/O); this module
only sends them. Content of `MAX_INLINE_SIZE` characters or more is stored first with
`/storage/add_json` and the message names it by hash (`item_type: storage`), as the official
SDK does.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from alephnet.protocol import MessageType, Signer, build_message
from alephnet.protocol.builder import BuiltMessage
from alephnet.protocol.content import (
    AggregateContent,
    BaseContent,
    ForgetContent,
    PostContent,
    StoreContent,
)
from alephnet.protocol.enums import ItemType, MessageStatus
from alephnet.sdk._instance import InstanceSettings, instance_content
from alephnet.sdk._program import ProgramSettings, code_archive, program_content
from alephnet.sdk._responses import json_body, rejection
from alephnet.sdk._uploads import (
    FileSource,
    Progress,
    StorageEngine,
    hash_and_size,
    multipart_form,
    open_source,
    raw_body,
)
from alephnet.sdk._validation import content_errors
from alephnet.sdk.accounts import Account
from alephnet.sdk.client import SECURITY_KEY, AlephClient
from alephnet.sdk.exceptions import InvalidResponse, NotFound
from alephnet.sdk.models import ProgramPublished, Published

DEFAULT_CHANNEL = "ALEPHNET"
MAX_INLINE_SIZE = 50_000
ACCEPTED = {200: MessageStatus.PROCESSED, 202: MessageStatus.PENDING}


class AuthenticatedAlephClient(AlephClient):
    """Reads like `AlephClient`, and writes messages signed by `account`."""

    def __init__(
        self, account: Account | Signer, *, channel: str = DEFAULT_CHANNEL, **options: Any
    ) -> None:
        super().__init__(**options)
        self.signer = account.signer if isinstance(account, Account) else account
        self.channel = channel

    @property
    def address(self) -> str:
        return self.signer.address

    # --- posts and aggregates ----------------------------------------------------------

    async def create_post(
        self,
        content: Any,
        post_type: str,
        *,
        ref: str | None = None,
        address: str | None = None,
        channel: str | None = None,
        sync: bool = True,
    ) -> Published:
        """A POST; with `sync` (the default) the call returns once the node processed it."""
        with content_errors("POST"):
            post = PostContent(
                address=address or self.address,
                time=time.time(),
                content=content,
                ref=ref,
                type=post_type,
            )
        return await self._publish(MessageType.POST, post, channel, sync)

    async def amend(self, original_hash: str, content: Any, **options: Any) -> Published:
        """Replace the content of the post `original_hash` (a POST of type `amend`)."""
        return await self.create_post(content, "amend", ref=original_hash, **options)

    async def create_aggregate(
        self,
        key: str,
        content: Mapping[str, Any],
        *,
        address: str | None = None,
        channel: str | None = None,
        sync: bool = True,
    ) -> Published:
        """Merge `content` into the aggregate `key` (shallow: top-level keys are replaced)."""
        with content_errors("AGGREGATE"):
            aggregate = AggregateContent(
                address=address or self.address, time=time.time(), key=key, content=dict(content)
            )
        return await self._publish(MessageType.AGGREGATE, aggregate, channel, sync)

    # --- files and programs ------------------------------------------------------------

    async def create_store(
        self,
        source: FileSource,
        *,
        storage_engine: StorageEngine = "storage",
        progress: Progress | None = None,
        ref: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        channel: str | None = None,
        sync: bool = True,
    ) -> Published:
        """Upload a file (a path, bytes or a binary stream) with the STORE message that pins it.
        `progress(sent, total)` is called as the bytes go."""
        stream = open_source(source)
        try:
            file_hash, size = hash_and_size(stream, storage_engine)
            with content_errors("STORE"):
                store = StoreContent.model_validate(
                    {
                        "address": self.address,
                        "time": time.time(),
                        "item_type": storage_engine,
                        "item_hash": file_hash,
                        "size": size,
                        "ref": ref,
                        "metadata": dict(metadata) if metadata is not None else None,
                        "payment": {"chain": self.signer.chain, "type": "hold"},
                    }
                )
            built = build_message(
                self.signer, MessageType.STORE, store, channel=channel or self.channel
            )
            body, content_type = multipart_form(
                {"message": built.message, "sync": sync}, stream, size, progress
            )
            response = await self.transport.request(
                "POST",
                f"/api/v0/{storage_engine}/add_file",
                content=body,
                headers={"Content-Type": content_type},
            )
        finally:
            if stream is not source:  # opened here: a caller's own stream stays open
                stream.close()
        return self._published(built, response)

    async def push_file(
        self,
        source: FileSource,
        *,
        storage_engine: StorageEngine = "storage",
        progress: Progress | None = None,
    ) -> str:
        """Upload a file without a STORE message (the official `storage_push_file`): the node
        keeps it for its grace period only, unless a message comes to claim it. Returns the
        file's hash, checked against the one computed here."""
        stream = open_source(source)
        try:
            file_hash, size = hash_and_size(stream, storage_engine)
            response = await self.transport.request(
                "POST",
                f"/api/v0/{storage_engine}/add_file",
                content=raw_body(stream, size, progress),
                headers={"Content-Type": "application/octet-stream"},
            )
        finally:
            if stream is not source:
                stream.close()
        return _checked_hash(json_body(response), file_hash)

    async def push_json(self, document: Any, *, storage_engine: StorageEngine = "storage") -> str:
        """Store a JSON document without a message (the official `storage_push`); returns
        its hash (sha256 of the bytes sent, for the storage engine)."""
        data = json.dumps(document, separators=(",", ":")).encode()
        response = await self.transport.request(
            "POST",
            f"/api/v0/{storage_engine}/add_json",
            content=data,
            headers={"Content-Type": "application/json"},
        )
        expected = hash_and_size(io.BytesIO(data), storage_engine)[0]
        return _checked_hash(json_body(response), expected)

    async def create_program(
        self,
        code: str | os.PathLike[str],
        entrypoint: str,
        *,
        channel: str | None = None,
        sync: bool = True,
        progress: Progress | None = None,
        **settings: Any,
    ) -> ProgramPublished:
        """Zip `code` (a folder or a file; a zip is sent as is), store it, and publish a PROGRAM
        running it. `progress` follows the upload of the archive. `settings` are
        `ProgramSettings` fields: runtime, memory, vcpus, timeout_seconds, env, volumes,
        persistent, internet, aleph_api, allow_amend, metadata."""
        program = ProgramSettings(entrypoint=entrypoint, **settings)
        stored = await self.create_store(
            code_archive(code), channel=channel, sync=sync, progress=progress
        )
        content = program_content(
            program, self.address, self.signer.chain, stored.item_hash, time.time()
        )
        published = await self._publish(MessageType.PROGRAM, content, channel, sync)
        return ProgramPublished(**published.model_dump(), code=stored)

    async def create_instance(
        self,
        rootfs: str,
        *,
        channel: str | None = None,
        sync: bool = True,
        **settings: Any,
    ) -> Published:
        """Publish an INSTANCE: a VM whose disk is a copy of the image kept by the STORE
        message `rootfs`. `settings` are `InstanceSettings` fields: rootfs_size (MiB), memory,
        vcpus, timeout_seconds, ssh_keys, env, volumes, internet, aleph_api, hypervisor,
        allow_amend, metadata, requirements. Paid by holding tokens on the account's chain."""
        instance = InstanceSettings(rootfs=rootfs, **settings)
        content = instance_content(instance, self.address, self.signer.chain, time.time())
        return await self._publish(MessageType.INSTANCE, content, channel, sync)

    # --- forgetting and delegation -----------------------------------------------------

    async def forget(
        self,
        hashes: Iterable[str],
        *,
        aggregates: Iterable[str] = (),
        reason: str | None = None,
        channel: str | None = None,
        sync: bool = True,
    ) -> Published:
        """Erase messages (and with them posts, files, programs) and whole aggregate keys."""
        with content_errors("FORGET"):
            forget = ForgetContent(
                address=self.address,
                time=time.time(),
                hashes=list(hashes),
                aggregates=list(aggregates),
                reason=reason,
            )
        return await self._publish(MessageType.FORGET, forget, channel, sync)

    async def grant(
        self,
        delegate: str,
        *,
        types: Sequence[str] = (),
        channels: Sequence[str] = (),
        post_types: Sequence[str] = (),
        aggregate_keys: Sequence[str] = (),
        chain: str | None = None,
    ) -> Published:
        """Let `delegate` write for this address (the `security` aggregate): only the message
        types, channels, post types and aggregate keys listed, or any when a list is empty.
        Replaces an earlier grant to the same delegate."""
        grant: dict[str, Any] = {
            "address": delegate,
            "types": list(types),
            "channels": list(channels),
            "post_types": list(post_types),
            "aggregate_keys": list(aggregate_keys),
        }
        if chain is not None:
            grant["chain"] = chain
        others = [entry for entry in await self._authorizations() if entry["address"] != delegate]
        return await self.create_aggregate(SECURITY_KEY, {"authorizations": [*others, grant]})

    async def revoke(self, delegate: str) -> Published:
        """Withdraw every authorization given to `delegate`."""
        kept = [entry for entry in await self._authorizations() if entry["address"] != delegate]
        return await self.create_aggregate(SECURITY_KEY, {"authorizations": kept})

    async def _authorizations(self) -> list[dict[str, Any]]:
        try:
            security = await self.fetch_aggregate(self.address, SECURITY_KEY)
        except NotFound:
            return []
        entries = security.get("authorizations", []) if isinstance(security, dict) else []
        return [entry for entry in entries if isinstance(entry, dict) and "address" in entry]

    # --- sending -----------------------------------------------------------------------

    async def _publish(
        self, message_type: MessageType, content: BaseContent, channel: str | None, sync: bool
    ) -> Published:
        built = build_message(self.signer, message_type, content, channel=channel or self.channel)
        if len(built.item_content) >= MAX_INLINE_SIZE:
            await self._store_json(built.item_content, built.item_hash)
            built = build_message(
                self.signer,
                message_type,
                content,
                channel=channel or self.channel,
                time=built.message["time"],
                item_type=ItemType.STORAGE,
            )
        response = await self.transport.request(
            "POST", "/api/v0/messages", json={"message": built.message, "sync": sync}
        )
        return self._published(built, response)

    async def _store_json(self, item_content: str, item_hash: str) -> None:
        """Store the exact serialised content, so its sha256 is the message's item hash."""
        response = await self.transport.request(
            "POST",
            "/api/v0/storage/add_json",
            content=item_content.encode(),
            headers={"Content-Type": "application/json"},
        )
        _checked_hash(json_body(response), item_hash)

    def _published(self, built: BuiltMessage, response: httpx.Response) -> Published:
        if response.status_code == 422:
            raise rejection(built.item_hash, response)
        json_body(response)
        status = ACCEPTED.get(response.status_code)
        if status is None:
            raise InvalidResponse(
                f"unexpected status {response.status_code} for a submitted message",
                response.status_code,
            )
        return Published(item_hash=built.item_hash, status=status, message=built.message)


def _checked_hash(body: Any, expected: str) -> str:
    """The hash an upload answer names, which must be the one computed before sending."""
    if not isinstance(body, dict) or body.get("hash") != expected:
        raise InvalidResponse(f"the node stored the upload as {body!r}, not as {expected}")
    return expected
