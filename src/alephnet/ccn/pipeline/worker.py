"""The processing worker: `python -m alephnet.ccn.pipeline.worker`, started by the node's
`ProcessorProcess` (see `processor_process` for the channel between the two).

It imports its modules first and then waits for its settings, so a node may start it before
importing its own stack. End of file before the settings (a node that failed to start) ends it
quietly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import orjson
import uvloop

from alephnet.ccn.db.engine import create_engine, create_session_factory
from alephnet.ccn.db.write_gate import LOCK_FILE, WriteGate
from alephnet.ccn.handlers.registry import build_handlers
from alephnet.ccn.payments.balances import Unmetered
from alephnet.ccn.peer_http import network_clients
from alephnet.ccn.pipeline.events import ProcessingResult
from alephnet.ccn.pipeline.processor import MessageProcessor, ProcessorSettings
from alephnet.ccn.pipeline.processor_process import pipe_streams
from alephnet.ccn.pipeline.sources import content_sources
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.gc_heap import freeze_startup_objects

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [processing worker]: %(message)s"


class ResultChannel:
    """The worker's side of the results: one line each on the channel to the node. The lines
    of a batch, published together, go in one write (one system call, not one per message)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._lines: list[bytes] = []

    def publish(self, result: ProcessingResult) -> None:
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        document = [result.item_hash, result.status.value, result.message, result.error_code]
        self._lines.append(_encoded_line(document))

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            self._writer.write(b"".join(lines))


def _encoded_line(document: Any) -> bytes:
    """orjson, or the json module for what orjson refuses (integers beyond 64 bits, which a
    message's content may hold); neither writes a raw newline inside a document."""
    try:
        return orjson.dumps(document) + b"\n"
    except TypeError:
        return json.dumps(document).encode() + b"\n"


async def _serve() -> None:
    reader, writer = await _node_channel()
    first_line = await reader.readline()
    if not first_line:
        return
    settings = CcnSettings.model_validate_json(first_line)
    logging.getLogger().setLevel(settings.log_level.upper())
    engine = create_engine(settings.resolved_database_url, sqlite_inline=True)
    store = FileStore(settings.files_dir)
    files, content = content_sources(settings, store, network_clients)
    wake = asyncio.Event()
    gate = WriteGate.for_dialect(engine.dialect.name, settings.data_dir / LOCK_FILE)
    results = ResultChannel(writer)
    processor = MessageProcessor(
        create_session_factory(engine),
        build_handlers(files, settings.grace_period_seconds),
        results,
        content,
        Unmetered(),
        wake,
        gate,
        gate.others_waiting,
        ProcessorSettings.of(settings),
    )
    freeze_startup_objects()
    processor.start()
    try:
        while await reader.readline():
            wake.set()
    finally:
        await processor.stop()
        await engine.dispose()
        results.flush()
        await writer.drain()
        writer.close()


async def _node_channel() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """stdin and stdout as streams. Results get a duplicate of stdout; stdout itself then
    points at stderr, so that nothing printed by chance can corrupt the channel."""
    channel = os.dup(1)
    os.dup2(2, 1)
    return await pipe_streams(sys.stdin.buffer, os.fdopen(channel, "wb", buffering=0))


def main() -> None:
    """uvloop: the worker's loop turns around aiosqlite's thread wake-ups and the node's
    pipes several times per batch, ~4 % of its CPU with asyncio's own loop."""
    logging.basicConfig(format=LOG_FORMAT)
    uvloop.run(_serve())


if __name__ == "__main__":
    main()
