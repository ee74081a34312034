"""CRN sandbox executor: cold start, warm request overhead, density.

    .venv/bin/python -m bench.crn_sandbox [--cold-runs 20] [--requests 2000] [--density 10]

- Cold start: `SandboxExecutor.start()` until the first response of a hello-world ASGI app
  (bubblewrap, cgroup, interpreter start, READY, CONFIGURE, import, first REQUEST), p50.
  Target < 150 ms. Measured three ways: with a spare sandbox ready (`spares=1`, refilled
  between runs, out of the timing), then from nothing and from nothing with `internet` in
  turns (the sandbox waits for slirp4netns to bring up its network; the difference of the
  p50s is `internet_added_p50_ms`).
- Warm overhead: the same app behind uvicorn, called with an HTTP client, directly and through
  a proxy ASGI app that forwards each request over the GuestLink to a warm sandbox (what the
  CRN's route does). Both servers run in this one event loop and are called in turns, so they
  share its cost and the machine's load: the difference of the p50s is what the sandbox adds.
  Target < 2 ms.
- Density: warm idle executions started side by side; the RSS (and PSS) of each one's whole
  process tree, and how many fit in a GiB.

Writes bench/results/crn_sandbox.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from tests.crn.programs import HELLO_APP, http_scope, zip_program

from alephnet.crn.executors.base import CodeSpec, ExecutionSpec, Resources
from alephnet.crn.executors.sandbox import SandboxExecution, SandboxExecutor
from bench.report import report

MIB = 1024 * 1024


def hello_spec(folder: Path, internet: bool = False) -> ExecutionSpec:
    code = folder / "hello.zip"
    code.write_bytes(zip_program({"main.py": HELLO_APP}))
    return ExecutionSpec(
        vm_hash=os.urandom(32).hex(),
        resources=Resources(vcpus=1, memory_mib=128, seconds=10),
        code=CodeSpec(code, "zip", "main:app", "asgi"),
        internet=internet,
        work_dir=folder,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def cold_start(executor: SandboxExecutor, spec: ExecutionSpec) -> float:
    await executor.prestart()
    started = time.perf_counter()
    execution = await executor.start(spec)
    response = await execution.link.request(http_scope("/"), b"", timeout=10)
    elapsed = time.perf_counter() - started
    assert response.body == b"hello world"
    await execution.stop()
    return elapsed


async def cold_starts(folder: Path, runs: int) -> dict[str, Any]:
    """With a spare first, alone (its pool refills in the background after each start), then
    without a spare and with internet in turns, so that those two share the machine's load."""
    timings: dict[str, list[float]] = {}
    rounds = (
        {"cold_start_with_spare": (1, False)},
        {"cold_start": (0, False), "cold_start_internet": (0, True)},
    )
    for variants in rounds:
        executors = {
            label: SandboxExecutor(spares=spares) for label, (spares, _) in variants.items()
        }
        try:
            for _ in range(runs):
                for label, (_, internet) in variants.items():
                    spec = hello_spec(folder, internet)
                    timings.setdefault(label, []).append(await cold_start(executors[label], spec))
        finally:
            await asyncio.gather(*(executor.close() for executor in executors.values()))
    result: dict[str, Any] = {"cold_start_runs": runs}
    for label, values in timings.items():
        result[f"{label}_p50_ms"] = milliseconds(statistics.median(values))
        result[f"{label}_p90_ms"] = milliseconds(percentile(values, 0.9))
    added = statistics.median(timings["cold_start_internet"]) - statistics.median(
        timings["cold_start"]
    )
    result["internet_added_p50_ms"] = milliseconds(added)
    return result


AsgiApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def proxy_to(execution: SandboxExecution) -> AsgiApp:
    """A minimal stand-in for the CRN's `/vm/{hash}` route: the request over the GuestLink."""

    async def proxy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = (await receive()).get("body", b"")
        headers = [[name.decode(), value.decode()] for name, value in scope["headers"]]
        guest_scope = http_scope(scope["path"], scope["method"], headers=headers)
        response = await execution.link.request(guest_scope, body, timeout=10)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(n.encode(), v.encode()) for n, v in response.headers],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    return proxy


