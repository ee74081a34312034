"""Junk accounting per peer: a neighbour that passes on too many invalid messages in a short
time is banned for a while (its messages are ignored and its connection closed), not obeyed."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PenaltyRules:
    max_invalid: int = 20
    """Invalid messages tolerated from one peer within `window` seconds."""
    window: float = 60.0
    ban_seconds: float = 600.0


class Penalties:
    def __init__(self, rules: PenaltyRules) -> None:
        self._rules = rules
        self._invalid: dict[str, deque[float]] = {}
        self._banned_until: dict[str, float] = {}

    def record_invalid(self, peer: str, now: float) -> bool:
        """Count one invalid message from `peer`; True when this one gets it banned."""
        if self.is_banned(peer, now):
            return False
        times = self._invalid.setdefault(peer, deque(maxlen=self._rules.max_invalid + 1))
        times.append(now)
        while times and times[0] <= now - self._rules.window:
            times.popleft()
        if len(times) <= self._rules.max_invalid:
            return False
        del self._invalid[peer]
        self._banned_until[peer] = now + self._rules.ban_seconds
        return True

    def is_banned(self, peer: str, now: float) -> bool:
        return self._banned_until.get(peer, now) > now

    def lifted(self, now: float) -> list[str]:
        """The peers whose ban is over (each reported once)."""
        over = [peer for peer, until in self._banned_until.items() if until <= now]
        for peer in over:
            del self._banned_until[peer]
        return over
