"""SIGTERM stops a node cleanly: it stops accepting connections, answers the requests already in
flight, commits what it acknowledged, and exits 0 within 30 s."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ccn.databases import fresh_database_url
from tests.ccn.node_process import node_process
from tests.ccn.traffic import Traffic, presigned_posts, unprocessed

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("processing_process")]

MESSAGES = 2000
CLIENTS = 8
STOP_AFTER = 500
STOP_TIMEOUT = 30.0
TIME_BOUND = 60.0
# Processing what was accepted, after the restart: generous, for a loaded CI machine.
PROCESSING_BOUND = 120.0


class HeldRequest:
    """A POST whose body goes out in two parts, the second only once `release`d: a request
    that is surely in flight when the node is told to stop."""

    def __init__(self, url: str, message: dict[str, Any]) -> None:
        self.url = url
        self.started = asyncio.Event()
        self._released = asyncio.Event()
        body = json.dumps({"message": message, "sync": False}).encode()
        self._parts = body[: len(body) // 2], body[len(body) // 2 :]

    def release(self) -> None:
        self._released.set()

    async def send(self) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=TIME_BOUND) as client:
            return await client.post(
                "/api/v0/messages",
                content=self._body(),
                headers={"content-type": "application/json"},
            )

    async def _body(self) -> AsyncIterator[bytes]:
        yield self._parts[0]
        self.started.set()
        await self._released.wait()
        yield self._parts[1]


async def test_sigterm_answers_requests_in_flight_and_exits_0(tmp_path: Path) -> None:
    held_message, *messages = presigned_posts(MESSAGES + 1)
    async with (
        fresh_database_url(tmp_path) as database_url,
        node_process(tmp_path / "ccn", database_url) as node,
    ):
        await node.start()
        traffic = Traffic(node.url, messages)
        sending = asyncio.create_task(traffic.run(CLIENTS))
        held = HeldRequest(node.url, held_message)
        held_response = asyncio.create_task(held.send())
        await asyncio.wait_for(held.started.wait(), TIME_BOUND)
        await traffic.wait_for_acknowledgements(STOP_AFTER, TIME_BOUND)

        stopped_at = time.monotonic()
        node.send_signal(signal.SIGTERM)
        await node.wait_until_refusing(STOP_TIMEOUT)
        held.release()
        assert (await held_response).status_code == 202
        await sending
        exit_status = await node.wait(STOP_TIMEOUT - (time.monotonic() - stopped_at))
        assert exit_status == 0, f"exit status {exit_status}:\n{node.log_tail()}"
        assert traffic.unexpected == []
        assert traffic.unsent > 0, "the node was stopped after the stream ended"

        await node.start()
        accepted = [held_message["item_hash"], *traffic.acknowledged]
        lost = await unprocessed(node.url, accepted, PROCESSING_BOUND)
        assert lost == {}, f"{len(lost)} accepted messages not processed:\n{node.log_tail()}"
        assert await node.terminate(STOP_TIMEOUT) == 0
