"""Failed-login limits per agent id and per client address. Pure: the caller passes the clock.

An attempt reserves a slot in both buckets before the password is hashed, so a burst of
concurrent wrong logins gets at most LOGIN_FAILURES_PER_MINUTE hashes per id and per address; a
success gives its slot back. One address guessing cannot lock out other people's addresses, and
guessing one id from many addresses is still bounded by that id's bucket.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

LOGIN_FAILURES_PER_MINUTE = 10
WINDOW_S = 60.0
MAX_TRACKED = 10_000
"""Buckets kept per kind; the oldest are forgotten beyond this (made-up ids cannot grow memory)."""


@dataclass(frozen=True)
class Attempt:
    agent_id: str
    address: str
    at: float


@dataclass
class LoginLimiter:
    per_minute: int = LOGIN_FAILURES_PER_MINUTE
    by_id: dict[str, deque[float]] = field(default_factory=dict)
    by_address: dict[str, deque[float]] = field(default_factory=dict)

    def reserve(self, agent_id: str, address: str, now: float) -> Attempt | None:
        """A slot for one password check, or None: too many failures for this id or this address."""
        id_bucket = self._bucket(self.by_id, agent_id.casefold()[:64], now)
        address_bucket = self._bucket(self.by_address, address, now)
        if len(id_bucket) >= self.per_minute or len(address_bucket) >= self.per_minute:
            return None
        id_bucket.append(now)
        address_bucket.append(now)
        return Attempt(agent_id.casefold()[:64], address, now)

    def succeeded(self, attempt: Attempt) -> None:
        """A right password: its slot is given back (failures before it still count)."""
        for buckets, key in ((self.by_id, attempt.agent_id), (self.by_address, attempt.address)):
            bucket = buckets.get(key)
            if bucket is not None and attempt.at in bucket:
                bucket.remove(attempt.at)

    def _bucket(self, buckets: dict[str, deque[float]], key: str, now: float) -> deque[float]:
        bucket = buckets.pop(key, None) or deque()
        while bucket and bucket[0] <= now - WINDOW_S:
            bucket.popleft()
        buckets[key] = bucket  # most recently used last
        while len(buckets) > MAX_TRACKED:
            del buckets[next(iter(buckets))]
        return bucket
