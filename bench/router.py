"""Routing decision latency of the pure router under churn, at two sizes.

Agents change state and callers arrive and leave at random; every decision the engine would ask
for is timed: an arriving caller (offer_for_caller), an agent becoming free (offer_for_agent), and
the once-a-second sweep that picks up relaxed requirements (offers). One run on a noisy machine:
read the percentiles, not single numbers. Target: p99 below 1 ms at 10,000 agents.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

from engine.acd.router import QueueRule, Relaxation, Router, WaitingCall

T = TypeVar("T")


def build(agents: int, queues: int, skills: int, rng: random.Random) -> tuple[Router, dict[str, dict[str, int]]]:
    skill_names = [f"s{i}" for i in range(skills)]
    rules = []
    for q in range(queues):
        needed = rng.sample(skill_names, rng.choice((1, 1, 2)))
        rules.append(QueueRule(f"q{q}", {s: rng.randint(1, 4) for s in needed}, rng.randint(1, 9), (Relaxation(60, 1), Relaxation(120, None)), 60))
    router = Router(rules)
    profiles = {f"a{a}": {s: rng.randint(1, 5) for s in rng.sample(skill_names, rng.randint(2, 5))} for a in range(agents)}
    return router, profiles


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def run(agents: int, queues: int, skills: int, steps: int, seed: int = 7) -> dict[str, list[float]]:
    rng = random.Random(seed)
    router, profiles = build(agents, queues, skills, rng)
    now = 0.0
    free: set[str] = set()
    for agent_id, profile in profiles.items():
        if rng.random() < 0.3:
            router.agent_available(agent_id, profile, idle_since=0.0)
            free.add(agent_id)
    busy = [a for a in profiles if a not in free]
    timings: dict[str, list[float]] = {"caller arrives": [], "agent freed": [], "sweep (1/s)": []}
    waiting: list[str] = []
    next_sweep = 1.0
    calls = 0

    def timed(name: str, decide: Callable[[], T]) -> T:
        started = time.perf_counter_ns()
        result = decide()
        timings[name].append((time.perf_counter_ns() - started) / 1e6)
        return result

    for _ in range(steps):
        now += 0.01
        roll = rng.random()
        if roll < 0.4:  # a caller arrives
            calls += 1
            call = WaitingCall(f"c{calls}", f"q{rng.randrange(queues)}", now)
            router.caller_waiting(call)
            offer = timed("caller arrives", lambda: router.offer_for_caller(call.call_id, now))
            if offer is None:
                waiting.append(call.call_id)
            else:
                busy.append(offer.agent_id)
                free.discard(offer.agent_id)
        elif roll < 0.8 and busy:  # an agent finishes wrap-up
            agent_id = busy.pop(rng.randrange(len(busy)))
            router.agent_available(agent_id, profiles[agent_id], idle_since=now)
            free.add(agent_id)
            offer = timed("agent freed", lambda: router.offer_for_agent(agent_id, now))
            if offer is not None:
                free.discard(agent_id)
                busy.append(agent_id)
                waiting = [c for c in waiting if c != offer.call_id]
        elif roll < 0.9 and free:  # an agent pauses or loses registration
            agent_id = free.pop()
            router.agent_busy(agent_id)
            busy.append(agent_id)
        elif waiting:  # a waiting caller hangs up
            router.caller_left(waiting.pop(rng.randrange(len(waiting))))
        if now >= next_sweep:
            next_sweep += 1.0
            offers = timed("sweep (1/s)", lambda: router.offers(now))
            for offer in offers:
                free.discard(offer.agent_id)
                busy.append(offer.agent_id)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40_000)
    args = parser.parse_args()
    print("router decisions under churn (one run, noisy 2-core machine)\n")
    print("| agents | queues | skills | decision | n | p50 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    large: list[float] = []
    for agents, queues, skills in ((1_000, 50, 10), (10_000, 200, 50)):
        timings = run(agents, queues, skills, args.steps)
        for name, values in timings.items():
            if values:
                print(f"| {agents} | {queues} | {skills} | {name} | {len(values)} | {statistics.median(values):.3f} | {percentile(values, 0.99):.3f} | {max(values):.3f} |")
        if agents == 10_000:
            large = timings["caller arrives"] + timings["agent freed"]
    print(f"\nrouter p50_ms={statistics.median(large):.3f} p99_ms={percentile(large, 0.99):.3f} agents=10000")


if __name__ == "__main__":
    main()
