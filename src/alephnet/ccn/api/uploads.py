"""Receiving files for `/storage/add_*` and `/ipfs/add_*`: streamed to the store, recorded with
a grace period, and, when a signed STORE message comes with them, submitted like POST /messages.

An upload is a raw body (anonymous) or a multipart form: a `file` part and, optionally, a
`metadata` part `{"message": <signed STORE>, "sync": bool}`. With metadata the upload is
authenticated: the larger size limit applies, the signature must verify (403) and the STORE
must name the uploaded bytes (422). The official SDK sends `metadata` first, so its limit and
hash are known while the file streams and a refused file never reaches the store. Should
`metadata` come after `file`, the file is streamed under the authenticated limit, checked once
the form is read, and deleted if refused.

Every upload gets a grace pin, signed or not: its STORE message may wait in the pending queue
(for a permission, a balance, a retry) and the file must still be there when it is processed.
If the STORE never comes, the garbage collector deletes the file when the grace period ends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from alephnet.ccn.api.errors import error_body
from alephnet.ccn.api.messages import STATUS_HTTP_CODES, submit_message
from alephnet.ccn.api.multipart import (
    MalformedMultipart,
    MultipartReader,
    PartTooLarge,
    form_boundary,
)
from alephnet.ccn.db.accessors import files
from alephnet.ccn.db.accessors.messages import get_rejected
from alephnet.ccn.node import Node
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileNotFound, FileTooLarge, HashMismatch, StoredFile
from alephnet.protocol.chains import verify_signature
from alephnet.protocol.cid import parse_cid
from alephnet.protocol.content import StoreContent
from alephnet.protocol.enums import ItemType, MessageStatus, MessageType
from alephnet.protocol.errors import InvalidFormat, InvalidSignature
from alephnet.protocol.parsing import error_details, parse_message

METADATA_PART = "metadata"
FILE_PART = "file"

FILE_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        METADATA_PART: {
                            "type": "string",
                            "description": 'JSON: {"message": <signed STORE>, "sync": false}',
                        },
                        FILE_PART: {"type": "string", "format": "binary"},
                    },
                    "required": [FILE_PART],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""The OpenAPI request body of the `add_file` routes, which read their body themselves. It is
optional: an empty raw body is the empty file."""

JSON_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}
}
"""The OpenAPI request body of the `add_json` routes: any JSON document."""


@dataclass(frozen=True, slots=True)
class Engine:
    """What differs between the `storage` and the `ipfs` upload routes."""

    item_type: ItemType
    max_authenticated: int
    max_unauthenticated: int

    @classmethod
    def of(cls, item_type: ItemType, settings: CcnSettings) -> Engine:
        largest = (
            settings.max_file_size if item_type == ItemType.STORAGE else settings.max_ipfs_upload
        )
        return cls(item_type, largest, settings.max_unauthenticated_upload)

    def name_of(self, stored: StoredFile) -> str:
        """The hash this engine names the file by: sha256 hex, or CIDv0."""
        return stored.sha256 if self.item_type == ItemType.STORAGE else stored.cid

    def names(self, stored: StoredFile, file_hash: str) -> bool:
        """Whether `file_hash` is a name of these bytes in this engine (a CIDv1 names the same
        DAG as its CIDv0)."""
        if self.item_type == ItemType.STORAGE:
            return file_hash == stored.sha256
        try:
            return parse_cid(file_hash).to_v0_str() == stored.cid
        except ValueError:
            return False

    def limit(self, authenticated: bool) -> int:
        return self.max_authenticated if authenticated else self.max_unauthenticated


class UploadMetadata(BaseModel):
    """The `metadata` part. Extra keys (the reference's `file_size`) are accepted and unused:
    the size that counts is the size received."""

    model_config = ConfigDict(extra="ignore")

    message: dict[str, Any]
    sync: bool = False


@dataclass(frozen=True, slots=True)
class SignedStore:
    """A STORE message that came with its file, its signature verified. `raw` is submitted as
    it came, as POST /messages would submit it."""

    raw: dict[str, Any]
    content: StoreContent
    sync: bool


@dataclass(frozen=True, slots=True)
class Upload:
    stored: StoredFile
    signed: SignedStore | None = None
    filename: str | None = None


# --- receiving ---------------------------------------------------------------------------


async def receive_json(request: Request, node: Node) -> Upload:
    """A JSON document, stored as the exact bytes received.

    The bytes are not re-serialised (the reference stores sorted-key JSON): a client can then
    compute the hash itself, before or after the upload, and the content a message is later
    checked against is byte for byte what its author sent. Clients, the official SDK included,
    use the hash the node returns, so either choice works with them."""
    body = await request.body()
    if len(body) > node.settings.max_unauthenticated_upload:
        raise FileTooLarge(node.settings.max_unauthenticated_upload)
    try:
        json.loads(body)
    except ValueError as error:
        raise HTTPException(422, f"the body is not JSON: {error}") from error
    return Upload(await node.store.write_bytes(body))


