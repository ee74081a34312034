"""The `messages` table (processed messages), rejected and forgotten messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import ForgottenMessageRow, MessageRow, RejectedMessageRow


async def get_message(session: AsyncSession, item_hash: str) -> MessageRow | None:
    return await session.get(MessageRow, item_hash)


async def get_rejected(session: AsyncSession, item_hash: str) -> RejectedMessageRow | None:
    return await session.get(RejectedMessageRow, item_hash)


async def get_forgotten(session: AsyncSession, item_hash: str) -> ForgottenMessageRow | None:
    return await session.get(ForgottenMessageRow, item_hash)


async def record_rejection(
    session: AsyncSession,
    item_hash: str,
    message: dict[str, Any],
    error_code: int,
    details: Any,
    reason: str,
) -> None:
    """Keep the latest rejection of a hash (a rejected hash may be sent again, fixed or not)."""
    await session.merge(
        RejectedMessageRow(
            item_hash=item_hash,
            message=message,
            error_code=error_code,
            details=details,
            reason=reason,
        )
    )


async def clear_rejection(session: AsyncSession, item_hash: str) -> None:
    await session.execute(
        delete(RejectedMessageRow).where(RejectedMessageRow.item_hash == item_hash)
    )
