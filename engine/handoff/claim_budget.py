"""The engine-wide budget of refused hand-off code claims: across all calls, a window may see at
most `budget` refusals; then no code is taken until the window has moved past them. One call is
bounded by its tries and one number by its recent refusals, but a guesser with many numbers is
bounded only here (a million codes, a few live: without it, enough calls find one). Pure: times are given.
"""

from __future__ import annotations

from collections import deque


class ClaimBudget:
    def __init__(self, budget: int, window_s: float) -> None:
        self.budget = budget
        self.window_s = window_s
        self._refused: deque[float] = deque()

    def _forget(self, now: float) -> None:
        while self._refused and self._refused[0] <= now - self.window_s:
            self._refused.popleft()

    def open(self, now: float) -> bool:
        """Whether codes are taken now."""
        self._forget(now)
        return len(self._refused) < self.budget

    def refused(self, now: float) -> bool:
        """A claim was refused; True if this one used the budget up (the moment to tell the operator)."""
        self._forget(now)
        self._refused.append(now)
        return len(self._refused) == self.budget
