"""Ingest: N distinct pre-signed ETH POSTs sent over HTTP by concurrent clients (sync=false);
time from the first request until all are processed.

    .venv/bin/python bench/ingest.py [--messages 20000] [--clients 32] [--database-url URL]

The node runs as its own process, as an operator runs it. The same run prints the raw
signature-verification rate of one core, so the ingest figure reads as a fraction of the
physical limit. Writes bench/results/ingest.json. Target: >= 3 000 msg/s on 2 cores, SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.ccn.node_process import NodeProcess
from tests.ccn.traffic import Traffic, presigned_posts, unprocessed

from bench.verify import measure as measure_verify

RESULTS = Path(__file__).parent / "results" / "ingest.json"


async def wait_processed(url: str, item_hash: str, timeout: float) -> None:
    """Messages are processed in arrival order, so the last one sent is the last processed."""
    async with httpx.AsyncClient(base_url=url) as http:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = await http.get(f"/api/v0/messages/{item_hash}/status")
            if response.status_code == 200 and response.json()["status"] == "processed":
                return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{item_hash} not processed after {timeout} s")


async def run(count: int, clients: int, database_url: str | None) -> dict[str, Any]:
    messages = presigned_posts(count, senders=50)
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "ccn"
        node = NodeProcess(data_dir, database_url or f"sqlite+aiosqlite:///{folder}/ccn.sqlite3")
        await node.start()
        try:
            traffic = Traffic(node.url, messages)
            started = time.perf_counter()
            await traffic.run(clients)
            accepted_at = time.perf_counter() - started
            await wait_processed(node.url, messages[-1]["item_hash"], timeout=900)
            elapsed = time.perf_counter() - started
            left = await unprocessed(node.url, [m["item_hash"] for m in messages], timeout=60)
        finally:
            await node.terminate(timeout=30)
    return {
        "messages": count,
        "clients": clients,
        "database": "postgresql" if database_url else "sqlite",
        "accepted_in_s": round(accepted_at, 2),
        "all_processed_in_s": round(elapsed, 2),
        "intake_msg_per_s": round(count / accepted_at),
        "end_to_end_msg_per_s": round(count / elapsed),
        "not_processed": len(left),
        "not_acknowledged": count - len(traffic.acknowledged),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database-url", default=None)
    arguments = parser.parse_args()
    verify = measure_verify(2000, 3)["ETH"]
    result = asyncio.run(run(arguments.messages, arguments.clients, arguments.database_url))
    result["raw_eth_verify_per_s_one_core"] = verify["raw_per_s"]
    for key, value in result.items():
        print(f"{key:32} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "ingest", "results": result}, indent=2))


if __name__ == "__main__":
    main()
