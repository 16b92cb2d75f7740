"""A realistic day at the sample contact centre so far, written through the engine's own stores.

The screenshots (test_page_languages) should show a working centre, not one lonely call: the
wallboard's history and the reports read today's journeys and agent states from the database, so
this module writes a day of them before the engine starts. It runs a small simulation of the
sample queues and agents (ivr_flows/queues/support.yaml, ivr_flows/agents/team.yaml): callers
arrive more often mid-morning and after lunch, wait for a free agent with the queue's skill, give
up when their patience runs out, talk, and the agent wraps up. Every call is written as the engine
writes one: `JourneyStore.open_call` (its `arrived` event), the typed journey events of
engine/journey, `close_call`; every agent's state through `AgentStateStore`. So the floor history
backfill and the historical reports read these calls exactly as they read real ones.

Deterministic for a seed and a `now`; every time is before `now`. The day opens at 08:00 local
time, or 8 hours before `now` when it is not yet 09:00.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.journey.events import (
    Abandoned, AgentAnswered, AgentRinging, Answered, CallEnded, DispositionSet, FlowStarted, IntentChosen, JourneyEventModel, Queued, Recognised,
    WrapUpEnded, to_stored,
)
from engine.store.agent_state_store import AgentStateChange, AgentStateStore
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, JourneyStore

FLOW = "support_ko"
DIALED = "1588"
OPENING_HOUR = 8
QUEUE_SHARE = {"billing": 40, "technical": 30, "sales": 18, "general": 12}
"""How callers split over the menu (general: the callers who ask for an agent)."""
MENU_KEYS = {"billing": "1", "technical": "2", "sales": "3"}
MENU_PHRASES = {"billing": ("요금 문의", "청구서", "미납 요금"), "technical": ("인터넷 이 안 돼요", "와이파이 가 안 돼요"), "sales": ("가입 상담", "신규 가입")}
"""Keys and phrases of the menu of ivr_flows/support_ko.yaml."""
AGENTS_OF = {
    "billing": ("minsu", "wei", "alex"),
    "technical": ("jiyeon", "wei", "alex"),
    "sales": ("alex", "wei"),
    "general": ("alex", "minsu", "jiyeon", "wei", "sora"),
}
"""Who takes each queue, best first: the agents whose skills in team.yaml match the queue's."""
DISPOSITIONS = {
    "billing": ("resolved", "resolved", "refund_issued", "follow_up", "escalated"),
    "technical": ("resolved", "technician_booked", "follow_up", "resolved", "escalated"),
    "sales": ("sold", "quote_sent", "not_interested", "follow_up"),
    "general": (),
}
LIVE_AGENTS = ("minsu", "sora")
"""The demo's agent and supervisor: they log in to the live engine, so their seeded day runs on to now."""
SHIFT_HOURS = {"jiyeon": 9.0, "alex": 9.5, "wei": 11.0}
"""The others go home this long after opening (or, on a shorter day, just before now): the live floor,
where they are logged out, and their seeded day agree."""
WRAP_UP_S = {"billing": 30.0, "technical": 45.0, "sales": 30.0, "general": 30.0}
NOTES = ("", "", "", "청구서 재발송", "다음 주 재확인", "고객 만족", "요금제 안내")
CALLER_PREFIXES = ("010", "010", "010", "02", "031", "051")
SEEDED_CHANNEL_PREFIX = "seeded-"
"""The seeded calls' channel ids start so: a test tells its live call from the day's."""


@dataclass(frozen=True)
class SeededDay:
    """What was written: for a test to wait on and to say."""

    calls: int
    answered: int
    abandoned: int
    state_changes: int
    opened_at: datetime


@dataclass
class _Agent:
    agent_id: str
    free_at: datetime
    lunch: tuple[datetime, timedelta]
    """When the agent wants to go to lunch, and for how long."""
    lunch_taken: bool = False
    leaves: datetime | None = None
    """When the agent logs out; None: still in at the end of the day."""
    changes: list[AgentStateChange] = field(default_factory=list)

    def set(self, at: datetime, status: str, call_id: str = "", reason: str = "") -> None:
        self.changes.append(AgentStateChange(self.agent_id, at, status, reason, call_id))


def opening_of(now: datetime) -> datetime:
    """08:00 today, or 8 hours ago before 09:00 (so the day always has hours of calls)."""
    local = now.astimezone()
    opening = local.replace(hour=OPENING_HOUR, minute=0, second=0, microsecond=0)
    return opening if local.hour >= OPENING_HOUR + 1 else local - timedelta(hours=8)


