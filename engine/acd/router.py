"""The router: which waiting caller goes to which free agent. Pure: facts in, offers out.

Callers are ordered across every queue an agent serves by effective priority, then by how long
they have waited. Effective priority is the queue's (or the call's) priority plus one level for
every `aging_s` waited, so a low-priority queue is never starved: after enough waiting its caller
outranks newly arrived high-priority callers (the aging rule). An agent is chosen by skill match:
every required skill at or above the required proficiency, which relaxes with the caller's wait
(`relax` steps, e.g. after 60 s one level lower, after 120 s any proficiency); among those, the
best proficiency, then the longest idle. A caller keeps its place (its enqueue time) while its
requirements relax and when a ring goes unanswered.

Indexes keep decisions cheap at 10,000 agents: available agents by skill, queues by the skill set
they need, and each queue's callers in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Relaxation:
    after_s: float
    lower_by: int | None
    """Proficiency levels accepted below the requirement; None accepts any proficiency."""


@dataclass(frozen=True)
class QueueRule:
    name: str
    skills: Mapping[str, int]
    """Required skill -> minimum proficiency 1..5."""
    priority: int = 5
    relax: tuple[Relaxation, ...] = ()
    aging_s: float = 60.0


@dataclass(frozen=True)
class WaitingCall:
    call_id: str
    queue: str
    enqueued_at: float
    """Its place in line: kept when requirements relax or a ring goes unanswered."""
    priority: int | None = None
    """Overrides the queue's priority (a flow's queue node may set one)."""
    extra_skills: Mapping[str, int] = field(default_factory=dict)
    """Skills the flow asked for on top of the queue's (e.g. korean)."""


@dataclass(frozen=True)
class Offer:
    call_id: str
    agent_id: str
    queue: str
    waited_s: float
    relaxed: bool
    """True when the agent was accepted only because the caller's requirements had relaxed."""


@dataclass
class _Agent:
    agent_id: str
    skills: dict[str, int]
    idle_since: float


