"""Message processing in a process of its own, so that it runs on a core of its own.

In one process, one event loop serves the HTTP API, commits the intake and processes
messages: processing (signature recovery, handlers, the ORM) and the API then take turns on
one core however many the machine has. With `processing_process` the node starts this module
as a child (`python -m alephnet.ccn.pipeline.worker`) running the same `MessageProcessor` on
the same database. What the two share is on disk: the pending queue and, with SQLite, the
write gate's lock file. They talk over the worker's stdin and stdout, a JSON document a line:

    node -> worker   the settings (first line), then an empty line whenever the intake has
                     queued messages (a wake-up); end of file asks the worker to stop
    worker -> node   one line per processed or rejected message:
                     [item_hash, status, API dict of the message or null, error_code or null]

The node publishes each result to its `MessageEvents` (sync answers, WebSockets) and counts
them for the metrics. A worker that dies is started again after a pause: the messages it held
are still pending on disk. A node killed outright closes the worker's stdin, so the worker
stops as well; it runs in a session of its own, so a Ctrl-C meant for the node reaches only
the node, which then stops it in order.
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
from alephnet.ccn.pipeline.events import MessageEvents, ProcessingResult
from alephnet.ccn.pipeline.processor import MessageProcessor, ProcessorSettings
from alephnet.ccn.pipeline.sources import content_sources
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.protocol.enums import MessageStatus

logger = logging.getLogger(__name__)

LINE_LIMIT = 256 << 20
"""A result line holds the whole message (inline content up to 200 000 characters, stored
content up to the file size limits): far above asyncio's 64 KiB default."""
RESTART_PAUSE = 1.0
STOP_TIMEOUT = 30.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [processing worker]: %(message)s"


class ProcessorProcess:
    """The node's side: starts the worker, wakes it, relays its results, stops it.

    Offers what the node reads from an in-process `MessageProcessor`: start, stop and the
    processed and rejected counts."""

    def __init__(self, settings: CcnSettings, events: MessageEvents, wake: asyncio.Event) -> None:
        self._settings = settings
        self._events = events
        self._wake = wake
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self.processed_total = 0
        self.rejected_total = 0

    def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="processing-worker")

    async def stop(self) -> None:
        """Ask the worker to stop (a batch in progress is committed or rolled back whole) and
        relay its last results; kill it if it does not exit in time."""
        self._stopping = True
        self._close_stdin()
        if self._supervisor is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._supervisor), STOP_TIMEOUT)
        except TimeoutError:
            logger.error("the processing worker did not stop in %.0f s: killed", STOP_TIMEOUT)
            if self._process is not None and self._process.returncode is None:
                self._process.kill()
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._supervisor = None

    async def _supervise(self) -> None:
        while not self._stopping:
            process = await self._spawn()
            waking = asyncio.create_task(self._relay_wakes(process))
            try:
                await self._relay_results(process)
            except Exception:
                logger.exception("unreadable results from the processing worker: killing it")
                process.kill()
            try:
                code = await process.wait()
            finally:
                waking.cancel()
                await asyncio.gather(waking, return_exceptions=True)
            if not self._stopping:
                logger.error(
                    "the processing worker exited (status %s); restarting it in %.0f s",
                    code,
                    RESTART_PAUSE,
                )
                await asyncio.sleep(RESTART_PAUSE)

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
        self._process = process
        assert process.stdin is not None
        process.stdin.write(self._settings.model_dump_json().encode() + b"\n")
        if self._stopping:
            self._close_stdin()
        return process

    def _close_stdin(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()

    async def _relay_wakes(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if process.stdin.is_closing():
                return
            process.stdin.write(b"\n")
            try:
                await process.stdin.drain()
            except ConnectionError:
                return  # the worker is gone: the supervisor sees it too

    async def _relay_results(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            item_hash, status, message, error_code = orjson.loads(line)
            result = ProcessingResult(item_hash, MessageStatus(status), message, error_code)
            if result.status == MessageStatus.PROCESSED:
                self.processed_total += 1
            elif result.status == MessageStatus.REJECTED:
                self.rejected_total += 1
            self._events.publish(result)


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
    settings = CcnSettings.model_validate_json(await reader.readline())
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
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    channel = os.dup(1)
    os.dup2(2, 1)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(channel, "wb", buffering=0)
    )
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


def main() -> None:
    """uvloop: the worker's loop turns around aiosqlite's thread wake-ups and the node's
    pipes several times per batch, ~4 % of its CPU with asyncio's own loop."""
    logging.basicConfig(format=LOG_FORMAT)
    uvloop.run(_serve())


if __name__ == "__main__":
    main()
