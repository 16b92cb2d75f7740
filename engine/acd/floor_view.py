"""The supervisor's live floor: queues, agents and today's KPIs, pushed to supervisor pages.

An adapter: the live part (who waits, since when; each agent's state) comes from the
CallDistributor's memory once a second; today's KPIs are computed from the journey and the agent
state log in the database with the one shared implementation of the formulas
(engine/acd/contact_metrics.py), which the historical reports use too. Agent state changes are
written here as well, in batches off the call path, so occupancy survives an engine restart.
Each published floor is also a sample of the day's history (engine/acd/floor_history.py) for the
wallboard charts; the first KPI refresh of a day backfills that history from the same database
reads, so a restarted engine still charts the morning.
"Callers waiting" on the charts means callers on the line now, ringing an agent included: a callback
owed is not a caller waiting (the caller hung up; the backfill ends a callback's wait at its request),
so the live samples leave the floor's callback entries out and both halves of the chart agree.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime, time as time_of_day, timedelta
from typing import Any

from engine.config.acd_config import AcdConfig
from engine.acd.agent_board import shown
from engine.acd.agent_state import Status
from engine.acd.call_distributor import CallDistributor
from engine.acd.queued_call_facts import Phase
from engine.acd.contact_metrics import FORMULAS, STATE_LOOKBACK, VISIT_KINDS, AgentInterval, QueueVisit, intervals_from_changes, occupancy, occupancy_by_agent, queue_kpis, visits_from_journey
from engine.acd.floor_history import FloorHistory, FloorPoint, backfill_points
from engine.store.agent_state_store import AgentStateChange, AgentStateStore
from engine.store.journey_store import JourneyStore

log = logging.getLogger(__name__)
PUBLISH_EVERY_S = 1.0
KPI_EVERY_S = 3.0
DATABASE_TIMEOUT_S = 5.0
MAX_PENDING_STATES = 100_000


def start_of_today(now: datetime) -> datetime:
    """Local midnight: "today" is the contact centre's day, in the engine's time zone. Combined
    afresh so it carries midnight's own UTC offset, not now's: on a daylight-saving day they differ
    by an hour, and a midnight that moved would look like a new day (history wiped mid-day)."""
    return datetime.combine(now.astimezone().date(), time_of_day()).astimezone()


def live_floor(distributor: CallDistributor) -> dict[str, Any]:
    """The live floor for supervisors: each queue's waiting callers in line order, its longest
    wait and its agents by state; each agent's state. Time in seconds, rounded."""
    config = distributor.config
    if config is None:
        return {"queues": {}, "agents": {}}
    now = distributor.clock()
    states = {agent_id: ledger.state(now) for agent_id, ledger in distributor.agents.ledgers.items()}
    calls = {call.caller_id: (call, snapshot) for call, snapshot in distributor.calls()}
    queues: dict[str, Any] = {}
    for name, settings in config.queues.items():
        waiting: list[dict[str, Any]] = [
            {"call_id": w.call_id, "number": calls[w.call_id][1].caller_number if w.call_id in calls else "", "waited_s": round(now - w.enqueued_at, 1),
             "position": i, "ringing": "", "callback": bool(w.call_id in calls and calls[w.call_id][0].callback)}
            for i, w in enumerate(distributor.router.line(name, now), start=1)
        ] + [
            {"call_id": call.caller_id, "number": snapshot.caller_number, "waited_s": round(now - call.enqueued_at, 1), "position": 0,
             "ringing": call.agent_id, "callback": call.callback}
            for call, snapshot in calls.values() if call.queue == name and call.phase in (Phase.RINGING, Phase.CALLBACK_RINGING)
        ]
        serving = [agent_id for agent_id, agent in config.agents.items() if all(agent.skills.get(skill, 0) >= 1 for skill in settings.skills)]
        by_state: dict[str, int] = {}
        for agent_id in serving:
            status = states[agent_id].status.value if agent_id in states else Status.LOGGED_OUT.value
            by_state[status] = by_state.get(status, 0) + 1
        queues[name] = {
            "waiting": waiting,
            "longest_wait_s": max((float(entry["waited_s"]) for entry in waiting), default=0.0),
            "agents": by_state,
            "service_level_s": settings.service_level.seconds,
            "target_percent": settings.service_level.target_percent,
        }
    agents = {
        agent_id: {"name": agent.name, **shown(states[agent_id], now)} if agent_id in states else {"name": agent.name, "status": "logged_out"}
        for agent_id, agent in config.agents.items()
    }
    return {"queues": queues, "agents": agents, "failed_callbacks": list(distributor.failed_callbacks)}


