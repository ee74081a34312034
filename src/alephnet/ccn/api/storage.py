"""Files: uploads to the `storage` engine, downloads, and what the node knows about files.

Downloads are served from the local store, so any file this node has can be read, under its
sha256 or its CID; the `files` table answers the metadata routes. `GET /storage/raw/{hash}`
supports single byte ranges (the reference answers `Accept-Ranges: none`): players and
resumable downloads need them, and a content-addressed file never changes under a range.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.api.deps import NodeDep, SessionDep
from alephnet.ccn.api.messages import iso_time
from alephnet.ccn.api.params import Page, SortOrder, page_params, paginated
from alephnet.ccn.api.uploads import (
    FILE_UPLOAD_BODY,
    JSON_UPLOAD_BODY,
    Engine,
    answer_upload,
    receive_file,
    receive_json,
    record_upload,
)
from alephnet.ccn.db.accessors import files
from alephnet.ccn.db.models import StoredFileRow
from alephnet.ccn.handlers.store import file_tag, is_item_hash
from alephnet.ccn.pipeline.permissions import same_address
from alephnet.ccn.storage import (
    FileNotFound,
    FileStore,
    FileTooLarge,
    InvalidHash,
    parse_range_header,
)
from alephnet.protocol.enums import ItemType
from alephnet.protocol.item_hash import item_type_from_hash

router = APIRouter(tags=["storage"])

OCTET_STREAM = "application/octet-stream"
ADDRESS_FILES_PAGE_SIZE = 100


def _checked_hash(file_hash: str) -> str:
    """A path's file hash, refused with 400 when it can name no file."""
    try:
        item_type_from_hash(file_hash)
    except ValueError as error:
        raise InvalidHash(file_hash) from error
    return file_hash


FileHash = Annotated[str, Depends(_checked_hash)]


def download_url(file_hash: str) -> str:
    return f"/api/v0/storage/raw/{file_hash}"


# --- uploads -----------------------------------------------------------------------------


@router.post("/api/v0/storage/add_json", openapi_extra=JSON_UPLOAD_BODY)
async def add_json(request: Request, node: NodeDep) -> dict[str, str]:
    """Store a JSON document (the exact bytes sent) and return its sha256; kept for the grace
    period unless a message claims it."""
    engine = Engine.of(ItemType.STORAGE, node.settings)
    upload = await receive_json(request, node)
    return {"status": "success", "hash": await record_upload(node, engine, upload)}


@router.post("/api/v0/storage/add_file", openapi_extra=FILE_UPLOAD_BODY)
async def add_file(request: Request, node: NodeDep) -> JSONResponse:
    """Store a file sent as the raw body, or as the `file` part of a multipart form with an
    optional signed STORE message in a `metadata` part (see `api/uploads.py`)."""
    engine = Engine.of(ItemType.STORAGE, node.settings)
    upload = await receive_file(request, node, engine)
    file_hash = await record_upload(node, engine, upload)
    return await answer_upload(node, upload, {"status": "success", "hash": file_hash})


# --- downloads ---------------------------------------------------------------------------


# GET is registered first: a 405 answer lists the methods of the first route of the path.
@router.head("/api/v0/storage/raw/{file_hash}", include_in_schema=False)
@router.get("/api/v0/storage/raw/{file_hash}")
async def get_raw(file_hash: str, request: Request, node: NodeDep) -> Response:
    """The file's bytes, streamed; a `Range: bytes=...` header selects one span (206)."""
    size = node.store.size_of(file_hash)
    if size is None:
        raise FileNotFound(file_hash)
    span = parse_range_header(request.headers.get("range"), size)
    return _file_response(node.store, file_hash, size, span, head=request.method == "HEAD")


def _file_response(
    store: FileStore, file_hash: str, size: int, span: tuple[int, int] | None, head: bool
) -> Response:
    start, end = span if span is not None else (0, size)
    headers = {"accept-ranges": "bytes", "content-length": str(end - start)}
    if span is not None:
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    status_code = 206 if span is not None else 200
    if head:
        return Response(status_code=status_code, headers=headers, media_type=OCTET_STREAM)
    return StreamingResponse(
        store.read_range(file_hash, start, end),
        status_code=status_code,
        headers=headers,
        media_type=OCTET_STREAM,
    )


@router.get("/api/v0/storage/metadata/{file_hash}")
async def get_metadata(file_hash: FileHash, session: SessionDep) -> dict[str, Any]:
    row = await files.get_file(session, file_hash)
    if row is None:
        raise FileNotFound(file_hash)
    return {
        "file_hash": row.hash,
        "type": row.type,
        "size": row.size,
        "download_url": download_url(row.hash),
    }