async def receive_file(request: Request, node: Node, engine: Engine) -> Upload:
    """The file of a raw-body or multipart upload, streamed to the store."""
    try:
        boundary = form_boundary(request.headers.get("content-type"))
        if boundary is None:
            stored = await node.store.write_stream(
                request.stream(), max_size=engine.max_unauthenticated
            )
            return Upload(stored)
        return await _receive_form(MultipartReader(request.stream(), boundary), node, engine)
    except MalformedMultipart as error:
        raise HTTPException(400, f"malformed multipart body: {error}") from error
    except PartTooLarge as error:
        raise HTTPException(413, str(error)) from error


@dataclass
class _Form:
    """What a multipart form has delivered so far."""

    signed: SignedStore | None = None
    stored: StoredFile | None = None
    filename: str | None = None


async def _receive_form(reader: MultipartReader, node: Node, engine: Engine) -> Upload:
    """Read the form; if it is refused once its file is stored, delete the file again."""
    form = _Form()
    try:
        await _read_form(reader, node, engine, form)
        return _checked_upload(form, engine)
    except Exception:
        if form.stored is not None:
            await node.collector.discard(form.stored.sha256)
        raise


async def _read_form(reader: MultipartReader, node: Node, engine: Engine, form: _Form) -> None:
    """Parts other than `metadata` and the first `file` are skipped."""
    while (part := await reader.next_part()) is not None:
        if part.name == METADATA_PART:
            raw = await reader.read_all(node.settings.max_request_body, part.name)
            form.signed = authenticate(raw, engine)
        elif part.name == FILE_PART and form.stored is None:
            form.stored = await node.store.write_stream(
                reader.data(),
                max_size=engine.max_authenticated,
                expected_hash=None if form.signed is None else form.signed.content.item_hash,
            )
            form.filename = part.filename


def _checked_upload(form: _Form, engine: Engine) -> Upload:
    """The checks that streaming could not make when `metadata` came after `file`; for a form
    in the usual order they passed already."""
    stored = form.stored
    if stored is None:
        raise HTTPException(422, f"the form has no '{FILE_PART}' part")
    limit = engine.limit(authenticated=form.signed is not None)
    if stored.size > limit:
        raise FileTooLarge(limit)
    if form.signed is not None and not engine.names(stored, form.signed.content.item_hash):
        raise HashMismatch(form.signed.content.item_hash, engine.name_of(stored))
    return Upload(stored, form.signed, form.filename)


def authenticate(raw_metadata: bytes, engine: Engine) -> SignedStore:
    """Parse the `metadata` part: a well-formed inline STORE of this engine (else 422), signed
    by its sender (else 403)."""
    try:
        metadata = UploadMetadata.model_validate_json(raw_metadata)
    except ValidationError as error:
        raise InvalidFormat("invalid upload metadata", details=error_details(error)) from error
    message = parse_message(metadata.message)
    content = message.content
    if message.type != MessageType.STORE or not isinstance(content, StoreContent):
        raise InvalidFormat("the metadata message must be a STORE with inline content")
    if content.item_type != engine.item_type:
        raise InvalidFormat(
            f"this route stores '{engine.item_type}' files, the STORE is for '{content.item_type}'"
        )
    try:
        verify_signature(message)
    except InvalidSignature as error:
        raise HTTPException(403, str(error)) from error
    return SignedStore(metadata.message, content, metadata.sync)


# --- recording and answering -------------------------------------------------------------


async def record_upload(node: Node, engine: Engine, upload: Upload) -> str:
    """Record the file with a grace pin; its hash in this engine."""
    stored = upload.stored
    file_hash = engine.name_of(stored)
    now = time.time()
    try:
        async with (
            node.collector.protecting(stored.sha256),
            node.gate.writing(),
            node.sessions() as session,
            session.begin(),
        ):
            await files.insert_file(session, file_hash, stored.sha256, stored.size)
            grace_end = now + node.settings.grace_period_seconds
            await files.add_grace_pin(session, file_hash, now, grace_end)
    except FileNotFound as error:
        raise HTTPException(
            503, "the file was deleted by a garbage collection as it arrived: send it again"
        ) from error
    return file_hash


async def answer_upload(node: Node, upload: Upload, body: dict[str, Any]) -> JSONResponse:
    """`body` for a plain upload; with a STORE, its submission decides the status code, as
    for POST /messages: 200 processed, 202 pending, 422 rejected."""
    if upload.signed is None:
        return JSONResponse(body)
    accepted = await submit_message(node, upload.signed.raw, upload.signed.sync)
    if accepted.status != MessageStatus.REJECTED:
        return JSONResponse(body, status_code=STATUS_HTTP_CODES[accepted.status])
    async with node.sessions() as session:
        rejected = await get_rejected(session, accepted.item_hash)
    details = (
        {} if rejected is None else {"error_code": rejected.error_code, "details": rejected.details}
    )
    return JSONResponse(
        error_body("the STORE message was rejected", hash=body["hash"], **details), status_code=422
    )
