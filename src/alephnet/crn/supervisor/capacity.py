"""Admission: a new execution starts only if the memory and vCPUs it asks for are free.

What counts is what the messages ask for (`resources.memory`, `resources.vcpus`), not what the
guests use at the moment: a program may grow to its limit at any time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alephnet.crn.executors.base import Resources
from alephnet.crn.supervisor.errors import InsufficientCapacity


@dataclass(frozen=True)
class Capacity:
    memory_mib: int
    vcpus: int


@dataclass(frozen=True)
class Usage:
    memory_mib: int = 0
    vcpus: int = 0

    @classmethod
    def of(cls, resources: Iterable[Resources]) -> Usage:
        listed = list(resources)
        return cls(sum(r.memory_mib for r in listed), sum(r.vcpus for r in listed))

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.memory_mib + other.memory_mib, self.vcpus + other.vcpus)


def check_admission(capacity: Capacity, in_use: Usage, wanted: Resources) -> None:
    if in_use.memory_mib + wanted.memory_mib > capacity.memory_mib:
        raise InsufficientCapacity(
            f"{wanted.memory_mib} MiB asked, {capacity.memory_mib - in_use.memory_mib} MiB free"
        )
    if in_use.vcpus + wanted.vcpus > capacity.vcpus:
        raise InsufficientCapacity(
            f"{wanted.vcpus} vCPUs asked, {capacity.vcpus - in_use.vcpus} free"
        )
