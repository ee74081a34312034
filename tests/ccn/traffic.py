"""Load for a node process: many distinct signed messages, sent by concurrent clients, and the
bookkeeping of what the node acknowledged, so that a test can hold the node to its promise."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from alephnet.protocol import EvmSigner, MessageType, build_message

ACKNOWLEDGED = (200, 202)
POLL_LIMITS = httpx.Limits(max_connections=16)
POLL_WINDOW = 100


def presigned_posts(count: int, senders: int = 8) -> list[dict[str, Any]]:
    """`count` POSTs with distinct contents (so distinct hashes), signed before any is sent so
    that signing does not slow the clients down."""
    signers = [EvmSigner(bytes([n + 1]) * 32) for n in range(senders)]
    now = time.time()
    messages = []
    for n in range(count):
        signer = signers[n % senders]
        content = {"address": signer.address, "time": now, "content": {"n": n}, "type": "load"}
        messages.append(build_message(signer, MessageType.POST, content, channel="TEST").message)
    return messages


class Traffic:
    """Clients that post `messages` (sync=false) until the queue is empty or the node is gone.

    A request that fails at the transport level (connection refused or reset: the node was
    killed or is stopping) ends its client: the message is not acknowledged, which is allowed.
    Any other answer than 200/202 is recorded in `unexpected`: the node must never fail a
    well-formed message, even while it stops."""

    def __init__(self, url: str, messages: list[dict[str, Any]]) -> None:
        self.url = url
        self.acknowledged: list[str] = []
        self.unexpected: list[str] = []
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for message in messages:
            self._queue.put_nowait(message)

    @property
    def unsent(self) -> int:
        return self._queue.qsize()

    async def run(self, clients: int) -> None:
        await asyncio.gather(*(self._client() for _ in range(clients)))

    async def wait_for_acknowledgements(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} acknowledged"
            await asyncio.sleep(0.005)

    async def _client(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30.0) as client:
            while not self._queue.empty():
                message = self._queue.get_nowait()
                try:
                    response = await client.post(
                        "/api/v0/messages", json={"message": message, "sync": False}
                    )
                except httpx.TransportError:
                    return
                if response.status_code in ACKNOWLEDGED:
                    self.acknowledged.append(message["item_hash"])
                else:
                    self.unexpected.append(f"{response.status_code} {response.text[:200]}")


async def unprocessed(url: str, item_hashes: list[str], timeout: float) -> dict[str, str]:
    """Poll until every hash is processed; what is left at `timeout`, with its last status.

    The node processes messages roughly in arrival order, so the hashes are checked a window
    at a time, in the order given, and a window is asked again only for what is still pending:
    most hashes are asked about once, not once per round."""
    deadline = time.monotonic() + timeout
    left: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=url, timeout=httpx.Timeout(10.0, pool=None), limits=POLL_LIMITS
    ) as client:
        for start in range(0, len(item_hashes), POLL_WINDOW):
            window = item_hashes[start : start + POLL_WINDOW]
            left |= await _wait_processed(client, window, deadline)
    return left


async def _wait_processed(
    client: httpx.AsyncClient, item_hashes: list[str], deadline: float
) -> dict[str, str]:
    remaining = dict.fromkeys(item_hashes, "not asked before the deadline")
    while remaining and time.monotonic() < deadline:
        statuses = await asyncio.gather(*(_status(client, item_hash) for item_hash in remaining))
        remaining = {
            item_hash: status
            for item_hash, status in zip(remaining, statuses, strict=True)
            if status != "processed"
        }
        if remaining:
            await asyncio.sleep(0.2)
    return remaining


async def _status(client: httpx.AsyncClient, item_hash: str) -> str:
    response = await client.get(f"/api/v0/messages/{item_hash}/status")
    if response.status_code == 404:
        return "unknown to the node"
    response.raise_for_status()
    status: str = response.json()["status"]
    return status
