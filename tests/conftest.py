"""Shared fixtures: where the conformance vectors live and how to load them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VECTORS = PROJECT_ROOT.parent / "shared" / "vectors"


def load_vector(relative_path: str) -> Any:
    path = VECTORS / relative_path
    if not path.exists():
        pytest.fail(
            f"conformance vector {path} is missing: tests run from a checkout beside shared/"
        )
    return json.loads(path.read_text())
