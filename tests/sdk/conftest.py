"""SDK tests against an in-process node (the CCN's own app, through `AlephClient.for_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager

from alephnet.ccn.api.app import create_app
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner
from alephnet.sdk import Account, AlephClient, AuthenticatedAlephClient
from tests.acceptance.conftest import node  # also keeps the official SDK off ~/.aleph-im
from tests.ccn.conftest import NODE_KEY, settings

__all__ = ["node", "settings"]


@pytest.fixture
def account() -> Account:
    return Account(EvmSigner(NODE_KEY))


@pytest.fixture
async def app(settings: CcnSettings) -> AsyncIterator[object]:
    async with LifespanManager(create_app(settings)) as manager:
        yield manager.app


@pytest.fixture
async def reader(app: object) -> AsyncIterator[AlephClient]:
    async with AlephClient.for_app(app) as client:
        yield client


@pytest.fixture
async def writer(app: object, account: Account) -> AsyncIterator[AuthenticatedAlephClient]:
    async with AuthenticatedAlephClient.for_app(app, account=account) as client:
        yield client
