"""The cyclic garbage collector in a node's long-running processes (CCN, CRN, processing
worker).

A full collection (generation 2) walks every container object the process holds. A CCN holds
~195 000 once started (modules, classes, the libp2p, SQLAlchemy and FastAPI stacks), and
walking them held the GIL, so every thread of the node, for 110-290 ms, every 5 s or so at
100 msg/s (five nodes sharing two cores). Those pauses were the tail of gossip propagation:
with four receiving nodes, one of them was paused about one moment in seven (docs/p2p.md,
stop 15). What is alive once a node has started lives as long as the process:
`freeze_startup_objects` puts it out of the collector's reach, so a full collection walks only
what came since, in a few milliseconds. Until then, nothing is collected
(`pause_collection_for_start_up`).

Reference counting still frees a frozen object once nothing refers to it; only reference
cycles among frozen objects are never reclaimed. A collection just before the freeze found
~80 such objects and took 0.2-0.3 s of start-up: it is not made.
"""

from __future__ import annotations

import functools
import gc
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

GENERATIONS = 3


def pause_collection_for_start_up() -> None:
    """No collection until `freeze_startup_objects`: what a start-up makes lives as long as
    the process, and the collector walked it again and again as it grew (0.2 of the 1.5 s a
    CCN with gossip took to answer its first request)."""
    gc.disable()


def freeze_startup_objects() -> int:
    """Exempt every object alive now from future collections, and collect again (after
    `pause_collection_for_start_up`); returns how many objects were exempted."""
    gc.freeze()
    gc.enable()
    frozen = gc.get_freeze_count()
    logger.info("%d objects of the start-up exempt from garbage collection", frozen)
    return frozen


def _per_generation() -> list[float]:
    return [0.0] * GENERATIONS


@dataclass
class GcPauses:
    """Collections and the time they held the process, per generation."""

    collections: list[float] = field(default_factory=_per_generation)
    seconds: list[float] = field(default_factory=_per_generation)
    longest: list[float] = field(default_factory=_per_generation)
    _started: float = 0.0

    def observe(self, phase: str, info: dict[str, Any]) -> None:
        """A `gc.callbacks` entry: called as each collection starts and stops."""
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        pause = time.perf_counter() - self._started
        self.collections[generation] += 1
        self.seconds[generation] += pause
        self.longest[generation] = max(self.longest[generation], pause)


@functools.cache
def gc_pauses() -> GcPauses:
    """The process's collections from the first call on: one observer per process, as there
    is one collector."""
    pauses = GcPauses()
    gc.callbacks.append(pauses.observe)
    return pauses


class GcCollector(Collector):
    """The process's collections as Prometheus metrics: how long the collector held the
    process, by generation, and how many objects the start-up left out of its reach."""

    def collect(self) -> Iterable[Metric]:
        pauses = gc_pauses()
        yield _by_generation(
            CounterMetricFamily(
                "alephnet_gc_collections", "Garbage collections run", labels=["generation"]
            ),
            pauses.collections,
        )
        yield _by_generation(
            CounterMetricFamily(
                "alephnet_gc_pause_seconds",
                "Time garbage collections held the process (every thread)",
                labels=["generation"],
            ),
            pauses.seconds,
        )
        yield _by_generation(
            GaugeMetricFamily(
                "alephnet_gc_longest_pause_seconds",
                "The longest garbage collection so far",
                labels=["generation"],
            ),
            pauses.longest,
        )
        yield GaugeMetricFamily(
            "alephnet_gc_frozen_objects",
            "Objects exempt from garbage collection (those alive once the node had started)",
            value=gc.get_freeze_count(),
        )


def _by_generation(family: CounterMetricFamily | GaugeMetricFamily, values: list[float]) -> Metric:
    for generation, value in enumerate(values):
        family.add_metric([str(generation)], value)
    return family
