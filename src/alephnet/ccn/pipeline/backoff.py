"""When to try a message again after a retryable error."""

from __future__ import annotations

import random


def retry_delay(retries: int, cap_seconds: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(2^retries, cap)] seconds.

    Jitter spreads the retries of many messages waiting on the same missing piece, so they do
    not all wake at once when it arrives."""
    return random.uniform(0, min(2.0**retries, cap_seconds))
