"""How long a waiting caller will probably wait, and how to say it. Pure: facts in, numbers out.

The caller at position p is taken at the p-th moment an agent frees up, so the estimator plays
those moments forward in expectation. Available agents take the first callers at once. Each busy
agent i finishes at a steady rate 1/r_i, r_i its expected remaining time (`expected_remaining` of
its call so far), so the next agent frees up after 1/sum(rates) seconds on average; that is taken
to be the agent with the least left, who then starts a new call of the queue's mean handle time m
(rate 1/m). The expected gaps are summed: O(agents log agents), whatever the position. With no
knowledge of the agents (every r_i = m) this is p x m / agents, exact for exponential handle times
(M/M/c); agents near the end of a call shorten the first gaps.

Letting every call last exactly its expected time (a heap of free times) was tried and measured
worse: it misses that among many busy agents one is usually about to finish, so it announces short
waits too long (median error 27 s against 15 s at 12 agents, 30 s against 5 s at 40; both at 85%
occupancy, bench/wait_estimate.py).

The mean handle time (talk + hold + wrap-up) comes from `HandleTimes`: the queue's last calls,
shrunk toward a configured prior while there are few of them, so a new or quiet queue starts from
a sensible figure rather than from one odd call.

What it does not model, so the number is a guide and is spoken as one (`spoken_wait`):
- callers ahead who hang up or take a callback (real waits come out shorter than estimated);
- agents who also serve other queues, and other queues' callers who outrank this one by priority
  or aging, taking those agents first (real waits come out longer);
- agents logging in, pausing or leaving during the wait: the staffing is taken as it is now;
- handle times drifting during the wait, and their spread beyond what `expected_remaining` assumes.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


class HandleTimes:
    """Recent handle times per queue: the last `window` calls, and only those since `horizon_s`
    when given (handle times drift over a day; a quiet queue's morning calls should not speak for
    its afternoon). Timestamps are passed in: there is no clock here."""

    def __init__(self, prior_s: float = 180.0, prior_weight: float = 5.0, window: int = 50, horizon_s: float | None = None) -> None:
        if not prior_s > 0 or prior_weight < 0 or window < 1 or (horizon_s is not None and not horizon_s > 0):
            raise ValueError("need prior_s > 0, prior_weight >= 0, window >= 1 and horizon_s > 0 or None")
        self.prior_s = prior_s
        self.prior_weight = prior_weight
        """How many calls the prior counts as: with n recent calls it weighs k/(k+n)."""
        self.window = window
        self.horizon_s = horizon_s
        self._calls: dict[str, deque[tuple[float, float]]] = {}

    def record(self, queue: str, seconds: float, at: float) -> None:
        """A call of `queue` ended its wrap-up at `at` after `seconds` of talk, hold and wrap-up.
        A negative or non-finite duration (a clock step while measuring) is dropped, not stored."""
        if not math.isfinite(seconds) or seconds < 0 or not math.isfinite(at):
            return
        self._calls.setdefault(queue, deque(maxlen=self.window)).append((at, seconds))

    def _recent(self, queue: str, now: float) -> list[float]:
        calls = self._calls.get(queue, ())
        if self.horizon_s is None:
            return [seconds for _, seconds in calls]
        since = now - self.horizon_s
        return [seconds for at, seconds in calls if at >= since]

    def count(self, queue: str, now: float) -> int:
        """Calls that currently inform the mean."""
        return len(self._recent(queue, now))

    def mean(self, queue: str, now: float) -> float:
        """(k x prior + sum of recent calls) / (k + n): the prior until calls arrive, then them."""
        recent = self._recent(queue, now)
        return (self.prior_weight * self.prior_s + sum(recent)) / (self.prior_weight + len(recent)) if recent else self.prior_s


def expected_remaining(elapsed_s: float, mean_handle_s: float) -> float:
    """Seconds an agent `elapsed_s` into a call (wrap-up included) probably still needs: the rest of
    a mean call, but at least three quarters of one. A call already past the mean is a long one, and
    long calls go on: with lognormal handle times as spread as a contact centre's (coefficient of
    variation near 0.8) the expected remainder levels off there instead of falling to zero."""
    return max(mean_handle_s - max(0.0, elapsed_s), 0.75 * mean_handle_s)


def estimate_wait(position: int, serving_agents: int, busy_remaining_s: Sequence[float], mean_handle_s: float) -> float | None:
    """Expected seconds until the caller at `position` (1 = next in this queue) is taken; None when
    no agent is staffed, so the announcement promises no time.

    `serving_agents`: staffed agents who can take this queue (available, reserved, on a call or in
    wrap-up; not paused or logged out). `busy_remaining_s`: for each of them, the expected seconds
    until free: 0 if available, `expected_remaining(...)` on a call or in wrap-up, about a mean handle
    when reserved (its next call is starting). Agents without an entry count as one mean call from
    free, which is the steady rate the model gives every agent in the end anyway."""
    if position < 1:
        raise ValueError("position starts at 1 (next in line)")
    if not 0 < mean_handle_s < math.inf:
        raise ValueError("mean_handle_s must be a finite number > 0")
    if len(busy_remaining_s) > serving_agents:
        raise ValueError("more busy_remaining_s entries than serving agents")
    if serving_agents <= 0:
        return None
    remaining = [max(0.0, r) for r in busy_remaining_s] + [mean_handle_s] * (serving_agents - len(busy_remaining_s))
    available = sum(1 for r in remaining if r == 0)
    if position <= available:
        return 0.0
    departures = position - available  # the available agents take the first callers at once
    busy = sorted(r for r in remaining if r > 0)  # least left first: the likeliest to free up next
    later = [0.0] * (len(busy) + 1)  # later[k]: summed finishing rates of busy[k:], still on their call
    for k in range(len(busy) - 1, -1, -1):
        later[k] = later[k + 1] + 1 / busy[k]
    wait = 0.0
    for k in range(min(departures, len(busy))):
        wait += 1 / (later[k] + (available + k) / mean_handle_s)
    return wait + max(0, departures - len(busy)) * mean_handle_s / serving_agents


UNDER_MINUTE_S = 60.0
OVER_MINUTES = 30
"""Beyond this the phrase says only 'more than': a half-hour estimate is too rough to be rounded."""

_LADDER = (1, 2, 3, 4, 5, 10, 15, 20, 25, 30)


@dataclass(frozen=True)
class WaitPhrase:
    """A wait as it may be said: a bound or a rounded figure, never a precise-sounding number."""

    kind: Literal["under_minute", "about_minutes", "over"]
    minutes: int
    """The bound for under_minute (1) and over (30); the rounded figure for about_minutes."""

    def english(self) -> str:
        if self.kind == "under_minute":
            return "less than a minute" if self.minutes == 1 else f"less than {self.minutes} minutes"
        if self.kind == "over":
            return f"more than {self.minutes} minutes"
        return "about 1 minute" if self.minutes == 1 else f"about {self.minutes} minutes"

    def korean(self) -> str:
        if self.kind == "under_minute":
            return f"{self.minutes}분 이내"
        if self.kind == "over":
            return f"{self.minutes}분 이상"
        return f"약 {self.minutes}분"

    @property
    def rank(self) -> int:
        """Order among the phrases (0 = less than a minute, then 1, 2, 3, 4, 5, 10 ... 30 minutes,
        then more than 30): how many phrases apart an estimate and the real wait were."""
        if self.kind == "under_minute":
            return 0
        if self.kind == "over":
            return len(_LADDER) + 1
        return _LADDER.index(self.minutes) + 1


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def spoken_wait(seconds: float | None) -> WaitPhrase | None:
    """The phrase for an estimate: less than a minute below 60 s; about N minutes, N to the nearest
    minute up to 5 and to the nearest 5 up to 30; more than 30 minutes beyond (from 32.5 minutes,
    where rounding would give 35). None (nobody staffed) stays None: no time is promised."""
    if seconds is None:
        return None
    if math.isnan(seconds):
        raise ValueError("a wait estimate is a number or None")
    if seconds < UNDER_MINUTE_S:
        return WaitPhrase("under_minute", 1)
    minutes = seconds / 60
    if minutes >= OVER_MINUTES + 2.5:  # would round to 35
        return WaitPhrase("over", OVER_MINUTES)
    if _round_half_up(minutes) <= 5:
        return WaitPhrase("about_minutes", _round_half_up(minutes))
    return WaitPhrase("about_minutes", 5 * _round_half_up(minutes / 5))
