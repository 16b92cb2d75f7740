"""Reconnect delays: exponential with jitter, reset after a good connection. Pure; no clock, no sleep."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first_s: float = 0.25
    max_s: float = 10.0
    factor: float = 2.0
    jitter: float = 0.1
    _next: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s:
            raise ValueError(f"backoff first_s ({self.first_s}) must be > 0 and <= max_s ({self.max_s})")
        self._next = self.first_s

    def next_delay(self) -> float:
        """The wait before the next attempt; each call doubles the following one, up to max_s."""
        delay = self._next
        self._next = min(self._next * self.factor, self.max_s)
        return min(delay * (1 + random.uniform(-self.jitter, self.jitter)), self.max_s)

    def reset(self) -> None:
        self._next = self.first_s
