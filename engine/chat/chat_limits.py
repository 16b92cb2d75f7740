"""How much strangers may ask of the public chat: sessions per client address per minute, and
messages per chat. Pure: the caller passes the time."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

MAX_CLIENTS_TRACKED = 10_000
"""Addresses remembered for the per-minute count; the oldest are forgotten first (memory stays bounded)."""


@dataclass
class Openings:
    """New chat sessions per client address in any 60 s."""

    per_minute: int
    _recent: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def admit(self, client: str, now: float) -> bool:
        times = self._recent.pop(client, None) or deque()
        while times and times[0] <= now - 60.0:
            times.popleft()
        admitted = len(times) < self.per_minute
        if admitted:
            times.append(now)
        if times:
            self._recent[client] = times
        while len(self._recent) > MAX_CLIENTS_TRACKED:
            self._recent.popitem(last=False)
        return admitted


@dataclass
class Bucket:
    """A token bucket: `rate` messages a second on average, `burst` at once."""

    rate: float
    burst: int
    _tokens: float = -1.0
    _at: float = 0.0

    def take(self, now: float) -> bool:
        if self._tokens < 0:
            self._tokens, self._at = float(self.burst), now
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
