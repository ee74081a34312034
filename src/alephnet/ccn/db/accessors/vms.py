"""The `vms` table: PROGRAM and INSTANCE messages, originals and the versions replacing them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Text, cast, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import VmRow


async def get_vm(session: AsyncSession, item_hash: str) -> VmRow | None:
    return await session.get(VmRow, item_hash)


async def newest_replacement(session: AsyncSession, original_hash: str) -> VmRow | None:
    result = await session.execute(
        select(VmRow)
        .where(VmRow.replaces == original_hash)
        .order_by(VmRow.time.desc(), VmRow.item_hash.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def delete_vm_and_replacements(session: AsyncSession, item_hash: str) -> None:
    """Replacements are versions of their original: they go when it goes."""
    await session.execute(
        delete(VmRow).where(or_(VmRow.item_hash == item_hash, VmRow.replaces == item_hash))
    )


async def vms_mentioning(session: AsyncSession, text: str) -> Sequence[VmRow]:
    """VMs whose content holds `text` anywhere: a portable pre-filter (the JSON read as text)
    for a rare question such as "does a VM use this STORE?"; the caller checks where it is."""
    result = await session.execute(
        select(VmRow).where(cast(VmRow.content, Text).contains(text, autoescape=True))
    )
    return result.scalars().all()
