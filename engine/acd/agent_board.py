"""The agents' side of the ACD: one AgentLedger per agent, what the router may offer them, and
what their pages are told.

Every state comes from the agent's ledger (engine/acd/agent_state.py), so it is derived from
events and cannot get stuck; a change of status, by an event or by time (wrap-up ending), is
published and logged once. Agents are available while a phone is registered (the SIP softphone
or the browser phone in the agent page, engine/acd/agent_phones.py) until the agent desktop gives
them explicit states (`acd.login = phone`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from engine.acd.agent_phones import PhoneRegistrations, agent_endpoints
from engine.acd.agent_state import AgentEvent, AgentLedger, AgentState, EventKind, Status
from engine.acd.refusal import Refusal
from engine.acd.router import Offer, Router
from engine.acd.wait_estimate import expected_remaining
from engine.config.acd_config import AcdConfig, AgentSettings

log = logging.getLogger(__name__)
MAX_NOTES = 2000


class AgentListener(Protocol):
    """Who hears about agents and offers (the agent desktop's hub)."""

    def agent_changed(self, agent_id: str, state: dict[str, Any]) -> None: ...

    def call_offered(self, agent_id: str, pop: dict[str, Any]) -> None: ...

    def call_cleared(self, agent_id: str, call_id: str) -> None: ...


StateLog = Callable[[str, str, str, str], None]
"""(agent, status, reason, call id): an agent's state changed; kept for occupancy and reports."""
WrapUpEnded = Callable[[str, str, float], Coroutine[Any, Any, Any]]
"""(caller channel id, agent, wrap-up seconds): into that call's journey."""


class AgentBoard:
    def __init__(
        self,
        clock: Callable[[], float],
        offer: Callable[[list[Offer]], None],
        ring_ran_out: Callable[[str], None],
        spawn: Callable[[str, Coroutine[Any, Any, Any]], object],
        listener: AgentListener | None = None,
        state_log: StateLog | None = None,
        wrap_up_ended: WrapUpEnded | None = None,
        login_by_phone: bool = True,
    ) -> None:
        self._clock = clock
        self._offer = offer
        self._ring_ran_out = ring_ran_out
        self._spawn = spawn
        self.listener = listener
        self._state_log = state_log
        self._wrap_up_ended = wrap_up_ended
        self._login_by_phone = login_by_phone
        self.router = Router(())
        self._config: AcdConfig | None = None
        self.ledgers: dict[str, AgentLedger] = {}
        self.by_extension: dict[str, str] = {}
        self.by_endpoint: dict[str, str] = {}
        """Both PJSIP endpoints of every agent (softphone and browser phone) -> agent id."""
        self.phones = PhoneRegistrations()
        self._published: dict[str, AgentState] = {}
        """The state each agent was last reported in: a change (also one that came by time) is logged once."""
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._sequence = 0
        self.monitoring: set[str] = set()
        """People monitoring a call (engine/acd/call_monitor.py): an agent among them is offered no
        queue call until their session ends; their state is otherwise unchanged."""

    def configure(self, config: AcdConfig, router: Router) -> None:
        """Agents of a (re)loaded configuration; removed agents are logged out."""
        self._config, self.router = config, router
        for agent_id in config.agents:
            self.ledgers.setdefault(agent_id, AgentLedger(agent_id))
        for gone in set(self.ledgers) - set(config.agents):
            self.note(gone, EventKind.LOGOUT)
            del self.ledgers[gone]
        self.by_extension = {agent.extension: agent_id for agent_id, agent in config.agents.items()}
        self.by_endpoint = {endpoint: agent_id for agent_id, agent in config.agents.items() for endpoint in agent_endpoints(agent.extension)}
        for agent_id, registered in self.phones.keep_only({agent_id: agent.extension for agent_id, agent in config.agents.items()}).items():
            self.registration(agent_id, "online" if registered else "offline")
        for agent_id in config.agents:
            self.sync(agent_id)

    def state(self, agent_id: str) -> AgentState | None:
        ledger = self.ledgers.get(agent_id)
        return ledger.state(self._clock()) if ledger is not None else None

    def agent(self, agent_id: str) -> AgentSettings | None:
        return self._config.agents.get(agent_id) if self._config is not None else None

    def shown_state(self, agent_id: str) -> dict[str, Any] | None:
        state = self.state(agent_id)
        return shown(state, self._clock()) if state is not None else None

    def status_all(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {agent_id: shown(ledger.state(now), now) for agent_id, ledger in self.ledgers.items()}

    def routable(self, agent_id: str) -> bool:
        now = self._clock()
        ledger = self.ledgers.get(agent_id)
        return ledger is not None and ledger.state(now).routable(now) and agent_id not in self.monitoring

    def set_monitoring(self, agent_id: str, monitoring: bool) -> None:
        """A person's monitoring session started or ended: while it runs they are not routable."""
        if monitoring:
            self.monitoring.add(agent_id)
        else:
            self.monitoring.discard(agent_id)
        self.sync(agent_id)

    def endpoint_state(self, endpoint: str, state: str) -> bool:
        """One of an agent's phones went online or offline; the agent is registered while either is.
        Only a change of that combined state is passed on: one of two phones going offline must not
        count as a new registration (which logs a logged-out agent back in). False if the endpoint
        is no agent's."""
        agent_id = self.by_endpoint.get(endpoint)
        agent = self.agent(agent_id) if agent_id is not None else None
        if agent_id is None or agent is None:
            return False
        registered = self.phones.changed(endpoint, state, agent_id, agent.extension)
        if registered is not None:
            self.registration(agent_id, "online" if registered else "offline")
        return True

    def dial_target(self, extension: str) -> str:
        """The agent's browser phone while it is registered, else the softphone."""
        return self.phones.dial_target(extension)

    def registration(self, agent_id: str, state: str) -> None:
        ledger = self.ledgers.get(agent_id)
        if ledger is None:
            return
        if state == "online":
            self.note(agent_id, EventKind.REGISTERED)
            if self._login_by_phone and ledger.state(self._clock()).status is Status.LOGGED_OUT:
                # acd.login = phone: a registered softphone is a logged-in, ready agent.
                self.note(agent_id, EventKind.LOGIN)
                self.note(agent_id, EventKind.READY)
        elif state == "offline":
            self.note(agent_id, EventKind.UNREGISTERED)

    def action(self, agent_id: str, action: str, reason: str = "") -> None:
        """The agent (or a supervisor) chose a state on the desktop: available, paused (with a reason) or logged out."""
        kinds = {"available": EventKind.READY, "paused": EventKind.PAUSE, "logged_out": EventKind.LOGOUT, "logged_in": EventKind.LOGIN}
        state = self.state(agent_id)
        if action == "available" and state is not None and state.status is Status.LOGGED_OUT:
            self.note(agent_id, EventKind.LOGIN)
        self.note(agent_id, kinds[action], reason=reason)

    def extend_wrap_up(self, agent_id: str, seconds: float) -> str | None:
        """The agent needs longer for their notes: wrap-up ends `seconds` later (at most 10 minutes more)."""
        state = self.state(agent_id)
        if state is None or state.status is not Status.WRAP_UP:
            return Refusal("not_in_wrap_up", "you are not in wrap-up")
        self.note(agent_id, EventKind.WRAP_UP_EXTENDED, seconds=max(1.0, min(seconds, 600.0)))
        return None

    def note(self, agent_id: str, kind: EventKind, call_id: str = "", reason: str = "", seconds: float = 0.0) -> None:
        ledger = self.ledgers.get(agent_id)
        if ledger is None:
            return
        self._sequence += 1
        ledger.record(AgentEvent(f"acd-{self._sequence}", self._clock(), kind, call_id, reason, seconds))
        self.sync(agent_id)

    def sync(self, agent_id: str) -> None:
        """Tell the router whether the agent can take a call now; if so, offer one; arm the end of a timed state."""
        ledger = self.ledgers.get(agent_id)
        if ledger is None or self._config is None or agent_id not in self._config.agents:
            return
        now = self._clock()
        state = ledger.state(now)
        self._publish(agent_id, state, now)
        handle = self._timers.pop(agent_id, None)
        if handle is not None:
            handle.cancel()
        if state.routable(now) and agent_id not in self.monitoring:
            self.router.agent_available(agent_id, self._config.agents[agent_id].skills, state.idle_since)
            offer = self.router.offer_for_agent(agent_id, now)
            if offer is not None:
                self._offer([offer])
            return
        self.router.agent_busy(agent_id)
        if state.status is Status.PAUSED and state.reason == "no-answer":
            self._ring_ran_out(agent_id)
        if state.status in (Status.WRAP_UP, Status.RESERVED) and state.until > now:
            self._timers[agent_id] = asyncio.get_running_loop().call_later(state.until - now + 0.01, self.sync, agent_id)

    def _publish(self, agent_id: str, state: AgentState, now: float) -> None:
        """Tell the agent's pages, and log a change of status once, whether an event or time made it."""
        before = self._published.get(agent_id)
        if before is not None and (before.status, before.reason, before.registered, before.call_id, before.until) == (state.status, state.reason, state.registered, state.call_id, state.until):
            return
        self._published[agent_id] = state
        if self.listener is not None:
            self.listener.agent_changed(agent_id, shown(state, now))
        if before is not None and (before.status, before.reason) == (state.status, state.reason):
            return  # registration or a wrap-up extension: shown, but not a change of status
        log.info("agent %s: %s -> %s%s", agent_id, before.status.value if before else "-", state.status.value, f" ({state.reason})" if state.reason else "")
        if self._state_log is not None:
            self._state_log(agent_id, state.status.value, state.reason, state.call_id)
        if before is not None and before.status is Status.WRAP_UP and self._wrap_up_ended is not None:
            wrap_up_s = round(max(0.0, min(now, before.until) - before.since), 1)
            self._spawn(f"wrap-up-ended-{agent_id}", self._wrap_up_ended(before.call_id, agent_id, wrap_up_s))

    def staffing(self, needed: dict[str, int], mean_handle_s: float) -> tuple[int, list[float]]:
        """Agents staffed for a queue's skills (not paused, logged out or unregistered) and, for
        each, the expected seconds until they are free."""
        assert self._config is not None
        now = self._clock()
        busy: list[float] = []
        for agent_id, agent in self._config.agents.items():
            ledger = self.ledgers.get(agent_id)
            if ledger is None or any(agent.skills.get(skill, 0) < 1 for skill in needed):
                continue
            state = ledger.state(now)
            if not state.registered or state.status in (Status.PAUSED, Status.LOGGED_OUT):
                continue
            if state.status is Status.AVAILABLE:
                busy.append(0.0)
            elif state.status is Status.WRAP_UP:
                busy.append(max(0.0, state.until - now))
            elif state.status is Status.ON_CALL:
                busy.append(expected_remaining(now - state.since, mean_handle_s))
            else:
                busy.append(mean_handle_s)  # ringing: about to start a call
        return len(busy), busy

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


def shown(state: AgentState, now: float | None = None) -> dict[str, Any]:
    """An agent's state as the pages show it."""
    view: dict[str, Any] = {"status": state.status.value, "reason": state.reason, "registered": state.registered, "call_id": state.call_id}
    if now is not None:
        view["since_s"] = round(now - state.since, 1)
    if state.status is Status.WRAP_UP and now is not None:
        view["wrap_up_left_s"] = round(max(0.0, state.until - now), 1)
    return view
