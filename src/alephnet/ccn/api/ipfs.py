"""Uploads to the `ipfs` engine: files named by the CIDv0 kubo's `ipfs add` would give them.

This node computes CIDs itself and keeps the bytes in its own store (see `storage/filestore.py`),
so these routes work without an IPFS daemon; the files are served by the `/storage` routes
under their CID.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alephnet.ccn.api.deps import NodeDep
from alephnet.ccn.api.uploads import (
    FILE_UPLOAD_BODY,
    JSON_UPLOAD_BODY,
    Engine,
    answer_upload,
    receive_file,
    receive_json,
    record_upload,
)
from alephnet.protocol.enums import ItemType

router = APIRouter(tags=["ipfs"])


@router.post("/api/v0/ipfs/add_json", openapi_extra=JSON_UPLOAD_BODY)
async def add_json(request: Request, node: NodeDep) -> dict[str, str]:
    """Store a JSON document (the exact bytes sent) and return its CID."""
    engine = Engine.of(ItemType.IPFS, node.settings)
    upload = await receive_json(request, node)
    return {"status": "success", "hash": await record_upload(node, engine, upload)}


@router.post("/api/v0/ipfs/add_file", openapi_extra=FILE_UPLOAD_BODY)
async def add_file(request: Request, node: NodeDep) -> JSONResponse:
    """Store a file (raw body, or multipart `file` + optional signed STORE `metadata`).

    `name` is the uploaded file name, or the CID when there is none, as kubo answers."""
    engine = Engine.of(ItemType.IPFS, node.settings)
    upload = await receive_file(request, node, engine)
    cid = await record_upload(node, engine, upload)
    body = {
        "status": "success",
        "hash": cid,
        "name": upload.filename or cid,
        "size": upload.stored.size,
    }
    return await answer_upload(node, upload, body)
