"""A CRN app in this process, with the test-double executor and a fake CCN."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.api.app import create_app
from alephnet.crn.supervisor.executors import ExecutorSetup
from alephnet.crn.supervisor.node import CrnNode
from tests.crn.supervisor_doubles import FakeCcn, FakeExecutor


@dataclass
class CrnApp:
    client: httpx.AsyncClient
    executor: FakeExecutor
    ccn: FakeCcn
    node: CrnNode
    # The app with its lifespan's state (for clients of its own, e.g. the SDK's `CrnClient`).
    app: Any


@asynccontextmanager
async def crn_app(
    tmp_path: Path,
    *,
    executor: FakeExecutor | None = None,
    ccn: FakeCcn | None = None,
    **settings: Any,
) -> AsyncIterator[CrnApp]:
    """`executor`: `FakeVmExecutor()` for a node that boots instances; `ccn`: one kept across
    apps (a CRN that starts again on the same data dir). The node follows the fake CCN's
    message feed (on loopback; HTTP goes through its transport, in process)."""
    executor = executor if executor is not None else FakeExecutor()
    ccn = ccn if ccn is not None else FakeCcn()
    runtime = tmp_path / "runtime.json"
    runtime.write_text("{}")
    setup = ExecutorSetup(executor, lambda: runtime, needs_runtime=False)
    async with ccn.feed.serving() as ccn_url:
        crn_settings = CrnSettings(
            data_dir=tmp_path / "crn", domain="crn.test", ccn_url=ccn_url, **settings
        )
        app = create_app(crn_settings, setup=setup, ccn_transport=ccn.transport())
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://crn.test"
            ) as client,
        ):
            node: CrnNode = manager._state["node"]
            yield CrnApp(client, executor, ccn, node, manager.app)
