"""The open-once, close-once life of a client that owns a transport (CCN and CRN clients)."""

from __future__ import annotations

from enum import Enum
from types import TracebackType
from typing import Self

from alephnet.sdk.transport import Transport


class ClientState(Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class TransportOwner:
    """Opened by `async with` (once), closes its transport on the way out."""

    transport: Transport

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.state = ClientState.UNOPENED

    async def __aenter__(self) -> Self:
        if self.state is not ClientState.UNOPENED:
            raise RuntimeError(f"a client is opened once; this one is {self.state.name.lower()}")
        self.state = ClientState.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self.state is not ClientState.CLOSED:
            self.state = ClientState.CLOSED
            await self.transport.aclose()
