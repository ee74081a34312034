"""How every benchmark hands in its figures: printed one per line for the reader, and kept in
`bench/results/<benchmark>.json` for the docs and for comparing runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def report(benchmark: str, result: dict[str, Any], width: int = 34) -> Path:
    """Print `result` and write it to the benchmark's results file, which is returned."""
    for key, value in result.items():
        print(f"{key:{width}} {value}")
    path = RESULTS_DIR / f"{benchmark}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": benchmark, "results": result}, indent=2))
    return path
