"""An acknowledged message survives a crash: the node answers 200/202 only once the message is
committed, so SIGKILL in the middle of a stream of messages loses none of the acknowledged ones.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.ccn.databases import fresh_database_url
from tests.ccn.node_process import NodeProcess, node_process
from tests.ccn.traffic import Traffic, presigned_posts, unprocessed

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("processing_process")]

MESSAGES = 2000
CLIENTS = 8
KILL_AFTER = 800
TIME_BOUND = 60.0
# Processing what was accepted, after the restart: generous, for a loaded CI machine.
PROCESSING_BOUND = 120.0


async def test_acknowledged_messages_survive_sigkill(tmp_path: Path) -> None:
    async with (
        fresh_database_url(tmp_path) as database_url,
        node_process(tmp_path / "ccn", database_url) as node,
    ):
        await node.start()
        traffic = Traffic(node.url, presigned_posts(MESSAGES))
        await _kill_mid_stream(node, traffic)
        assert traffic.unexpected == []
        assert traffic.unsent > 0, "the node was killed after the stream ended"
        _check_sqlite_integrity(database_url)

        await node.start()
        lost = await unprocessed(node.url, traffic.acknowledged, PROCESSING_BOUND)
        assert lost == {}, f"{len(lost)} acknowledged messages not processed:\n{node.log_tail()}"
        assert await node.terminate(timeout=30) == 0


async def _kill_mid_stream(node: NodeProcess, traffic: Traffic) -> None:
    """SIGKILL the node once KILL_AFTER messages are acknowledged, with clients still sending."""
    sending = asyncio.create_task(traffic.run(CLIENTS))
    try:
        await traffic.wait_for_acknowledgements(KILL_AFTER, TIME_BOUND)
    finally:
        node.kill()
        await sending


def _check_sqlite_integrity(database_url: str) -> None:
    """The crash left a database SQLite itself finds intact (PostgreSQL's server was not the
    one killed: there is nothing of its own to check)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return
    assert url.database is not None
    with sqlite3.connect(url.database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
