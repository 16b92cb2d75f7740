"""The wait estimate: the handle-time window and its prior, the estimator, the spoken phrases, and
its error against a seeded simulated queue. No I/O, no clock."""

from __future__ import annotations

import heapq
import math
import random
import statistics
import time
from collections import deque

import pytest

from engine.acd.wait_estimate import HandleTimes, WaitPhrase, estimate_wait, expected_remaining, spoken_wait

# -- the handle-time window -------------------------------------------------------------------


def test_the_prior_until_calls_arrive_then_shrunk_toward_it_less_and_less() -> None:
    times = HandleTimes(prior_s=180, prior_weight=5)
    assert times.mean("billing", now=0) == 180
    for at in range(5):
        times.record("billing", 300, at=at)
    assert times.mean("billing", now=10) == pytest.approx((5 * 180 + 5 * 300) / 10), "five calls weigh as much as the prior"
    for at in range(5, 45):
        times.record("billing", 300, at=at)
    assert times.mean("billing", now=50) == pytest.approx((5 * 180 + 45 * 300) / 50)
    assert times.mean("technical", now=50) == 180, "each queue has its own calls"


def test_only_the_last_calls_count() -> None:
    times = HandleTimes(prior_s=180, prior_weight=0, window=3)
    for at, seconds in enumerate((900, 100, 200, 300)):
        times.record("q", seconds, at=at)
    assert times.count("q", now=10) == 3
    assert times.mean("q", now=10) == pytest.approx(200), "the 900 s call fell out of the window"


def test_calls_older_than_the_horizon_are_ignored_so_the_mean_returns_to_the_prior() -> None:
    times = HandleTimes(prior_s=180, prior_weight=0, horizon_s=3600)
    times.record("q", 600, at=1000)
    times.record("q", 120, at=4000)
    assert times.mean("q", now=4500) == pytest.approx(360)
    assert times.mean("q", now=5000) == pytest.approx(120), "the first call is more than an hour old"
    assert times.mean("q", now=9000) == 180 and times.count("q", now=9000) == 0


def test_impossible_durations_are_dropped_and_bad_settings_refused() -> None:
    times = HandleTimes(prior_weight=0)
    for seconds in (-5.0, math.nan, math.inf):
        times.record("q", seconds, at=0)
    assert times.count("q", now=0) == 0
    for bad in ({"prior_s": 0}, {"prior_weight": -1}, {"window": 0}, {"horizon_s": 0}):
        with pytest.raises(ValueError):
            HandleTimes(**bad)


# -- the estimator ----------------------------------------------------------------------------


def test_expected_remaining_is_the_rest_of_a_mean_call_but_never_under_three_quarters_of_one() -> None:
    assert expected_remaining(0, 200) == 200
    assert expected_remaining(20, 200) == 180
    assert expected_remaining(100, 200) == 150
    assert expected_remaining(2000, 200) == 150, "a long call is not about to end"
    assert expected_remaining(-3, 200) == 200


def test_no_staffed_agent_means_no_estimate() -> None:
    assert estimate_wait(1, 0, [], 180) is None
    assert spoken_wait(estimate_wait(3, 0, [], 180)) is None


def test_agents_at_a_steady_rate_give_position_times_mean_over_agents() -> None:
    assert estimate_wait(5, 4, [180, 180, 180, 180], 180) == pytest.approx(5 * 180 / 4)
    assert estimate_wait(5, 4, [], 180) == pytest.approx(5 * 180 / 4), "agents not described count as one mean call from free"


def test_available_agents_take_the_first_callers_then_start_mean_calls() -> None:
    assert estimate_wait(2, 3, [0, 0, 180], 180) == 0
    assert estimate_wait(3, 3, [0, 0, 180], 180) == pytest.approx(180 / 3), "two new calls and one old: three at 1/180 s"


def test_one_agent_the_wait_is_what_is_left_then_whole_calls() -> None:
    assert estimate_wait(1, 1, [30], 180) == pytest.approx(30)
    assert estimate_wait(3, 1, [30], 180) == pytest.approx(30 + 2 * 180)


def test_an_agent_near_the_end_of_a_call_shortens_the_wait() -> None:
    steady = estimate_wait(2, 3, [180, 180, 180], 180)
    near_end = estimate_wait(2, 3, [10, 180, 180], 180)
    assert steady is not None and near_end is not None and near_end < steady


def test_more_ahead_waits_longer_more_agents_wait_less() -> None:
    remaining = [40.0, 150.0, 90.0, 170.0]
    waits = [estimate_wait(p, 4, remaining, 170) for p in range(1, 30)]
    assert all(a is not None and b is not None and a < b for a, b in zip(waits, waits[1:]))
    fewer, more = estimate_wait(10, 4, remaining, 170), estimate_wait(10, 5, remaining, 170)
    assert fewer is not None and more is not None and more < fewer


def test_a_long_line_costs_no_more_than_a_short_one() -> None:
    started = time.perf_counter()
    wait = estimate_wait(1_000_000, 3, [20, 100, 180], 180)
    assert time.perf_counter() - started < 0.05
    assert wait == pytest.approx(1_000_000 * 60, rel=1e-4)


