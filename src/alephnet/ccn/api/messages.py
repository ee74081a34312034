"""Submitting messages and reading one message: `/api/v0/messages` and `/messages/{hash}`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from alephnet.ccn.api.deps import NodeDep, SessionDep
from alephnet.ccn.db.accessors.messages import get_forgotten, get_message, get_rejected
from alephnet.ccn.db.accessors.pending import pending_for
from alephnet.ccn.db.accessors.status import get_status
from alephnet.ccn.node import Node
from alephnet.ccn.pipeline.intake import Accepted
from alephnet.ccn.serialization import message_to_dict, snapshot_to_dict
from alephnet.protocol.enums import MessageStatus
from alephnet.protocol.item_hash import item_type_from_hash
from alephnet.protocol.parsing import parse_message

router = APIRouter(tags=["messages"])

JSON_TYPE = "application/json"

STATUS_HTTP_CODES = {
    MessageStatus.PENDING: 202,
    MessageStatus.PROCESSED: 200,
    MessageStatus.REJECTED: 422,
    MessageStatus.FORGOTTEN: 410,
    MessageStatus.REMOVING: 200,
    MessageStatus.REMOVED: 410,
}


class PublishRequest(BaseModel):
    message: dict[str, Any]
    sync: bool = False


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


async def submit_message(node: Node, raw_message: dict[str, Any], sync: bool = False) -> Accepted:
    """Validate a submitted message (a malformed one is a 422), queue it and, new, gossip it;
    with `sync`, wait for its processing. Every route that accepts messages from clients goes
    through here."""
    message = parse_message(raw_message)
    waiter = node.events.expect(message.item_hash) if sync else None
    try:
        accepted = await node.intake.submit(message, origin="http")
        if accepted.queued and node.gossip is not None:
            node.gossip.publish(message)
        return replace(accepted, status=await _settled_status(node, accepted, waiter))
    finally:
        if waiter is not None:
            node.events.forget_waiter(message.item_hash, waiter)


def plain_publication(body: bytes) -> PublishRequest | None:
    """The request of a plain publication body (a JSON object whose `message` is an object and
    whose `sync`, if any, is a boolean), read with orjson; None for anything else, which the
    route's standard FastAPI handler then refuses in its usual shape."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("message"), dict):
        return None
    sync = document.get("sync", False)
    if not isinstance(sync, bool):
        return None
    return PublishRequest.model_construct(message=document["message"], sync=sync)


@router.post("/api/v0/messages")
async def publish_message(request: PublishRequest, node: NodeDep) -> Response:
    """Submit a signed message. 202 once it is queued (on disk); with `sync`, wait for its
    processing: 200 processed, 422 rejected, 202 if still pending after the sync timeout.

    Plain requests never reach this handler: `PublishFastPath` serves them (see there)."""
    status, body = await publication_answer(node, request)
    return Response(body, status, media_type=JSON_TYPE)


async def publication_answer(node: Node, request: PublishRequest) -> tuple[int, bytes]:
    """The HTTP status and JSON body answering a publication."""
    accepted = await submit_message(node, request.message, request.sync)
    status = accepted.status
    body: dict[str, Any] = {
        "publication_status": {"status": "success", "failed": []},
        "message_status": status.value,
    }
    if status == MessageStatus.REJECTED:
        async with node.sessions() as session:
            rejected = await get_rejected(session, accepted.item_hash)
        if rejected is not None:
            body |= {"error_code": rejected.error_code, "details": rejected.details}
    return STATUS_HTTP_CODES[status], orjson.dumps(body)


async def _settled_status(
    node: Node, accepted: Accepted, waiter: asyncio.Future[Any] | None
) -> MessageStatus:
    if waiter is None or accepted.status != MessageStatus.PENDING:
        return accepted.status
    try:
        result = await asyncio.wait_for(waiter, timeout=node.settings.sync_timeout)
    except TimeoutError:
        return MessageStatus.PENDING
    return MessageStatus(result.status)


def _check_hash(item_hash: str) -> None:
    try:
        item_type_from_hash(item_hash)
    except ValueError as error:
        raise HTTPException(400, str(error)) from error


@router.get("/api/v0/messages/{item_hash}")
async def get_message_by_hash(item_hash: str, session: SessionDep) -> dict[str, Any]:
    """One message, whatever its status; the body's shape depends on the status."""
    _check_hash(item_hash)
    status_row = await get_status(session, item_hash)
    if status_row is None:
        raise HTTPException(404, f"message {item_hash} not found")
    status = MessageStatus(status_row.status)
    body: dict[str, Any] = {
        "status": status.value,
        "item_hash": item_hash,
        "reception_time": iso_time(status_row.reception_time),
    }
    return body | await _status_details(session, item_hash, status)


async def _status_details(
    session: AsyncSession, item_hash: str, status: MessageStatus
) -> dict[str, Any]:
    if status in (MessageStatus.PROCESSED, MessageStatus.REMOVING):
        row = await get_message(session, item_hash)
        return {"message": message_to_dict(row)} if row else {}
    if status == MessageStatus.REJECTED:
        rejected = await get_rejected(session, item_hash)
        if rejected is None:
            return {}
        return {
            "message": rejected.message,
            "error_code": rejected.error_code,
            "details": rejected.details,
        }
    if status == MessageStatus.FORGOTTEN:
        forgotten = await get_forgotten(session, item_hash)
        if forgotten is None:
            return {}
        return {"message": snapshot_to_dict(forgotten), "forgotten_by": forgotten.forgotten_by}
    if status == MessageStatus.PENDING:
        return await _pending_details(session, item_hash)
    return {}


async def _pending_details(session: AsyncSession, item_hash: str) -> dict[str, Any]:
    messages = [row.message for row in await pending_for(session, item_hash)]
    return {"message": messages[0], "messages": messages} if messages else {}


@router.get("/api/v0/messages/{item_hash}/status")
async def get_message_status(item_hash: str, session: SessionDep) -> dict[str, Any]:
    _check_hash(item_hash)
    status_row = await get_status(session, item_hash)
    if status_row is None:
        raise HTTPException(404, f"message {item_hash} not found")
    return {
        "status": status_row.status,
        "item_hash": item_hash,
        "reception_time": iso_time(status_row.reception_time),
    }


@router.get("/api/v0/messages/{item_hash}/content")
async def get_message_content(item_hash: str, session: SessionDep) -> Any:
    """The content of a processed message; for a POST, the post's own `content`."""
    _check_hash(item_hash)
    row = await get_message(session, item_hash)
    if row is None:
        status_row = await get_status(session, item_hash)
        if status_row is None:
            raise HTTPException(404, f"message {item_hash} not found")
        raise HTTPException(422, f"message {item_hash} is {status_row.status}, not processed")
    if row.type == "POST" and isinstance(row.content, dict):
        return row.content.get("content")
    return row.content