def hello_app() -> AsgiApp:
    namespace: dict[str, Any] = {}
    exec(HELLO_APP, namespace)
    app: AsgiApp = namespace["app"]
    return app


@contextlib.asynccontextmanager
async def served(app: AsgiApp) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def alternating_latencies(urls: list[str], requests: int) -> list[list[float]]:
    """Request timings per URL, the URLs taking turns so that they see the same load."""
    timings: list[list[float]] = [[] for _ in urls]
    async with httpx.AsyncClient() as client:
        for index in range(requests + requests // 10):
            for url, samples in zip(urls, timings, strict=True):
                started = time.perf_counter()
                response = await client.get(url)
                elapsed = time.perf_counter() - started
                assert response.content == b"hello world"
                if index >= requests // 10:  # the first tenth warms up
                    samples.append(elapsed)
    return timings


async def warm_overhead(executor: SandboxExecutor, folder: Path, requests: int) -> dict[str, Any]:
    execution = await executor.start(hello_spec(folder))
    try:
        link_timings = []
        for _ in range(requests):
            started = time.perf_counter()
            await execution.link.request(http_scope("/"), b"", timeout=10)
            link_timings.append(time.perf_counter() - started)
        async with served(hello_app()) as direct_url, served(proxy_to(execution)) as proxy_url:
            direct, through = await alternating_latencies([direct_url, proxy_url], requests)
    finally:
        await execution.stop()
    return {
        "warm_requests": requests,
        "guest_link_round_trip_p50_ms": milliseconds(statistics.median(link_timings)),
        "uvicorn_direct_p50_ms": milliseconds(statistics.median(direct)),
        "uvicorn_through_sandbox_p50_ms": milliseconds(statistics.median(through)),
        "added_p50_ms": milliseconds(statistics.median(through) - statistics.median(direct)),
        "uvicorn_through_sandbox_p99_ms": milliseconds(percentile(through, 0.99)),
    }


def memory_of(pids: set[int]) -> tuple[int, int]:
    """Total RSS and PSS of `pids`, in bytes (PSS shares the common pages out fairly)."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("Rss", "Pss"):
                    size = int(value.split()[0]) * 1024
                    rss, pss = (rss + size, pss) if name == "Rss" else (rss, pss + size)
    return rss, pss


async def density(executor: SandboxExecutor, folder: Path, count: int) -> dict[str, Any]:
    executions = []
    try:
        for _ in range(count):
            execution = await executor.start(hello_spec(folder))
            await execution.link.request(http_scope("/"), b"", timeout=10)
            executions.append(execution)
        await asyncio.sleep(1)
        sizes = [memory_of(execution.cgroup.pids()) for execution in executions]
    finally:
        await asyncio.gather(*(execution.stop() for execution in executions))
    rss = statistics.mean(size[0] for size in sizes) / MIB
    pss = statistics.mean(size[1] for size in sizes) / MIB
    return {
        "density_executions": count,
        "idle_rss_mib_per_execution": round(rss, 1),
        "idle_pss_mib_per_execution": round(pss, 1),
        "idle_executions_per_gib_rss": int(1024 / rss),
        "idle_executions_per_gib_pss": int(1024 / pss),
    }


async def run(cold_runs: int, requests: int, count: int) -> dict[str, Any]:
    executor = SandboxExecutor()
    with tempfile.TemporaryDirectory() as folder:
        result = await cold_starts(Path(folder), cold_runs)
        result |= await warm_overhead(executor, Path(folder), requests)
        result |= await density(executor, Path(folder), count)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cold-runs", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--density", type=int, default=10)
    arguments = parser.parse_args()
    result = asyncio.run(run(arguments.cold_runs, arguments.requests, arguments.density))
    report("crn_sandbox", result)


if __name__ == "__main__":
    main()
