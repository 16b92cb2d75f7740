"""Requests per token per minute: a sliding window. Pure; the caller passes the time."""

from __future__ import annotations

from collections import deque

WINDOW_S = 60.0


class RateWindow:
    def __init__(self, per_minute: int, max_keys: int = 10_000) -> None:
        self._limit = per_minute
        self._max_keys = max_keys
        self._seen: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float) -> float | None:
        """None admits the request; otherwise the seconds to wait before the next one may be made."""
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self._max_keys:
                self._forget(now)
            times = self._seen[key] = deque()
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        if len(times) >= self._limit:
            return max(times[0] + WINDOW_S - now, 0.001)
        times.append(now)
        return None

    def _forget(self, now: float) -> None:
        """Drop keys that made no request in the window (tokens are few; this bounds memory anyway)."""
        for key in [key for key, times in self._seen.items() if not times or times[-1] <= now - WINDOW_S]:
            del self._seen[key]
