"""The node's shared objects, created together at start and stopped together at exit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from alephnet.ccn.db.engine import SessionFactory, create_engine, create_session_factory
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.write_gate import LOCK_FILE, WriteGate
from alephnet.ccn.handlers.registry import build_handlers
from alephnet.ccn.payments.balances import BalanceService, Unmetered
from alephnet.ccn.peer_http import ClientFactory, network_clients
from alephnet.ccn.pipeline.events import MessageEvents
from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.pipeline.processor import MessageProcessor, ProcessorSettings
from alephnet.ccn.pipeline.processor_process import ProcessorProcess, Worker
from alephnet.ccn.pipeline.sources import content_sources
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.ccn.storage.gc import GarbageCollector
from alephnet.ccn.sync.reconcile import Reconciler
from alephnet.ccn.sync.service import SyncService

if TYPE_CHECKING:
    from alephnet.ccn.p2p.service import GossipService

logger = logging.getLogger(__name__)


@dataclass
class Node:
    settings: CcnSettings
    engine: AsyncEngine
    sessions: SessionFactory
    store: FileStore
    events: MessageEvents
    intake: MessageIntake
    processor: MessageProcessor | ProcessorProcess
    balances: BalanceService
    collector: GarbageCollector
    gate: WriteGate
    sync: SyncService | None = None
    gossip: GossipService | None = None


@asynccontextmanager
async def running_node(
    settings: CcnSettings,
    clients: ClientFactory = network_clients,
    worker: Worker | None = None,
) -> AsyncIterator[Node]:
    """Migrate the database, start intake and processing (sync when `settings.peers` are set,
    reaching them through `clients`; gossip when `settings.p2p`); on exit, finish in-flight
    work. With `processing_process`, `worker` is a processing worker already started (see
    `spawn_worker`); the node starts one otherwise."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    await upgrade_to_head(engine)
    sessions = create_session_factory(engine)
    store = FileStore(settings.files_dir)
    events = MessageEvents()
    gate = WriteGate.for_dialect(
        engine.dialect.name, settings.data_dir / LOCK_FILE if settings.processing_process else None
    )
    intake = MessageIntake(sessions, gate, settings.commit_interval)
    balances = Unmetered()
    processor: MessageProcessor | ProcessorProcess
    if settings.processing_process:
        processor = ProcessorProcess(settings, events, intake.queued, worker)
    else:
        files, content = content_sources(settings, store, clients)
        processor = MessageProcessor(
            sessions,
            build_handlers(files, settings.grace_period_seconds),
            events,
            content,
            balances,
            intake.queued,
            gate,
            intake.has_waiting,
            ProcessorSettings.of(settings),
        )
    intake.start()
    processor.start()
    collector = GarbageCollector(sessions, store, settings.gc_interval_seconds, gate=gate)
    collector.start()
    sync = _sync_service(settings, sessions, intake, clients)
    gossip = await _gossip_service(settings, intake, sync)
    logger.info("node started: data in %s", settings.data_dir.resolve())
    try:
        yield Node(
            settings,
            engine,
            sessions,
            store,
            events,
            intake,
            processor,
            balances,
            collector,
            gate,
            sync,
            gossip,
        )
    finally:
        if gossip is not None:
            await gossip.stop()
        if sync is not None:
            await sync.stop()
        await intake.stop()
        await processor.stop()
        await collector.stop()
        await engine.dispose()
        logger.info("node stopped")


def _sync_service(
    settings: CcnSettings, sessions: SessionFactory, intake: MessageIntake, clients: ClientFactory
) -> SyncService | None:
    if not settings.peers and not settings.p2p:
        return None
    service = SyncService(
        Reconciler(sessions, intake, clients),
        settings.peers,
        settings.sync_interval,
        settings.sync_first_round_delay,
    )
    service.start()
    return service


async def _gossip_service(
    settings: CcnSettings, intake: MessageIntake, sync: SyncService | None
) -> GossipService | None:
    if not settings.p2p:
        return None
    # Imported here: py-libp2p and trio take 0.1-0.17 s to import, which a node without gossip
    # (most test nodes, a node catching up by sync alone) need not wait for.
    from alephnet.ccn.p2p.service import GossipService, GossipSettings, create_gossip

    gossip = create_gossip(
        settings.data_dir, settings.host, settings.p2p_port, settings.bootstrap_peers
    )
    service = GossipService(
        gossip,
        intake,
        sync,
        GossipSettings(settings.queue_topic, settings.api_url, settings.announce_interval),
    )
    await service.start()
    return service
