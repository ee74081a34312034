"""A program's LOG lines: the latest kept in memory for `/control/machine/{ref}/logs`, all of
them appended to a file under the data dir (`logs/<vm_hash>.log`).

One log per program hash, shared by its successive executions, so that the owner can read why
the last one crashed after it is gone. An instance's logs are its console's lines, without
the terminal's escape sequences (systemd colours its status lines).
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ECMA-48: CSI sequences (colours, cursor moves), OSC strings (window titles), then the
# other escapes (character sets, resets): intermediate bytes and a final one.
_TERMINAL_CODE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])"
)


@dataclass(frozen=True)
class LogEntry:
    timestamp: float
    stream: str  # "stdout" or "stderr"
    line: str

    def as_journal_entry(self, vm_hash: str) -> dict[str, Any]:
        """The shape of the reference's journald entries (microseconds since the epoch)."""
        return {
            "SYSLOG_IDENTIFIER": f"vm-{vm_hash}-{self.stream}",
            "MESSAGE": self.line,
            "file": self.stream,
            "__REALTIME_TIMESTAMP": str(int(self.timestamp * 1_000_000)),
        }

    def without_terminal_codes(self) -> LogEntry:
        return LogEntry(self.timestamp, self.stream, _TERMINAL_CODE.sub("", self.line))


class ProgramLog:
    def __init__(self, path: Path, max_lines: int) -> None:
        self.path = path
        self._entries: deque[LogEntry] = deque(maxlen=max_lines)

    def append(self, stream: str, line: str) -> None:
        entry = LogEntry(time.time(), stream, line.rstrip("\n"))
        self._entries.append(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8", errors="replace") as output:
            output.write(f"{entry.timestamp:.3f} {stream} {entry.line}\n")

    def entries(self) -> list[LogEntry]:
        return list(self._entries)