class FloorView:
    def __init__(
        self,
        distributor: CallDistributor,
        journeys: JourneyStore,
        agent_states: AgentStateStore,
        publish: Callable[[dict[str, Any]], None],
        config: Callable[[], AcdConfig | None],
        publish_queues: Callable[[dict[str, dict[str, Any]]], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
        publish_history: Callable[[Callable[[], dict[str, Any]], dict[str, Any] | None], None] | None = None,
    ) -> None:
        self._distributor = distributor
        self._journeys = journeys
        self._agent_states = agent_states
        self._publish = publish
        self._publish_queues = publish_queues
        self._config = config
        self._wall_clock = wall_clock
        self._pending: list[AgentStateChange] = []
        self._kpis: dict[str, Any] = {"queues": {}, "occupancy": None, "agents": {}, "as_of": None}
        self._kpis_at = 0.0
        self._publish_history = publish_history
        self._history = FloorHistory(start_of_today(self._now()).timestamp())
        self._backfilled_day: float | None = None
        self._history_sent: dict[str, Any] | None = None

    def state_changed(self, agent_id: str, status: str, reason: str, call_id: str) -> None:
        """From the distributor (StateLog): queued for the database, never awaited on the call path."""
        if len(self._pending) >= MAX_PENDING_STATES:
            log.error("agent state log: %d changes not yet written; dropping the oldest", len(self._pending))
            del self._pending[: MAX_PENDING_STATES // 10]
        self._pending.append(AgentStateChange(agent_id, self._now(), status, reason, call_id))

    def snapshot(self) -> dict[str, Any]:
        live = live_floor(self._distributor)
        return {**live, "kpis": self._kpis, "formulas": FORMULAS, "at": self._now().isoformat(timespec="seconds")}

    async def run(self) -> None:
        """Until cancelled: write state changes, refresh the KPIs now and then, publish every second."""
        try:
            while True:
                await self._write_states()
                if time.monotonic() - self._kpis_at >= KPI_EVERY_S:
                    self._kpis_at = time.monotonic()
                    await self._refresh_kpis()
                snapshot = self.snapshot()
                self._publish(snapshot)
                if self._publish_queues is not None:  # agents see their line, rounded to the second
                    self._publish_queues({name: {"waiting": len(q["waiting"]), "longest_wait_s": round(q["longest_wait_s"])} for name, q in snapshot["queues"].items()})
                self._sample_history(snapshot)
                await asyncio.sleep(PUBLISH_EVERY_S)
        finally:
            await asyncio.shield(self._write_states())

    def _sample_history(self, snapshot: dict[str, Any]) -> None:
        """The floor as a history sample; pages get the minute's column when it changed, or the
        whole day when a new day began."""
        if self._publish_history is None:
            return
        now = self._now()
        if self._history.add(floor_sample(snapshot, now.timestamp()), start_of_today(now).timestamp()):
            self._history_sent = None
            self._publish_history(self._history.series, None)
            return
        latest = self._history.series(self._history.latest_minute())
        if latest != self._history_sent:
            self._history_sent = latest
            self._publish_history(self._history.series, latest)

    async def _write_states(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_S):
                await self._agent_states.add(batch)
        except Exception as exc:  # the database is down or slow: keep them for the next try
            log.warning("agent state log not written (%d changes kept): %s", len(batch), exc)
            self._pending[:0] = batch

    async def _refresh_kpis(self) -> None:
        config = self._config()
        if config is None:
            return
        now = self._now()
        start = start_of_today(now)
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_S):
                events = await self._journeys.events_of_kinds_since(VISIT_KINDS, start)
                changes = await self._agent_states.changes_between(start - STATE_LOOKBACK, now + timedelta(seconds=1))  # each agent's state at midnight
        except Exception as exc:  # the database is down or slow: KPIs stay as they were; the live part goes on
            log.warning("supervisor KPIs not refreshed: %s", exc)
            return
        backfill = self._backfilled_day != start.timestamp()
        self._kpis, points = await asyncio.to_thread(today_kpis, config, events, changes, start.timestamp(), now.timestamp(), backfill)  # a busy day's journeys are CPU work
        if points is not None:
            self._backfilled_day = start.timestamp()
            if self._history.day_start == start.timestamp():
                self._history.backfill(points, start.timestamp())
                self._history_sent = None
                if self._publish_history is not None:
                    self._publish_history(self._history.series, None)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall_clock()).astimezone()