def calls_per_minute(since_opening: timedelta) -> float:
    """Arrivals: a morning peak near 11:00, a second after lunch near 14:30, quiet evenings (as if the
    day opened at 08:00, so a day seeded in the small hours is as busy)."""
    hour = OPENING_HOUR + since_opening.total_seconds() / 3600
    return 0.25 + 0.9 * max(0.0, 1 - abs(hour - 11) / 2.5) + 0.7 * max(0.0, 1 - abs(hour - 14.5) / 2) - 0.15 * (hour > 18)


async def seed_busy_day(database_url: str, now: datetime, seed: int = 1588, regular_caller: str = "") -> SeededDay:
    """Create the schema (as `threadline db upgrade` does) and write the day from opening to `now`.

    `regular_caller`, when given, called twice earlier today about billing: the pop's history shows them.
    """
    await upgrade_database(database_url)
    database = create_engine(database_url)
    try:
        return await _write_day(JourneyStore(database), AgentStateStore(database), now, random.Random(seed), regular_caller)
    finally:
        await database.dispose()


async def _write_day(store: JourneyStore, states: AgentStateStore, now: datetime, rng: random.Random, regular_caller: str) -> SeededDay:
    opened_at = opening_of(now)
    end = now - timedelta(minutes=3)  # every call of the seeded day is over before the live one
    agents = {agent_id: _agent(agent_id, opened_at, end, rng) for agent_id in ("minsu", "jiyeon", "alex", "wei", "sora")}
    regular_times = sorted(opened_at + (end - opened_at) * share for share in (0.3, 0.7)) if regular_caller else []
    counts = {"calls": 0, "answered": 0, "abandoned": 0}
    at = opened_at + timedelta(minutes=2)
    while True:
        at += timedelta(minutes=rng.expovariate(calls_per_minute(at - opened_at)))
        regular = bool(regular_times) and regular_times[0] <= at
        if regular:
            at = max(at, regular_times.pop(0))
        if at >= end - timedelta(minutes=12):
            break
        queue = "billing" if regular else rng.choices(list(QUEUE_SHARE), list(QUEUE_SHARE.values()))[0]
        number = regular_caller if regular else rng.choice(CALLER_PREFIXES) + f"{rng.randrange(10**7, 10**8)}"
        counts["calls"] += 1
        answered = await _write_call(store, agents, counts["calls"], number, queue, at, rng)
        counts["answered" if answered else "abandoned"] += 1
    for agent in agents.values():
        if agent.leaves is not None:
            agent.set(max(agent.leaves, agent.free_at), "logged_out")
    changes = [change for agent in agents.values() for change in agent.changes if change.at < now]
    await states.add(sorted(changes, key=lambda change: change.at))
    return SeededDay(counts["calls"], counts["answered"], counts["abandoned"], len(changes), opened_at)


def _agent(agent_id: str, opened_at: datetime, end: datetime, rng: random.Random) -> _Agent:
    """Logged in within the first half hour; a lunch break of 40-60 minutes, staggered from 3.5 hours
    in; the agents not in the live demo leave at their shift's end, or at the end of the seeded day."""
    login = opened_at + timedelta(minutes=rng.uniform(0, 30))
    lunch = (opened_at + timedelta(hours=3.5, minutes=rng.uniform(0, 90)), timedelta(minutes=rng.uniform(40, 60)))
    leaves = None if agent_id in LIVE_AGENTS else min(end, opened_at + timedelta(hours=SHIFT_HOURS.get(agent_id, 9.0), minutes=rng.uniform(0, 20)))
    agent = _Agent(agent_id, login, lunch, leaves=leaves)
    agent.set(login, "available")
    return agent


def _go_to_lunch_if_due(agent: _Agent, at: datetime) -> None:
    """At its lunch time (or after the call it is on) the agent pauses, then comes back available."""
    if agent.lunch_taken or at < agent.lunch[0]:
        return
    start = max(agent.free_at, agent.lunch[0])
    agent.set(start, "paused", reason="lunch")
    agent.free_at = start + agent.lunch[1]
    agent.set(agent.free_at, "available")
    agent.lunch_taken = True


def _free_agent(agents: dict[str, _Agent], queue: str, at: datetime) -> tuple[_Agent, datetime]:
    """The agent who can take a call queued at `at` soonest, the best skilled first; when all of the
    queue's agents have gone home, whoever is still in (the caller overflows to the general queue)."""
    for agent in agents.values():
        _go_to_lunch_if_due(agent, at)
    staying = [agent for agent in agents.values() if agent.leaves is None]
    skilled = [agents[agent_id] for agent_id in AGENTS_OF[queue]]
    on_shift = [agent for agent in skilled if agent.leaves is None or max(agent.free_at, at) < agent.leaves]
    options = [(max(agent.free_at, at), rank, agent) for rank, agent in enumerate(on_shift or staying)]
    ready, _rank, agent = min(options, key=lambda option: option[:2])
    return agent, ready


