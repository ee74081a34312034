"""The balance check the pipeline calls for every message: one method, so the payments issue
can swap in a real cost model and balance sources without touching the pipeline."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.pipeline.incoming import IncomingMessage


class BalanceService(Protocol):
    async def check(self, session: AsyncSession, incoming: IncomingMessage[Any]) -> None:
        """Raise `BalanceInsufficient` when the owner cannot pay for the message."""


class Unmetered:
    """Every address is funded: the default until balances are indexed."""

    async def check(self, session: AsyncSession, incoming: IncomingMessage[Any]) -> None:
        return None
