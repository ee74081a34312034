"""The node's shared objects, created together at start and stopped together at exit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from alephnet.ccn.db.engine import SessionFactory, create_engine, create_session_factory
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.write_gate import WriteGate
from alephnet.ccn.handlers.registry import build_handlers
from alephnet.ccn.payments.balances import BalanceService, Unmetered
from alephnet.ccn.pipeline.content import LocalContent
from alephnet.ccn.pipeline.events import MessageEvents
from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.pipeline.processor import MessageProcessor, ProcessorSettings
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.ccn.storage.gc import GarbageCollector
from alephnet.ccn.storage.sources import LocalFiles

logger = logging.getLogger(__name__)


@dataclass
class Node:
    settings: CcnSettings
    engine: AsyncEngine
    sessions: SessionFactory
    store: FileStore
    events: MessageEvents
    intake: MessageIntake
    processor: MessageProcessor
    balances: BalanceService
    collector: GarbageCollector
    gate: WriteGate


@asynccontextmanager
async def running_node(settings: CcnSettings) -> AsyncIterator[Node]:
    """Migrate the database, start intake and processing; on exit, finish in-flight work."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    await upgrade_to_head(engine)
    sessions = create_session_factory(engine)
    store = FileStore(settings.files_dir)
    events = MessageEvents()
    gate = WriteGate.for_dialect(engine.dialect.name)
    intake = MessageIntake(sessions, gate, settings.commit_interval)
    balances = Unmetered()
    processor = MessageProcessor(
        sessions,
        build_handlers(LocalFiles(store), settings.grace_period_seconds),
        events,
        LocalContent(store),
        balances,
        intake.queued,
        gate,
        intake.has_waiting,
        ProcessorSettings(
            batch_size=settings.processing_batch,
            max_retries=settings.max_retries,
            retry_cap_seconds=settings.retry_cap_seconds,
        ),
    )
    intake.start()
    processor.start()
    collector = GarbageCollector(sessions, store, settings.gc_interval_seconds, gate=gate)
    collector.start()
    logger.info("node started: data in %s", settings.data_dir.resolve())
    try:
        yield Node(
            settings, engine, sessions, store, events, intake, processor, balances, collector, gate
        )
    finally:
        await intake.stop()
        await processor.stop()
        await collector.stop()
        await engine.dispose()
        logger.info("node stopped")
