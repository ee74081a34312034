"""Query latency with a large database: `messages.json` filtered by address and type (page of
20), `posts.json` by address, and one address's aggregates; p50/p95/p99 over sequential calls.

    .venv/bin/python -m bench.query [--messages 500000] [--requests 300] [--database-url URL]

The database is filled directly with rows shaped exactly like processed messages (POSTs with
their `posts` rows, AGGREGATEs with their merged `aggregates`): pushing 500 000 signed messages
through the pipeline would measure ingest, not queries. The node then runs as its own process.
Writes bench/results/query.json. Target: messages.json p95 < 15 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from tests.ccn.node_process import NodeProcess

from alephnet.ccn.db.engine import create_engine
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.models import AggregateRow, MessageRow, MessageStatusRow, PostRow
from bench.report import report

SENDERS = 2000
CHUNK = 10_000


def address(n: int) -> str:
    return "0x" + hashlib.sha256(f"sender-{n}".encode()).hexdigest()[:40]


def message_rows(start: int, count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(start, start + count):
        owner = address(n % SENDERS)
        kind = "POST" if n % 5 < 3 else ("AGGREGATE" if n % 5 == 3 else "STORE")
        content: dict[str, Any] = {"address": owner, "time": 1.7e9 + n, "type": "note"}
        content |= {"content": {"n": n}} if kind != "AGGREGATE" else {"key": "k", "content": {}}
        rows.append(
            {
                "item_hash": hashlib.sha256(f"message-{n}".encode()).hexdigest(),
                "type": kind, "chain": "ETH", "sender": owner, "signature": "0x" + "00" * 65,
                "item_type": "inline", "item_content": json.dumps(content), "content": content,
                "time": 1.7e9 + n, "channel": "BENCH", "size": 100, "owner": owner,
                "content_type": "note" if kind == "POST" else None,
                "content_key": "k" if kind == "AGGREGATE" else None,
                "confirmations": [], "reception_time": 1.7e9 + n,
            }
        )  # fmt: skip
    return rows


def post_rows(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "item_hash": row["item_hash"],
            "owner": row["owner"],
            "type": "note",
            "ref": None,
            "amends": None,
            "channel": "BENCH",
            "content": row["content"]["content"],
            "time": row["time"],
            "latest_amend": None,
            "last_updated": row["time"],
        }
        for row in messages
        if row["type"] == "POST"
    ]


async def fill(database_url: str, count: int) -> None:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with engine.begin() as connection:
        for start in range(0, count, CHUNK):
            rows = message_rows(start, min(CHUNK, count - start))
            await connection.execute(insert(MessageRow), rows)
            await connection.execute(
                insert(MessageStatusRow),
                [
                    {"item_hash": r["item_hash"], "status": "processed", "reception_time": 0.0}
                    for r in rows
                ],
            )
            await connection.execute(insert(PostRow), post_rows(rows))
        await connection.execute(
            insert(AggregateRow),
            [
                {"owner": address(n), "key": "k", "content": {"a": n}, "created": 0.0,
                 "last_updated": 0.0, "first_revision_hash": "0" * 64,
                 "last_revision_hash": "0" * 64}
                for n in range(SENDERS)
            ],
        )  # fmt: skip
    await engine.dispose()


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
    }


async def timed_requests(url: str, paths: list[str]) -> dict[str, float]:
    samples = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for path in paths:
            started = time.perf_counter()
            response = await http.get(path)
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
    return percentiles(samples)


async def run(count: int, requests: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite+aiosqlite:///{folder}/ccn.sqlite3"
        started = time.perf_counter()
        await fill(url, count)
        filled_in = time.perf_counter() - started
        node = NodeProcess(Path(folder) / "ccn", url)
        await node.start()
        try:
            senders = [address(random.randrange(SENDERS)) for _ in range(requests)]
            queries = {
                "messages.json address+type": [
                    f"/api/v0/messages.json?addresses={a}&msgTypes=POST&pagination=20"
                    for a in senders
                ],
                "posts.json address": [f"/api/v0/posts.json?addresses={a}" for a in senders],
                "aggregates/{address}.json": [f"/api/v0/aggregates/{a}.json" for a in senders],
            }
            results = {
                name: await timed_requests(node.url, paths) for name, paths in queries.items()
            }
        finally:
            await node.terminate(timeout=30)
    return {"messages": count, "fill_s": round(filled_in, 1), "latency": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    arguments = parser.parse_args()
    result = asyncio.run(run(arguments.messages, arguments.requests, arguments.database_url))
    report("query", result)


if __name__ == "__main__":
    main()
