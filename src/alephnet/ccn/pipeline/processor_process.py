"""Message processing in a process of its own, so that it runs on a core of its own: the node's
side.

In one process, one event loop serves the HTTP API, commits the intake and processes
messages: processing (signature recovery, handlers, the ORM) and the API then take turns on
one core however many the machine has. With `processing_process` the node starts a worker
(`python -m alephnet.ccn.pipeline.worker`) running the same `MessageProcessor` on the same
database. What the two share is on disk: the pending queue and, with SQLite, the write gate's
lock file. They talk over the worker's stdin and stdout, a JSON document a line:

    node -> worker   the settings (first line), then an empty line whenever the intake has
                     queued messages (a wake-up); end of file asks the worker to stop
    worker -> node   one line per processed or rejected message:
                     [item_hash, status, API dict of the message or null, error_code or null]

The worker imports what it needs before it reads its settings, so the node can start it
before importing its own stack (`spawn_worker`, from the CLI): the two import side by side,
and the worker is ready when the node's migrations are done. The settings line follows once
the node is ready to relay results.

The node publishes each result to its `MessageEvents` (sync answers, WebSockets) and counts
them for the metrics. A worker that dies is started again after a pause: the messages it held
are still pending on disk. A node killed outright closes the worker's stdin, so the worker
stops as well; it runs in a session of its own, so a Ctrl-C meant for the node reaches only
the node, which then stops it in order.

This module imports nothing heavy: the CLI imports it before the node's stack.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from typing import IO

import orjson

from alephnet.ccn.pipeline.events import MessageEvents, ProcessingResult
from alephnet.ccn.settings import CcnSettings
from alephnet.protocol.enums import MessageStatus

logger = logging.getLogger(__name__)

WORKER_MODULE = "alephnet.ccn.pipeline.worker"
LINE_LIMIT = 256 << 20
"""A result line holds the whole message (inline content up to 200 000 characters, stored
content up to the file size limits): far above asyncio's 64 KiB default."""
RESTART_PAUSE = 1.0
STOP_TIMEOUT = 30.0

Worker = subprocess.Popen[bytes]


def spawn_worker() -> Worker:
    """A worker importing its modules, waiting for its settings on stdin."""
    return subprocess.Popen(
        [sys.executable, "-m", WORKER_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )


async def pipe_streams(
    incoming: IO[bytes], outgoing: IO[bytes]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over the two ends of a line channel, with room for the longest line."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), incoming)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, outgoing)
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


class ProcessorProcess:
    """The node's side: starts the worker (or takes one spawned early), wakes it, relays its
    results, stops it.

    Offers what the node reads from an in-process `MessageProcessor`: start, stop and the
    processed and rejected counts."""

    def __init__(
        self,
        settings: CcnSettings,
        events: MessageEvents,
        wake: asyncio.Event,
        spawned: Worker | None = None,
    ) -> None:
        self._settings = settings
        self._events = events
        self._wake = wake
        self._spawned = spawned
        self._process: Worker | None = None
        self._commands: asyncio.StreamWriter | None = None
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
        self._close_commands()
        if self._supervisor is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._supervisor), STOP_TIMEOUT)
        except TimeoutError:
            logger.error("the processing worker did not stop in %.0f s: killed", STOP_TIMEOUT)
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._supervisor = None

    async def _supervise(self) -> None:
        while not self._stopping:
            process = self._spawned or spawn_worker()
            self._spawned = None
            results, commands = await self._attach(process)
            waking = asyncio.create_task(self._relay_wakes(commands))
            try:
                await self._relay_results(results)
            except Exception:
                logger.exception("unreadable results from the processing worker: killing it")
                process.kill()
            try:
                code = await asyncio.to_thread(process.wait)
            finally:
                waking.cancel()
                await asyncio.gather(waking, return_exceptions=True)
                commands.close()
            if not self._stopping:
                logger.error(
                    "the processing worker exited (status %s); restarting it in %.0f s",
                    code,
                    RESTART_PAUSE,
                )
                await asyncio.sleep(RESTART_PAUSE)

    async def _attach(self, process: Worker) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The worker's result stream and command stream, its settings sent."""
        assert process.stdout is not None
        assert process.stdin is not None
        results, commands = await pipe_streams(process.stdout, process.stdin)
        self._process, self._commands = process, commands
        commands.write(self._settings.model_dump_json().encode() + b"\n")
        if self._stopping:
            self._close_commands()
        return results, commands

    def _close_commands(self) -> None:
        if self._commands is not None:
            self._commands.close()

    async def _relay_wakes(self, commands: asyncio.StreamWriter) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if commands.is_closing():
                return
            commands.write(b"\n")
            try:
                await commands.drain()
            except ConnectionError:
                return  # the worker is gone: the supervisor sees it too

    async def _relay_results(self, results: asyncio.StreamReader) -> None:
        async for line in results:
            item_hash, status, message, error_code = orjson.loads(line)
            result = ProcessingResult(item_hash, MessageStatus(status), message, error_code)
            if result.status == MessageStatus.PROCESSED:
                self.processed_total += 1
            elif result.status == MessageStatus.REJECTED:
                self.rejected_total += 1
            self._events.publish(result)
