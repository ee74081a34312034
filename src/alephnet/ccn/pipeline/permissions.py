"""Who may write for an address: the address itself, or a delegate listed in its `security`
aggregate, within the filters of that authorization (chains, channels, types, post types,
aggregate keys). An absent or empty filter allows everything."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.aggregates import get_aggregate_content
from alephnet.protocol.errors import PermissionDenied

SECURITY_KEY = "security"


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """What is being written, on whose behalf: the facts an authorization is checked against."""

    sender: str
    owner: str
    chain: str
    channel: str | None
    message_type: str
    post_type: str | None = None
    aggregate_key: str | None = None


def same_address(first: str, second: str) -> bool:
    """EVM addresses are case-insensitive (the case is only a checksum)."""
    return first.lower() == second.lower()


async def check_write_permission(session: AsyncSession, intent: WriteIntent) -> None:
    if same_address(intent.sender, intent.owner):
        return
    security = await get_aggregate_content(session, intent.owner, SECURITY_KEY)
    authorizations = (security or {}).get("authorizations") or []
    if not any(_authorizes(entry, intent) for entry in _dicts(authorizations)):
        raise PermissionDenied(
            f"{intent.sender} may not write {intent.message_type} for {intent.owner}: "
            f"no matching authorization in the owner's '{SECURITY_KEY}' aggregate"
        )


def _authorizes(entry: dict[str, Any], intent: WriteIntent) -> bool:
    address = entry.get("address")
    if not isinstance(address, str) or not same_address(address, intent.sender):
        return False
    return (
        _allows(entry.get("chain"), intent.chain)
        and _allows(entry.get("channels"), intent.channel)
        and _allows(entry.get("types"), intent.message_type)
        and (intent.post_type is None or _allows(entry.get("post_types"), intent.post_type))
        and (
            intent.aggregate_key is None
            or _allows(entry.get("aggregate_keys"), intent.aggregate_key)
        )
    )


def _allows(allowed: Any, value: str | None) -> bool:
    if not allowed:
        return True
    if isinstance(allowed, str):
        return allowed == value
    return isinstance(allowed, list) and value in allowed


def _dicts(items: Any) -> Iterable[dict[str, Any]]:
    return (item for item in items if isinstance(item, dict)) if isinstance(items, list) else ()