class Router:
    def __init__(self, queues: Iterable[QueueRule]) -> None:
        self.queues: dict[str, QueueRule] = {rule.name: rule for rule in queues}
        self._waiting: dict[str, dict[str, WaitingCall]] = {name: {} for name in self.queues}
        """Per queue, callers by call id, in insertion order (sorted on demand: queues are short)."""
        self._calls: dict[str, WaitingCall] = {}
        self._available: dict[str, _Agent] = {}
        self._by_skill: dict[str, set[str]] = {}
        self._agent_queues: dict[frozenset[str], tuple[str, ...]] = {}

    # -- facts -----------------------------------------------------------------------------

    def caller_waiting(self, call: WaitingCall) -> None:
        if call.queue not in self.queues:
            raise KeyError(f"unknown queue `{call.queue}`")
        self.caller_left(call.call_id)
        self._waiting[call.queue][call.call_id] = call
        self._calls[call.call_id] = call

    def caller_left(self, call_id: str) -> None:
        """Answered by an agent, hung up, or moved to a callback elsewhere: no longer waiting."""
        call = self._calls.pop(call_id, None)
        if call is not None:
            self._waiting[call.queue].pop(call_id, None)

    def agent_available(self, agent_id: str, skills: Mapping[str, int], idle_since: float) -> None:
        self.agent_busy(agent_id)
        self._available[agent_id] = _Agent(agent_id, dict(skills), idle_since)
        for skill in skills:
            self._by_skill.setdefault(skill, set()).add(agent_id)

    def agent_busy(self, agent_id: str) -> None:
        """Reserved, on a call, in wrap-up, paused, unregistered or logged out: not routable."""
        agent = self._available.pop(agent_id, None)
        if agent is not None:
            for skill in agent.skills:
                self._by_skill[skill].discard(agent_id)

    @property
    def waiting_count(self) -> int:
        return len(self._calls)

    @property
    def available_count(self) -> int:
        return len(self._available)

    # -- decisions -------------------------------------------------------------------------

    def offers(self, now: float) -> list[Offer]:
        """Match callers to free agents, best-ranked caller first, until no more pairs fit.

        The offered agents and callers are taken out of the pool: the adapter reports them back
        (caller_waiting again after a ring failure, with its original enqueue time)."""
        made: list[Offer] = []
        for call in self._ranked(now):
            if not self._available:
                break
            offer = self._best_agent(call, now)
            if offer is not None:
                made.append(offer)
                self.caller_left(call.call_id)
                self.agent_busy(offer.agent_id)
        return made

    def offer_for_caller(self, call_id: str, now: float) -> Offer | None:
        """A caller just arrived: the best free agent for it, if any. Callers ranked above it cannot
        want that agent (it would have been offered to them when it became free); requirements that
        relax with time are picked up by the periodic `offers` sweep."""
        call = self._calls.get(call_id)
        if call is None or not self._available:
            return None
        offer = self._best_agent(call, now)
        if offer is not None:
            self.caller_left(call_id)
            self.agent_busy(offer.agent_id)
        return offer

    def offer_for_agent(self, agent_id: str, now: float) -> Offer | None:
        """The best caller for an agent who just became free, if any can be served by them."""
        agent = self._available.get(agent_id)
        if agent is None:
            return None
        queues = self._queues_for(agent)
        candidates = [call for name in queues for call in self._waiting[name].values()]
        for call in sorted(candidates, key=lambda c: self._rank(c, now)):
            relaxed = self._fits(agent, call, now)
            if relaxed is not None:
                self.caller_left(call.call_id)
                self.agent_busy(agent_id)
                return Offer(call.call_id, agent_id, call.queue, now - call.enqueued_at, relaxed)
        return None

    def line(self, queue: str, now: float) -> list[WaitingCall]:
        """A queue's waiting callers in the order they will be served (for positions and the supervisor)."""
        return sorted(self._waiting.get(queue, {}).values(), key=lambda c: self._rank(c, now))

    def _ranked(self, now: float) -> list[WaitingCall]:
        return sorted(self._calls.values(), key=lambda c: self._rank(c, now))

    def _rank(self, call: WaitingCall, now: float) -> tuple[float, float, str]:
        rule = self.queues[call.queue]
        priority = rule.priority if call.priority is None else call.priority
        aged = int(max(0.0, now - call.enqueued_at) // rule.aging_s) if rule.aging_s > 0 else 0
        return (-(priority + aged), call.enqueued_at, call.call_id)

    def required(self, call: WaitingCall, now: float) -> tuple[dict[str, int], bool]:
        """The skills the caller needs now (relaxed by its wait), and whether they were relaxed."""
        rule = self.queues[call.queue]
        needed = {**rule.skills, **call.extra_skills}
        waited = now - call.enqueued_at
        steps = [step for step in rule.relax if waited >= step.after_s]
        if not steps:
            return needed, False
        step = max(steps, key=lambda s: s.after_s)
        if step.lower_by is None:
            return {skill: 1 for skill in needed}, True
        return {skill: max(1, level - step.lower_by) for skill, level in needed.items()}, True

    def _best_agent(self, call: WaitingCall, now: float) -> Offer | None:
        needed, relaxed = self.required(call, now)
        pools = sorted((self._by_skill.get(skill, set()) for skill in needed), key=len)
        if not pools:
            candidates: Iterable[str] = self._available
        else:
            smallest, *others = pools
            candidates = (a for a in smallest if all(a in pool for pool in others))
        best: tuple[tuple[int, float, str], _Agent] | None = None
        for agent_id in candidates:
            agent = self._available[agent_id]
            if any(agent.skills.get(skill, 0) < level for skill, level in needed.items()):
                continue
            key = (-sum(agent.skills.get(skill, 0) for skill in needed), agent.idle_since, agent_id)
            if best is None or key < best[0]:
                best = (key, agent)
        if best is None:
            return None
        strict, _ = self.required(call, call.enqueued_at)
        was_relaxed = relaxed and any(best[1].skills.get(skill, 0) < level for skill, level in strict.items())
        return Offer(call.call_id, best[1].agent_id, call.queue, now - call.enqueued_at, was_relaxed)

    def _fits(self, agent: _Agent, call: WaitingCall, now: float) -> bool | None:
        """None if the agent cannot take the call now; else whether it took relaxing to fit."""
        needed, relaxed = self.required(call, now)
        if any(agent.skills.get(skill, 0) < level for skill, level in needed.items()):
            return None
        strict, _ = self.required(call, call.enqueued_at)
        return relaxed and any(agent.skills.get(skill, 0) < level for skill, level in strict.items())

    def _queues_for(self, agent: _Agent) -> tuple[str, ...]:
        """Queues whose skills the agent has at all (proficiency is checked per caller)."""
        signature = frozenset(agent.skills)
        cached = self._agent_queues.get(signature)
        if cached is None:
            cached = tuple(name for name, rule in self.queues.items() if set(rule.skills) <= signature)
            self._agent_queues[signature] = cached
        return cached
