"""A CCN app per test, on a fresh data dir, driven in-process through httpx.

`ALEPHNET_TEST_DATABASE_URL` switches the database (the PostgreSQL leg of the suite sets it to
a server that `./run test` starts); each test then gets its own schema-fresh database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from alephnet.ccn.api.app import create_app
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol import EvmSigner, MessageType, build_message
from tests.ccn.databases import fresh_database_url

NODE_KEY = bytes(range(1, 33))
PROCESSING_PROCESS_VARIABLE = "ALEPHNET_CCN_PROCESSING_PROCESS"


@pytest.fixture(params=[False, True], ids=["in-process", "worker"])
def processing_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways a node process may process messages (`processing_process`), for the tests
    that start node processes: those inherit the environment."""
    enabled: bool = request.param
    monkeypatch.setenv(PROCESSING_PROCESS_VARIABLE, str(enabled).lower())
    return enabled


@pytest.fixture
async def settings(tmp_path: Path) -> AsyncIterator[CcnSettings]:
    async with fresh_database_url(tmp_path) as database_url:
        yield CcnSettings(data_dir=tmp_path / "ccn", database_url=database_url, sync_timeout=10)


@pytest.fixture
async def client(settings: CcnSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://ccn.test"
        ) as http,
    ):
        yield http


@pytest.fixture
def signer() -> EvmSigner:
    return EvmSigner(NODE_KEY)


def post_message(
    signer: EvmSigner, content: Any = None, post_type: str = "note", **fields: Any
) -> dict[str, Any]:
    body = {
        "address": signer.address,
        "time": fields.pop("time", time.time()),
        "content": content if content is not None else {"text": "hello"},
        "type": post_type,
        **fields,
    }
    return build_message(signer, MessageType.POST, body, channel="TEST").message


async def publish(
    client: httpx.AsyncClient, message: dict[str, Any], sync: bool = True
) -> httpx.Response:
    return await client.post("/api/v0/messages", json={"message": message, "sync": sync})


async def wait_for_status(
    client: httpx.AsyncClient, item_hash: str, status: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll until the message reaches `status`; fail with the last answer otherwise."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/api/v0/messages/{item_hash}")
        if response.status_code == 200:
            body = response.json()
            if body["status"] == status:
                return body
        await asyncio.sleep(0.05)
    pytest.fail(f"{item_hash} did not reach {status}: last answer {body}")
