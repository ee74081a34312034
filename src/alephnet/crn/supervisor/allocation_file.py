"""A set of VM hashes kept in a JSON file of the data dir (`allocations.json`...), so that a
CRN that starts again knows which VMs it must run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path


class AllocationFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[str]:
        """The saved hashes; none when the file is missing or unreadable."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        return [str(vm_hash) for vm_hash in saved] if isinstance(saved, list) else []

    def save(self, hashes: Iterable[str]) -> None:
        """Written to a temporary file, then renamed: a crash never leaves half a list."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(sorted(hashes)) + "\n")
        os.replace(temporary, self.path)
