"""What each node of a devnet is doing: does it answer, how many messages has it processed.

A node is up when it answers `/api/v0/version`; its counts come from `/metrics.json`
(`alephnet_messages_processed_total` since it started, `alephnet_pending_messages` now).
A compute node (CRN) is up when it answers `/about/executions/list`, which lists the programs
it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from rich.text import Text

from alephnet.devnet.processes import VERSION_PATH, answers

PROBE_TIMEOUT = 1.0
PROCESSED = "alephnet_messages_processed_total"
PENDING = "alephnet_pending_messages"
EXECUTIONS_PATH = "/about/executions/list"


class NamedNode(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...


@dataclass(frozen=True, slots=True)
class NodeStatus:
    name: str
    url: str
    up: bool
    processed: int | None = None
    pending: int | None = None
    programs: int | None = None  # compute nodes only


async def probe_nodes(nodes: Sequence[NamedNode]) -> list[NodeStatus]:
    """Every node probed at once: a node that hangs costs one timeout, not one per node."""
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as client:
        return list(await asyncio.gather(*(_probe(client, node) for node in nodes)))


async def probe_crns(crns: Sequence[NamedNode]) -> list[NodeStatus]:
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as client:
        return list(await asyncio.gather(*(_probe_crn(client, crn) for crn in crns)))


async def _probe_crn(client: httpx.AsyncClient, crn: NamedNode) -> NodeStatus:
    try:
        response = await client.get(crn.url + EXECUTIONS_PATH)
    except httpx.TransportError:
        return NodeStatus(crn.name, crn.url, up=False)
    if response.status_code != 200:
        return NodeStatus(crn.name, crn.url, up=False)
    return NodeStatus(crn.name, crn.url, up=True, programs=len(response.json()))


async def _probe(client: httpx.AsyncClient, node: NamedNode) -> NodeStatus:
    if not await answers(client, node.url + VERSION_PATH):
        return NodeStatus(node.name, node.url, up=False)
    metrics = await _metrics(client, node.url)
    return NodeStatus(
        node.name,
        node.url,
        up=True,
        processed=_count(metrics, PROCESSED),
        pending=_count(metrics, PENDING),
    )


async def _metrics(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """The node's metrics, or nothing when it cannot give them right now (counts unknown)."""
    try:
        response = await client.get(url + "/metrics.json")
    except httpx.TransportError:
        return {}
    return response.json() if response.status_code == 200 else {}


def _count(metrics: dict[str, Any], name: str) -> int | None:
    value = metrics.get(name)
    return int(value) if isinstance(value, int | float) else None


def status_line(statuses: Sequence[NodeStatus]) -> Text:
    """One compact line for the whole devnet, e.g. `ccn-1 up 12 processed 0 pending │ ...`."""
    line = Text()
    for position, status in enumerate(statuses):
        if position:
            line.append(" │ ", style="dim")
        line.append(f"{status.name} ", style="bold")
        if status.up:
            line.append("up", style="green")
            if status.programs is not None:
                line.append(f" {status.programs} VMs")  # programs and instances
            else:
                line.append(
                    f" {_shown(status.processed)} processed {_shown(status.pending)} pending"
                )
        else:
            line.append("down", style="red")
    return line


def _shown(count: int | None) -> str:
    return "?" if count is None else str(count)
