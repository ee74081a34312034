"""Cost estimates: `POST /api/v0/price/estimate`.

Until the payments service exists this node charges nothing, so every estimate is zero tokens
for a `hold` payment. The official CLI calls this route before a file upload or a program
deployment and goes on with any answer of this shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

router = APIRouter(tags=["prices"])


@router.post("/api/v0/price/estimate")
async def estimate_price(
    _request: Annotated[dict[str, Any], Body(description="{message: <the message to price>}")],
) -> dict[str, Any]:
    return {"required_tokens": 0, "cost": "0", "payment_type": "hold"}