@router.get("/api/v0/storage/by-message-hash/{message_hash}")
async def get_by_message_hash(message_hash: str, session: SessionDep) -> dict[str, Any]:
    """The file a STORE message stores."""
    found = await files.pin_with_file(session, _checked_hash(message_hash))
    if found is None:
        raise HTTPException(404, f"no STORE message {message_hash} holds a file on this node")
    pin, file = found
    return _file_reference(pin.ref, pin.owner, file)


@router.get("/api/v0/storage/by-ref/{ref}")
async def get_by_ref(ref: str, session: SessionDep) -> dict[str, Any]:
    """The latest version of a file, by the hash of its first STORE message."""
    if not is_item_hash(ref):
        raise HTTPException(
            400, "a free-text ref is per owner: ask /api/v0/storage/by-ref/{address}/{ref}"
        )
    return await _tagged_file(session, ref, owner=None)


@router.get("/api/v0/storage/by-ref/{address}/{ref}")
async def get_by_owner_ref(address: str, ref: str, session: SessionDep) -> dict[str, Any]:
    """The latest version of an address's file, by its ref (free text or a STORE hash)."""
    return await _tagged_file(session, file_tag(address, ref, item_hash=ref), owner=address)


async def _tagged_file(session: AsyncSession, tag: str, owner: str | None) -> dict[str, Any]:
    found = await files.tag_with_file(session, tag)
    if found is None or (owner is not None and not same_address(found[0].owner, owner)):
        raise HTTPException(404, f"no file with the ref {tag} on this node")
    tag_row, file = found
    return _file_reference(tag, tag_row.owner, file)


def _file_reference(ref: str | None, owner: str | None, file: StoredFileRow) -> dict[str, Any]:
    return {
        "ref": ref,
        "owner": owner,
        "file_hash": file.hash,
        "download_url": download_url(file.hash),
        "size": file.size,
    }


@router.get("/api/v0/storage/count/{file_hash}")
async def get_pin_count(file_hash: FileHash, session: SessionDep) -> int:
    """How many pins keep the file: STORE messages, message contents, grace periods."""
    return await files.count_pins(session, file_hash)


@router.get("/api/v0/storage/limits.json")
async def get_limits(node: NodeDep) -> dict[str, Any]:
    """Upload size limits. The reference's `ipfs.max_upload_car_size` is absent: this node does
    not take CAR uploads."""
    settings = node.settings
    return {
        "storage": {
            "max_file_size": settings.max_file_size,
            "max_unauthenticated_upload_file_size": settings.max_unauthenticated_upload,
        },
        "ipfs": {
            "max_upload_file_size": settings.max_ipfs_upload,
            "max_unauthenticated_upload_file_size": settings.max_unauthenticated_upload,
        },
    }


@router.get("/api/v0/storage/{file_hash}")
async def get_base64(file_hash: str, node: NodeDep) -> dict[str, Any]:
    """The file as base64 in JSON (lines of 76 characters, as the reference): how nodes fetch
    files from each other. Files over `max_file_size` are refused (413): read them raw."""
    size = node.store.size_of(file_hash)
    if size is None:
        raise FileNotFound(file_hash)
    if size > node.settings.max_file_size:
        raise FileTooLarge(node.settings.max_file_size)
    data = await node.store.read_all(file_hash)
    content = await asyncio.to_thread(base64.encodebytes, data)
    return {
        "status": "success",
        "hash": file_hash,
        "engine": item_type_from_hash(file_hash).value,
        "content": content.decode(),
    }


# --- files of an address -----------------------------------------------------------------


@router.get("/api/v0/addresses/{address}/files")
async def get_address_files(
    address: str,
    session: SessionDep,
    page: Annotated[Page, Depends(page_params(default_size=ADDRESS_FILES_PAGE_SIZE))],
    sort_order: Annotated[SortOrder, Query()] = SortOrder.DESCENDING,
) -> dict[str, Any]:
    """The files an address stores through STORE messages, by creation time; 404 if none."""
    count, total_size = await files.owner_files_summary(session, address)
    if count == 0:
        raise HTTPException(404, f"no files stored by {address}")
    rows = await files.owner_files(session, address, page.number, page.size, sort_order.descending)
    items = [
        {
            "file_hash": file.hash,
            "size": file.size,
            "type": file.type,
            "created": iso_time(pin.created),
            "item_hash": pin.item_hash,
        }
        for pin, file in rows
    ]
    return {"address": address, "total_size": total_size, **paginated("files", items, page, count)}
