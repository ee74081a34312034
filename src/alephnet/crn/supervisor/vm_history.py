"""The VMs that ended lately, programs' and instances' alike.

`/v2/about/executions/list` shows them next to the running ones, and an owner still reads the
logs of one that ended; bounded, so that a CRN serving many short programs does not keep
every record it ever made.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar

from alephnet.crn.supervisor.execution import VmLifecycle

HISTORY_SIZE = 100

RecordT = TypeVar("RecordT", bound=VmLifecycle[Any])


class VmHistory(OrderedDict[str, RecordT]):
    """By VM hash, the most recently ended last; the oldest go beyond `HISTORY_SIZE`."""

    def remember(self, record: RecordT) -> None:
        self[record.vm_hash] = record
        self.move_to_end(record.vm_hash)
        while len(self) > HISTORY_SIZE:
            self.popitem(last=False)
