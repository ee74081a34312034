"""Everything one CRN runs, built and torn down together (the API's lifespan holds it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.executors import ExecutorSetup
from alephnet.crn.supervisor.instance_spec import InstancePreparer
from alephnet.crn.supervisor.instances import InstanceManager
from alephnet.crn.supervisor.metrics import CrnMetrics
from alephnet.crn.supervisor.node_key import load_or_create_node_key
from alephnet.crn.supervisor.pool import ExecutionPool
from alephnet.crn.supervisor.program_spec import ProgramPreparer
from alephnet.crn.supervisor.reactor import FOLLOWED_TYPES, MessageReactor
from alephnet.crn.supervisor.runtime import RuntimePublisher
from alephnet.crn.supervisor.self_check import SelfCheck
from alephnet.protocol.crn_auth import AllocationReplayGuard
from alephnet.sdk.accounts import Account
from alephnet.sdk.authenticated import AuthenticatedAlephClient
from alephnet.sdk.transport import HttpxTransport

logger = logging.getLogger(__name__)


@dataclass
class CrnNode:
    settings: CrnSettings
    account: Account
    source: CcnSource
    pool: ExecutionPool
    instances: InstanceManager
    metrics: CrnMetrics
    runtime: RuntimePublisher
    self_check: SelfCheck
    replay_guard: AllocationReplayGuard
    login_token: str


@asynccontextmanager
async def running_node(
    settings: CrnSettings,
    setup: ExecutorSetup,
    ccn_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[CrnNode]:
    """`ccn_transport` reaches the CCN (tests pass an in-process one; default: the network)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Work folders of executions a killed CRN could not clear up: nothing runs in them now.
    shutil.rmtree(settings.executions_dir, ignore_errors=True)
    account = load_or_create_node_key(settings.data_dir)
    timeout = httpx.Timeout(settings.download_timeout, connect=10.0)
    metrics = CrnMetrics()
    async with (
        httpx.AsyncClient(
            base_url=settings.ccn_url, timeout=timeout, transport=ccn_transport
        ) as http,
        AuthenticatedAlephClient(
            account,
            api_url=settings.ccn_url,
            transport=HttpxTransport(settings.ccn_url, transport=ccn_transport),
        ) as publisher,
    ):
        source = CcnSource(http, settings.cache_dir)
        preparer = ProgramPreparer(source, settings, setup.needs_runtime)
        pool = ExecutionPool(
            setup.executor, preparer.prepare, settings, metrics, message_status=source.status
        )
        instances = InstanceManager(
            setup.executor,
            InstancePreparer(source, settings).prepare,
            source,
            pool,
            settings,
            metrics,
        )
        pool.resume_allocations()
        instances.resume()
        reactor = MessageReactor(
            lambda: publisher.watch_messages(message_types=FOLLOWED_TYPES),
            source,
            pool,
            instances,
            settings.volumes_dir,
        )
        runtime = RuntimePublisher(publisher, settings.data_dir / "runtime.json")
        node = CrnNode(
            settings=settings,
            account=account,
            source=source,
            pool=pool,
            instances=instances,
            metrics=metrics,
            runtime=runtime,
            self_check=SelfCheck(
                publisher, runtime, settings.data_dir / "self-check.json", front_url(settings)
            ),
            replay_guard=AllocationReplayGuard(),
            login_token=_login_token(settings),
        )
        logger.info("CRN node address %s, executor %s", account.address, settings.executor)
        background: list[asyncio.Future[object]] = [
            asyncio.ensure_future(runtime.publish_until_done(setup.runtime_file())),
            asyncio.ensure_future(instances.check_forgotten()),
            asyncio.ensure_future(reactor.run()),
        ]
        if setup.prestart is not None:
            background.append(asyncio.ensure_future(setup.prestart()))
        try:
            yield node
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.gather(instances.close(), pool.close())
            if setup.close is not None:
                await setup.close()


def front_url(settings: CrnSettings) -> str:
    """Where the node reaches its own HTTP front (a wildcard address is reached on loopback)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _login_token(settings: CrnSettings) -> str:
    """The reference's `/about/login` token: random, kept in the data dir, logged at start."""
    path = settings.data_dir / "login_token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    token = path.read_text().strip()
    logger.info("login token (for /about/login?token=...): %s", token)
    return token