async def _write_call(store: JourneyStore, agents: dict[str, _Agent], number_of_day: int, caller: str, queue: str,
                      arrived: datetime, rng: random.Random) -> bool:
    """One caller's call, from arrival to the agent's wrap-up (or the caller giving up); True if answered."""
    channel = f"{SEEDED_CHANNEL_PREFIX}{arrived:%Y%m%d}-{number_of_day:04d}"
    opened = await store.open_call(CallerInfo(channel, caller, "", DIALED), arrived, {"channel": f"PJSIP/trunk-{number_of_day:08x}", "caller_number": caller, "dialed": DIALED})
    queued = arrived + timedelta(seconds=rng.uniform(14, 40))  # greeting, lookup, the menu
    journey: list[tuple[datetime, JourneyEventModel]] = [
        (arrived, Answered()), (arrived, FlowStarted(flow=FLOW)), (queued - timedelta(seconds=1), _menu_answer(queue, rng)), (queued, Queued(queue=queue)),
    ]
    agent, ready = _free_agent(agents, queue, queued)
    patience = rng.expovariate(1 / 300)
    waited = (ready - queued).total_seconds() + rng.uniform(2, 8)  # the ring
    if waited > patience:
        gave_up = queued + timedelta(seconds=patience)
        journey.append((gave_up, Abandoned(queue=queue, waited_s=round(patience, 1), while_="waiting")))
        await _append(store, opened.call_id, journey)
        await store.close_call(opened.call_id, gave_up, "caller", 16, "Normal Clearing")
        return False
    ringing, answered = ready, queued + timedelta(seconds=waited)
    talk = rng.lognormvariate(5.3, 0.5)  # about 3.5 minutes, a few much longer
    ended = answered + timedelta(seconds=talk)
    wrap_up = WRAP_UP_S[queue] * rng.uniform(0.5, 1.0)
    free = ended + timedelta(seconds=wrap_up)
    journey += [
        (ringing, AgentRinging(agent=agent.agent_id, waited_s=round((ringing - queued).total_seconds(), 1))),
        (answered, AgentAnswered(agent=agent.agent_id, waited_s=round(waited, 1))),
        (ended, CallEnded(by=rng.choice(("caller", "agent")), agent=agent.agent_id, talk_s=round(talk, 1))),
    ]
    await _append(store, opened.call_id, journey)
    await store.close_call(opened.call_id, ended, "caller", 16, "Normal Clearing")
    after: list[tuple[datetime, JourneyEventModel]] = [(free, WrapUpEnded(agent=agent.agent_id, wrap_up_s=round(wrap_up, 1)))]  # written after the hang-up, as the engine does
    if DISPOSITIONS[queue]:
        after.insert(0, (free, DispositionSet(agent=agent.agent_id, disposition=rng.choice(DISPOSITIONS[queue]), notes=rng.choice(NOTES))))
    await _append(store, opened.call_id, after, first_seq=len(journey) + 3)
    agent.set(ringing, "reserved", channel)
    agent.set(answered, "on_call", channel)
    agent.set(ended, "wrap_up", channel)
    agent.set(free, "available")
    agent.free_at = free
    return True


def _menu_answer(queue: str, rng: random.Random) -> JourneyEventModel:
    """How the caller chose at the menu: a key or a phrase; "agent" (the general queue) is a global phrase."""
    if queue == "general":
        return Recognised(intent="agent", confidence=0.82, phrase="상담원 연결", band="global")
    if rng.random() < 0.55:
        return IntentChosen(node="menu", intent=queue, into="intent", key=MENU_KEYS[queue])
    return IntentChosen(node="menu", intent=queue, into="intent", confidence=round(rng.uniform(0.72, 0.97), 2), phrase=rng.choice(MENU_PHRASES[queue]), band="accept")


async def _append(store: JourneyStore, call_id: int, journey: list[tuple[datetime, JourneyEventModel]], first_seq: int = 2) -> None:
    """Each event stored as the engine stores it: its kind and detail from the journey's codec (1 is `arrived`)."""
    for seq, (at, event) in enumerate(journey, start=first_seq):
        kind, detail = to_stored(event)
        await store.add_event(call_id, kind, at, detail, seq=seq)