def today_kpis(
    config: AcdConfig,
    events: list[tuple[str, str, datetime, dict[str, Any]]],
    changes: list[AgentStateChange],
    start: float,
    now: float,
    backfill: bool = False,
) -> tuple[dict[str, Any], list[FloorPoint] | None]:
    """Per queue and per agent, from the day's journey events and agent state changes; with
    `backfill`, also the day's history minute by minute from the same facts."""
    short = {name: queue.short_abandon_s for name, queue in config.queues.items()}
    per_call: dict[str, list[tuple[str, float, Mapping[str, Any]]]] = {}
    for channel_id, kind, at, detail in events:
        per_call.setdefault(channel_id, []).append((kind, at.timestamp(), detail))
    visits: list[QueueVisit] = [visit for call_id, journey in per_call.items() for visit in visits_from_journey(call_id, journey, short, now)]
    queues = {
        name: _rounded(asdict(queue_kpis([v for v in visits if v.queue == name], settings.service_level.seconds)))
        for name, settings in config.queues.items()
    }
    intervals = today_intervals([(c.agent_id, c.at.timestamp(), c.status) for c in changes], start, now)
    overall = occupancy(intervals, start, now)
    agents = {agent: (round(value, 3) if value is not None else None) for agent, value in occupancy_by_agent(intervals, start, now).items()}
    kpis = {"queues": queues, "occupancy": round(overall, 3) if overall is not None else None, "agents": agents, "as_of": datetime.fromtimestamp(now).astimezone().isoformat(timespec="seconds")}
    return kpis, (_history_points(config, visits, intervals, start, now) if backfill else None)


def today_intervals(changes: list[tuple[str, float, str]], start: float, now: float) -> list[AgentInterval]:
    """Each agent's states from `start` (midnight) to `now`, from changes read with a look-back: an
    agent whose last change was yesterday is in that state from midnight, not missing from the day."""
    return [
        AgentInterval(i.agent, i.status, max(i.start, start), i.end)
        for i in intervals_from_changes(changes, now)
        if i.end > start
    ]


def _history_points(config: AcdConfig, visits: list[QueueVisit], intervals: list[AgentInterval], start: float, now: float) -> list[FloorPoint]:
    thresholds = {name: float(queue.service_level.seconds) for name, queue in config.queues.items()}
    return backfill_points([v for v in visits if v.queue in thresholds], intervals, thresholds, start, now)


def floor_sample(snapshot: Mapping[str, Any], at: float) -> FloorPoint:
    """A published floor as a history sample: callers waiting (on the line now; callbacks owed are
    not) and today's service level per queue, all agents by state."""
    levels = snapshot.get("kpis", {}).get("queues", {})
    by_state: dict[str, int] = {}
    for agent in snapshot["agents"].values():
        by_state[agent["status"]] = by_state.get(agent["status"], 0) + 1
    return FloorPoint(
        at,
        {name: sum(1 for entry in queue["waiting"] if not entry.get("callback")) for name, queue in snapshot["queues"].items()},
        {name: levels.get(name, {}).get("service_level") for name in snapshot["queues"]},
        by_state,
    )


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in values.items()}
