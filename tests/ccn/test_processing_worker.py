"""Processing in a worker process (`processing_process`): results reach the node's answers and
metrics, a worker that dies is replaced, and the write gate shared across processes lets the
node's commits pass between the worker's batches."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from alephnet.ccn.db.write_gate import WriteGate
from alephnet.ccn.pipeline.processor_process import spawn_worker
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import PROCESSING_PROCESS_VARIABLE, post_message, publish
from tests.ccn.databases import fresh_database_url
from tests.ccn.node_process import NodeProcess, free_port, node_process

RESTART_BOUND = 20.0
MANY_OBJECTS = 50_000
"""Fewer than a started node or worker holds."""
EXIT_BOUND = 60.0

# Runs `alephnet ccn run ARGS` with `spawn_worker` replaced by a spy that prints which of the
# node's heavy modules are loaded when the CLI starts the worker, then stops the CLI.
SPAWN_SPY = (
    "import runpy, sys\n"
    "import alephnet.ccn.pipeline.processor_process as processor_process\n"
    "def spy():\n"
    "    heavy = ('sqlalchemy', 'fastapi', 'alephnet.ccn.api.app')\n"
    "    print([name for name in heavy if name in sys.modules])\n"
    "    raise SystemExit(3)\n"
    "processor_process.spawn_worker = spy\n"
    "sys.argv = ['alephnet', 'ccn', 'run', *sys.argv[1:]]\n"
    "runpy.run_module('alephnet', run_name='__main__')\n"
)


@pytest.fixture
async def worker_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[NodeProcess]:
    monkeypatch.setenv(PROCESSING_PROCESS_VARIABLE, "true")
    async with (
        fresh_database_url(tmp_path) as database_url,
        node_process(tmp_path / "ccn", database_url) as node,
    ):
        node.log_level = "INFO"  # what both processes did at start-up, in the node's log
        await node.start()
        yield node
        assert await node.terminate(timeout=30) == 0


def children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.rindex(")") + 2 :].split()[1] == str(pid):
            children.append(int(stat.parent.name))
    return children


@pytest.mark.slow
async def test_results_reach_sync_answers_and_metrics(worker_node: NodeProcess) -> None:
    signer = EvmSigner(bytes(range(1, 33)))
    forged = post_message(signer, {"n": 1})
    forged["signature"] = post_message(EvmSigner(bytes(32 * [7])))["signature"]
    async with httpx.AsyncClient(base_url=worker_node.url, timeout=30) as client:
        processed = await publish(client, post_message(signer, {"n": 0}))
        rejected = await publish(client, forged)
        metrics = (await client.get("/metrics.json")).json()

    assert processed.status_code == 200, processed.text
    assert processed.json()["message_status"] == "processed"
    assert rejected.status_code == 422
    assert rejected.json()["error_code"] == 1
    assert metrics["alephnet_messages_processed_total"] == 1
    assert metrics["alephnet_messages_rejected_total"] == 1
    assert len(children_of(worker_node.process_id.pid)) == 1


@pytest.mark.slow
async def test_node_and_worker_freeze_their_start_up_objects(worker_node: NodeProcess) -> None:
    """Both processes leave what their start-up made out of the garbage collector's full
    collections (`alephnet.gc_heap`)."""
    async with httpx.AsyncClient(base_url=worker_node.url, timeout=30) as client:
        metrics = (await client.get("/metrics.json")).json()
    assert metrics["alephnet_gc_frozen_objects"] > MANY_OBJECTS
    worker_lines = re.findall(
        r"\[processing worker\]: (\d+) objects of the start-up exempt",
        worker_node.log_file.read_text(),
    )
    assert [int(count) > MANY_OBJECTS for count in worker_lines] == [True]


@pytest.mark.slow
async def test_a_killed_worker_is_replaced(worker_node: NodeProcess) -> None:
    node_pid = worker_node.process_id.pid
    [worker] = children_of(node_pid)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + RESTART_BOUND
    while children_of(node_pid) in ([], [worker]):
        assert time.monotonic() < deadline, "no new worker"
        await asyncio.sleep(0.1)

    async with httpx.AsyncClient(base_url=worker_node.url, timeout=30) as client:
        answer = await publish(client, post_message(EvmSigner(bytes(range(1, 33)))))
    assert answer.status_code == 200, answer.text
    assert "processing worker exited" in worker_node.log_tail()


async def test_a_yielding_writer_lets_a_waiting_one_go_first(tmp_path: Path) -> None:
    """Two gates on one lock file stand for the node and its worker (`flock` locks of separate
    opens exclude each other even within one process)."""
    lock = tmp_path / "write.lock"
    worker, node = WriteGate(True, lock), WriteGate(True, lock)
    order: list[str] = []

    async def node_commit() -> None:
        async with node.writing():
            order.append("node")

    async with worker.writing(yielding=True):
        assert not worker.others_waiting()
        committing = asyncio.create_task(node_commit())
        while not worker.others_waiting():
            await asyncio.sleep(0.01)
        order.append("worker batch 1")
    async with worker.writing(yielding=True):
        order.append("worker batch 2")
    await committing

    assert order == ["worker batch 1", "node", "worker batch 2"]


async def test_a_cancelled_wait_does_not_keep_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "write.lock"
    holder, waiter = WriteGate(True, lock), WriteGate(True, lock)
    async with holder.writing():
        waiting = asyncio.create_task(waiter.writing().__aenter__())
        await asyncio.sleep(0.05)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    async with asyncio.timeout(5):
        async with WriteGate(True, lock).writing():
            pass


def test_the_cli_starts_the_worker_before_importing_the_node_stack(tmp_path: Path) -> None:
    """So that the worker's imports and the node's run side by side on two cores."""
    completed = subprocess.run(
        [sys.executable, "-c", SPAWN_SPY, "--data-dir", str(tmp_path / "ccn")],
        capture_output=True,
        text=True,
        env={**os.environ, PROCESSING_PROCESS_VARIABLE: "true"},
        timeout=EXIT_BOUND,
    )
    assert completed.returncode == 3, completed.stderr
    assert completed.stdout.splitlines()[-1] == "[]"


def test_a_worker_told_nothing_exits_quietly() -> None:
    """A node that fails before handing the worker its settings closes its stdin."""
    worker = spawn_worker()
    assert worker.stdin is not None
    worker.stdin.close()
    assert worker.wait(timeout=EXIT_BOUND) == 0


def processes_marked(marker: str) -> list[int]:
    """The processes whose environment holds ALEPHNET_TEST_MARKER=`marker`."""
    variable = f"ALEPHNET_TEST_MARKER={marker}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if variable in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_node_that_fails_to_start_leaves_no_worker(tmp_path: Path) -> None:
    """The CLI starts the worker before the node's migrations; here they fail (no database
    answers), and the worker must go with the node."""
    marker = str(uuid.uuid4())
    unreachable = f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{free_port()}/none"
    options = ["--data-dir", str(tmp_path / "ccn"), "--port", str(free_port())]
    completed = subprocess.run(
        [sys.executable, "-m", "alephnet", "ccn", "run", *options, "--database-url", unreachable],
        capture_output=True,
        text=True,
        env={**os.environ, PROCESSING_PROCESS_VARIABLE: "true", "ALEPHNET_TEST_MARKER": marker},
        timeout=EXIT_BOUND,
    )
    assert completed.returncode != 0
    deadline = time.monotonic() + EXIT_BOUND
    while processes_marked(marker):
        assert time.monotonic() < deadline, "the worker outlived its node"
        time.sleep(0.1)
