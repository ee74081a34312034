"""Node information: version and public addresses."""

from __future__ import annotations

from fastapi import APIRouter

from alephnet import __version__

router = APIRouter(tags=["info"])


@router.get("/api/v0/version")
@router.get("/version")
async def version() -> dict[str, str]:
    return {"version": __version__}


@router.get("/api/v0/info/public.json")
async def public_info() -> dict[str, list[str]]:
    """The node's libp2p addresses: none until the network issue gives nodes a p2p identity."""
    return {"node_multi_addresses": []}
