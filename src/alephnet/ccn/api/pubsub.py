"""The legacy publication routes, `/api/v0/ipfs/pubsub/pub` and `/api/v0/p2p/pubsub/pub`.

Old clients posted `{topic, data}` with the message as a JSON *string* in `data`. The message
goes the same way as one sent to `POST /api/v0/messages` (without `sync`); the answer is the
publication status alone.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from alephnet.ccn.api.deps import NodeDep
from alephnet.ccn.api.messages import submit_message

router = APIRouter(tags=["messages"])


class PubsubRequest(BaseModel):
    topic: str
    data: str


@router.post("/api/v0/ipfs/pubsub/pub")
@router.post("/api/v0/p2p/pubsub/pub")
async def publish_on_topic(request: PubsubRequest, node: NodeDep) -> dict[str, Any]:
    if request.topic != node.settings.queue_topic:
        raise HTTPException(403, f"only the message topic {node.settings.queue_topic} is open")
    await submit_message(node, _message_of(request.data))
    return {"status": "success", "failed": []}


def _message_of(data: str) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except ValueError as error:
        raise HTTPException(422, f"data is not JSON: {error}") from error
    if not isinstance(message, dict):
        raise HTTPException(422, "data must be the JSON text of a message object")
    return message