def test_nonsense_facts_are_refused() -> None:
    for position, agents, remaining, mean in ((0, 2, [], 180.0), (1, 1, [10, 10], 180.0), (1, 2, [], 0.0), (1, 2, [], math.nan)):
        with pytest.raises(ValueError):
            estimate_wait(position, agents, remaining, mean)


# -- the spoken phrase ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "english", "korean"),
    [
        (0, "less than a minute", "1분 이내"),
        (59.9, "less than a minute", "1분 이내"),
        (60, "about 1 minute", "약 1분"),
        (89, "about 1 minute", "약 1분"),
        (90, "about 2 minutes", "약 2분"),
        (170, "about 3 minutes", "약 3분"),
        (269, "about 4 minutes", "약 4분"),
        (330, "about 5 minutes", "약 5분"),
        (449, "about 5 minutes", "약 5분"),
        (450, "about 10 minutes", "약 10분"),
        (1000, "about 15 minutes", "약 15분"),
        (1949, "about 30 minutes", "약 30분"),
        (1950, "more than 30 minutes", "30분 이상"),
        (math.inf, "more than 30 minutes", "30분 이상"),
    ],
)
def test_phrases(seconds: float, english: str, korean: str) -> None:
    phrase = spoken_wait(seconds)
    assert phrase is not None and (phrase.english(), phrase.korean()) == (english, korean)


def test_a_phrase_is_never_a_wrong_number_and_never_goes_down_as_the_wait_grows() -> None:
    previous = -1
    for seconds in range(0, 3600):
        phrase = spoken_wait(seconds)
        assert phrase is not None
        if phrase.kind == "under_minute":
            assert seconds < 60
        elif phrase.kind == "over":
            assert seconds > 30 * 60
        else:
            step = 1 if phrase.minutes < 5 else 2.5
            assert abs(seconds / 60 - phrase.minutes) <= step, (seconds, phrase)
        assert phrase.rank >= previous
        previous = phrase.rank
    assert spoken_wait(None) is None
    assert WaitPhrase("about_minutes", 3) == spoken_wait(181) and WaitPhrase("about_minutes", 3).rank == 3


# -- against a simulated queue ----------------------------------------------------------------


def simulate(agents: int, mean_s: float, occupancy: float, callers: int, seed: int) -> list[tuple[float, float, float]]:
    """(real wait, estimate, constant guess) for each caller who had to queue: Poisson arrivals,
    lognormal handle times (coefficient of variation about 0.8), first come first served."""
    rng = random.Random(seed)
    sigma = 0.7
    window = HandleTimes()
    started: list[float | None] = [None] * agents
    free = list(range(agents))
    ends: list[tuple[float, int]] = []
    line: deque[tuple[float, int]] = deque()
    results: list[list[float]] = []
    arrival, arrived = rng.expovariate(occupancy * agents / mean_s), 0

    def start(agent: int, now: float) -> None:
        started[agent] = now
        heapq.heappush(ends, (now + rng.lognormvariate(math.log(mean_s) - sigma**2 / 2, sigma), agent))

    while arrived < callers or ends:
        if ends and (arrived >= callers or ends[0][0] <= arrival):
            now, agent = heapq.heappop(ends)
            began = started[agent]
            assert began is not None
            window.record("q", now - began, at=now)
            started[agent] = None
            if line:
                queued_at, index = line.popleft()
                results[index][0] = now - queued_at
                start(agent, now)
            else:
                free.append(agent)
            continue
        now, arrived = arrival, arrived + 1
        arrival = now + rng.expovariate(occupancy * agents / mean_s)
        if free:
            start(free.pop(), now)
            continue
        mean = window.mean("q", now)
        position = len(line) + 1
        remaining = [expected_remaining(now - began, mean) for began in started if began is not None]
        estimate = estimate_wait(position, agents, remaining, mean)
        assert estimate is not None
        line.append((now, len(results)))
        results.append([math.nan, estimate, position * 180 / agents])
    return [(wait, estimate, guess) for wait, estimate, guess in results]


def test_on_a_simulated_queue_the_estimate_is_close_and_beats_a_constant_guess() -> None:
    """Four agents whose calls average 300 s, not the 180 s a constant would assume, at 90%
    occupancy. The bounds leave room around what this seed gives (see bench/wait_estimate.py)."""
    calls = simulate(agents=4, mean_s=300, occupancy=0.9, callers=4000, seed=11)
    assert len(calls) > 2000
    median_wait = statistics.median(wait for wait, _, _ in calls)
    error = statistics.median(abs(estimate - wait) for wait, estimate, _ in calls)
    guess_error = statistics.median(abs(guess - wait) for wait, _, guess in calls)
    assert error < 0.5 * median_wait and error < 150, (error, median_wait)
    assert error < 0.75 * guess_error, (error, guess_error)
    phrases = [(spoken_wait(estimate), spoken_wait(wait)) for wait, estimate, _ in calls]
    within_one = sum(1 for said, real in phrases if said is not None and real is not None and abs(said.rank - real.rank) <= 1)
    assert within_one / len(calls) > 0.7
