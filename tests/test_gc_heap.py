"""The garbage collector in node processes: what the start-up made is frozen once the server
serves, and collections are counted and timed for `/metrics`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette

from alephnet.cli.node import NodeServer
from alephnet.gc_heap import GcPauses, gc_pauses, pause_collection_for_start_up
from tests.ccn.node_process import free_port
from tests.servers import serving_app


@pytest.fixture
def thawed() -> Iterator[None]:
    """Frozen objects are given back to the collector after the test, and collections go on:
    the test process outlives the servers it runs."""
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def is_tracked_by_collector(target: object) -> bool:
    return any(candidate is target for candidate in gc.get_objects())


@pytest.mark.usefixtures("thawed")
def test_the_server_freezes_what_its_start_up_made() -> None:
    made_at_start_up: list[list[str]] = []

    collecting_at_start_up: list[bool] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        made_at_start_up.append(["made at start-up"])  # lists are always tracked
        collecting_at_start_up.append(gc.isenabled())
        yield

    assert gc.get_freeze_count() == 0
    pause_collection_for_start_up()
    with serving_app(Starlette(lifespan=lifespan), free_port(), "node", NodeServer):
        assert collecting_at_start_up == [False]
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        assert not is_tracked_by_collector(made_at_start_up[0])
        made_while_serving = ["made while serving"]
        assert is_tracked_by_collector(made_while_serving)


def test_collections_are_counted_and_timed_by_generation() -> None:
    pauses = gc_pauses()
    before = GcPauses(list(pauses.collections), list(pauses.seconds), list(pauses.longest))
    gc.collect()
    assert pauses.collections[2] == before.collections[2] + 1
    assert pauses.seconds[2] > before.seconds[2]
    assert pauses.longest[2] >= pauses.seconds[2] - before.seconds[2] > 0
    assert pauses.collections[:2] == before.collections[:2]


def test_one_observer_per_process() -> None:
    assert gc_pauses() is gc_pauses()
    assert gc.callbacks.count(gc_pauses().observe) == 1
