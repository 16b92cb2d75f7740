"""The ACD's adapter: turns ARI events, the router's offers and agents' requests into facts for
each call's pure core (engine/acd/queued_call.py), and carries the core's commands out.

One caller, one owner: each queued call's facts are handled one at a time, in order, by that
call's own task here. What the core wants done to the caller (say, hush, listen, continue the
flow, hang up) is posted to the caller's CallSession, the only task that commands the caller's
channel, which carries it out under its one failure policy. Agent-side commands (ring, bridges,
hold, dial back, agents' ledgers, the journey) are carried out here; one Asterisk refuses becomes a
StepFailed fact, so the core decides what the caller needs (never silence).

A flow's `queue` node hands its caller here. The caller waits in the queue's holding bridge with
music on hold; the router picks the agent; the agent's softphone is called into our Stasis app
(`tl-agent-…` channels); when the agent answers, caller and agent are joined in a mixing bridge.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from engine.acd import queued_call_facts as core
from engine.acd.acd_ports import CallerInbox, CallSnapshot, ConversationRecorder, History, Record, SaveToJourney
from engine.acd.agent_board import MAX_NOTES, AgentBoard, AgentListener, StateLog
from engine.acd.agent_side import AcdCall, AgentSide, waiting_call
from engine.acd.callback_limits import CallbackLimits, RecentCallbacks
from engine.acd.callback_numbers import NumberSource, Verdict
from engine.acd.pop_sender import PopSender
from engine.acd.queue_bridges import AGENT_LEG_PREFIX, CALL_BRIDGE_PREFIX, CALLBACK_LEG_PREFIX, BridgeControl
from engine.acd.queued_call import QueuedCall, adopted_conversation, restored_callback
from engine.acd.queued_call_facts import Fact, Phase
from engine.acd.refusal import Refusal
from engine.acd.router import Offer, QueueRule, Relaxation, Router
from engine.acd.wait_estimate import HandleTimes, estimate_wait, spoken_wait
from engine.asterisk.ari_events import AriEvent, ChannelDestroyed, EndpointStateChanged, StasisStarted
from engine.asterisk.errors import AsteriskError
from engine.config.acd_config import AcdConfig, QueueSettings
import engine.journey.events as journey
from engine.journey.channel_events import HandoffClaimed
from engine.journey.events import to_stored
from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
SWEEP_S = 1.0
CALLER_LEFT_WAIT_S = 5.0
"""How long a caller's session waits for the ACD to record the end of the call before it closes the journey."""
RING_FAILURES = {17: "busy", 18: "no-answer", 19: "no-answer", 20: "unavailable", 21: "rejected", 3: "unavailable", 34: "congestion", 38: "unavailable", 127: "unavailable"}
"""Q.850 causes of an agent leg that ended before it was answered."""


class CallDistributor:
    def __init__(
        self,
        ari: BridgeControl,
        clock: Callable[[], float] = time.monotonic,
        listener: AgentListener | None = None,
        history: History | None = None,
        save: SaveToJourney | None = None,
        state_log: StateLog | None = None,
        login_by_phone: bool = True,
        recorder: ConversationRecorder | None = None,
        recent_callbacks: RecentCallbacks | None = None,
        wall_clock: Callable[[], float] = time.time,
        call_ended: Callable[[str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._ari = ari
        self._call_ended = call_ended
        """Told (in a task of its own) each call the ACD is done with: a chat of its contact hears it."""
        self._clock = clock
        self._wall_clock = wall_clock
        self._save = save
        self._tasks = TaskOwner("acd")
        self.agents = AgentBoard(clock, self._offer, self._ring_ran_out, self._spawn, listener, state_log, self._wrap_up_ended, login_by_phone)
        self._limits = CallbackLimits(recent_callbacks, wall_clock)
        self.side = AgentSide(ari, self.agents, PopSender(listener, history), self._limits, self._spawn, clock,
                              self._offer, self.serves, self._still_holding, recorder, save)
        self.bridges = self.side.bridges
        self.recorder = recorder
        self._config: AcdConfig | None = None
        self._calls: dict[str, AcdCall] = {}
        self._continues: dict[str, str] = {}
        """Callback leg -> the chat leg it goes on from (told when the callback connects)."""
        self._closing = False

    @property
    def failed_callbacks(self) -> deque[dict[str, Any]]:
        """Callbacks that failed every attempt: shown on the supervisor's floor."""
        return self.side.failed_callbacks

    @property
    def handle_times(self) -> HandleTimes:
        return self.side.handle_times

    @property
    def router(self) -> Router:
        return self.agents.router

    @property
    def config(self) -> AcdConfig | None:
        return self._config

    def clock(self) -> float:
        return self._clock()

    # -- configuration and the once-a-second sweep ---------------------------------------------

    def serves(self, queue: str) -> bool:
        return self._config is not None and queue in self._config.queues

    def configure(self, config: AcdConfig) -> None:
        """Queues and agents of a (re)loaded configuration; waiting callers keep their place."""
        self._config = config
        router = Router(_rule(name, queue) for name, queue in config.queues.items())
        for actor in self._calls.values():
            call = actor.core
            # A call in a queue the reload removed keeps that queue's settings to its end (it is
            # offered no agent any more: an agent who was ringing or talking finishes the call).
            call.queues = config.queues if call.queue in config.queues else {**config.queues, call.queue: call.queues[call.queue]}
            if call.in_line and call.queue in config.queues:
                router.caller_waiting(waiting_call(call))
        self.agents.configure(config, router)

    async def watch_agents(self) -> None:
        """Subscribe to both endpoints of every agent (softphone and browser phone) and read their
        registration now; then, once a second,
        make the router's offers and tell each waiting call the time (announcements, overflow).
        Run under the background supervisor, which restarts it after a failure; only the first run
        in this process sweeps left-over bridges."""
        subscribed: set[str] = set()
        await self.bridges.sweep_at_start()
        while True:
            subscribed &= set(self.agents.by_endpoint)  # a removed agent's phones are read again if re-added
            for endpoint, agent_id in list(self.agents.by_endpoint.items()) if self._config else []:
                if endpoint in subscribed:
                    continue
                try:
                    await self._ari.subscribe_endpoint("PJSIP", endpoint)
                    state = await self._ari.endpoint_state("PJSIP", endpoint)
                except AsteriskError as exc:
                    log.debug("agent %s endpoint %s not readable yet: %s", agent_id, endpoint, exc)
                    continue
                subscribed.add(endpoint)
                self.agents.endpoint_state(endpoint, state)
            if not self._closing:
                self._offer(self.router.offers(self._clock()))
            self._tick()
            await asyncio.sleep(SWEEP_S)

    async def sweep_at_start(self) -> None:
        await self.bridges.sweep_at_start()

    def _tick(self) -> None:
        """Each waiting call hears the time: due announcements get the caller's position and estimate."""
        if self._config is None:
            return
        now = self._clock()
        for name, settings in self._config.queues.items():
            line = [w.call_id for w in self.router.line(name, now)]
            due = [self._calls[c] for c in line if c in self._calls and self._calls[c].core.announcement_due(now)]
            estimates: dict[int, float | None] = {}
            if due:
                mean = self.handle_times.mean(name, now)
                serving, busy = self.agents.staffing(dict(settings.skills), mean)
                estimates = {i: (estimate_wait(i, serving, busy, mean) if serving else None) for i in range(1, len(line) + 1)}
            for position, call_id in enumerate(line, start=1):
                actor = self._calls.get(call_id)
                if actor is None:
                    continue
                estimate = estimates.get(position)
                actor.post(core.Tick(position, estimate, spoken_wait(estimate) if estimate is not None else None))

    # -- from the caller's session ----------------------------------------------------------------

    def enqueue(self, caller_id: str, queue: str, skills: tuple[str, ...], priority: int, snapshot: CallSnapshot, record: Record,
                caller: CallerInbox, waited_s: float = 0.0) -> None:
        """Queue a caller; `waited_s` keeps the place of a caller who was already waiting under an engine that stopped."""
        assert self._config is not None
        call = QueuedCall(caller_id, queue, self._config.queues, snapshot.language or "ko", has_voice=True, caller_number=snapshot.caller_number)
        actor = self._start(call, snapshot, record, caller)
        actor.post(core.Queued(skills, priority, waited_s))

    def caller_fact(self, caller_id: str, fact: core.KeyPressed | core.SpeechHeard | core.SecureEntryDone) -> None:
        """A key or words from a queued caller, or the end of its secure entry: for its core, in order."""
        actor = self._calls.get(caller_id)
        if actor is not None:
            actor.post(fact)

    async def caller_left(self, caller_id: str) -> None:
        """The caller's channel ended: waits (bounded) until the ACD has recorded how, so it is in
        the journey before the session closes it."""
        actor = self._calls.get(caller_id)
        if actor is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        actor.post(core.CallerLeft(), done)
        try:
            async with asyncio.timeout(CALLER_LEFT_WAIT_S):
                await done
        except TimeoutError:  # its task is held up by Asterisk: what it records later goes to the stored journey
            log.warning("call %s: the ACD did not record the caller leaving in %.0f s", caller_id, CALLER_LEFT_WAIT_S)
            actor.journal_stored, actor.caller = True, None

    def call_phase(self, caller_id: str) -> str | None:
        """waiting or talking (also in secure entry) while the ACD has the caller; None otherwise."""
        actor = self._calls.get(caller_id)
        if actor is None or actor.core.phase in (Phase.ENDED, Phase.CALLBACK_OWED, Phase.CALLBACK_RETRY, Phase.CALLBACK_RINGING, Phase.DIALLING_BACK):
            return None
        return "talking" if actor.core.phase in (Phase.TALKING, Phase.SECURE_ENTRY) else "waiting"

    def in_secure_entry(self, caller_id: str) -> bool:
        actor = self._calls.get(caller_id)
        return actor is not None and actor.core.phase is Phase.SECURE_ENTRY

    # -- from ARI ---------------------------------------------------------------------------------

    def on_event(self, event: AriEvent) -> bool:
        """Events of ACD legs and agents' endpoints, as facts for the call they belong to; True if the event was the ACD's."""
        if isinstance(event, EndpointStateChanged):
            return self.agents.endpoint_state(event.resource, event.state)
        if isinstance(event, StasisStarted) and event.channel.id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX)):
            leg = event.channel.id
            agent_leg = leg.startswith(AGENT_LEG_PREFIX)
            answered: Fact = core.AgentAnswered(leg, f"{CALL_BRIDGE_PREFIX}{secrets.token_hex(6)}", f"{CALLBACK_LEG_PREFIX}{secrets.token_hex(6)}") \
                if agent_leg else core.CallbackLegAnswered(leg)
            self._to_leg_owner(leg, answered)
            return True
        if isinstance(event, ChannelDestroyed) and event.channel_id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX)):
            leg, reason = event.channel_id, RING_FAILURES.get(event.cause or 0, "no-answer")
            caller_id = self.side.legs.pop(leg, None)
            actor = self._calls.get(caller_id) if caller_id else None
            if actor is not None:
                actor.post(core.AgentLegEnded(leg, reason) if leg.startswith(AGENT_LEG_PREFIX) else core.CallbackLegEnded(leg, reason))
            return True
        channel_id = getattr(event, "channel_id", "") or ""
        return isinstance(channel_id, str) and channel_id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX))

    def _to_leg_owner(self, leg: str, fact: Fact) -> None:
        caller_id = self.side.legs.get(leg)
        actor = self._calls.get(caller_id) if caller_id else None
        if actor is None:
            self._spawn(f"hang-up-{leg}", self.bridges.hang_up_leg(leg))  # answered after the call ended: nobody to talk to
        else:
            actor.post(fact)

    # -- from agents (the desktop) ----------------------------------------------------------------

    async def wrap_up(self, agent_id: str, call_id: str, disposition: str, notes: str) -> str | None:
        """The agent's disposition and notes for their latest call, into that call's journey; an error or None."""
        last = self.side.last_call.get(agent_id)
        if last is None or last[0] != call_id:
            return Refusal("not_latest_call", "that is not your latest call")
        allowed = self._config.queues[last[1]].dispositions if self._config and last[1] in self._config.queues else []
        if disposition not in allowed:
            return Refusal("bad_disposition", f"disposition must be one of: {', '.join(allowed)}")
        if len(notes) > MAX_NOTES:
            return Refusal("notes_too_long", f"notes are limited to {MAX_NOTES} characters")
        if self._save is None or not await self._save(call_id, *to_stored(journey.DispositionSet(agent=agent_id, disposition=disposition, notes=notes))):
            return Refusal("call_record_missing", "the call's record was not found")
        return None

    async def transfer(self, agent_id: str, call_id: str, target: str) -> str | None:
        """The agent hands their caller on: `queue:NAME` (blind, back in line there) or `agent:ID`
        (that agent's phone rings with the same pop). The caller hears hold music meanwhile; the
        journey stays the call's one journey. Returns an error for the agent, or None once started."""
        actor = self._calls.get(call_id)
        if actor is None or not actor.core.can_transfer(agent_id):
            return Refusal("not_your_call", "you are not talking to that caller")
        assert self._config is not None
        kind, _, name = target.partition(":")
        if kind == "queue":
            if name not in self._config.queues:
                return Refusal("no_such_queue", f"no queue `{name}`")
            actor.post(core.TransferAsked(agent_id, to_queue=name))
        elif kind == "agent":
            if name == agent_id or name not in self.agents.ledgers:
                return Refusal("no_such_agent", f"no other agent `{name}`")
            if not self.agents.routable(name):
                return Refusal("agent_not_available", f"{name} is not available")
            self.router.agent_busy(name)
            actor.post(core.TransferAsked(agent_id, to_agent=name))
        else:
            return Refusal("bad_transfer_target", "transfer to queue:NAME or agent:ID")
        return None

    async def secure_entry(self, agent_id: str, call_id: str) -> str | None:
        """The agent sends the caller to the queue's secure-entry flow to key card or account
        details the agent must not hear: the caller leaves the conversation bridge (its keys are not
        passed to the agent), the agent hears music, and the flow's `queue` node brings the caller
        back. Returns an error for the agent, or None once started."""
        actor = self._calls.get(call_id)
        if actor is None:
            return Refusal("not_your_call", "you are not talking to that caller")
        refused = actor.core.can_enter_securely(agent_id)
        if refused is not None:
            return refused
        actor.post(core.SecureEntryAsked(agent_id))
        return None

    # -- after an engine restart ------------------------------------------------------------------

    async def adopt_conversation(self, caller_id: str, queue: str, agent_id: str, talked_s: float, snapshot: CallSnapshot, record: Record,
                                 caller: CallerInbox) -> bool:
        """A caller who was talking to an agent when the last engine stopped: find their bridge and
        the agent's leg, so the agent is on call again and either side hanging up ends the call
        properly. False if the agent's leg is gone (the caller is let go), or if Asterisk's bridges
        cannot be read (the two are left talking, untracked: better than cutting them off)."""
        try:
            found = await self.bridges.find_conversation(caller_id)
        except AsteriskError as exc:  # not knowing is not knowing the agent left: keep the caller, untracked
            log.warning("call %s: bridges not readable to adopt its conversation: %s", caller_id, exc)
            return False
        if found is None or not found[1] or self._config is None or queue not in self._config.queues:
            record(*to_stored(journey.CallEnded(by="agent", agent=agent_id, while_engine_restarted=True)))
            if found is not None:
                await self.bridges.drop(found[0], caller_id)
            caller.for_caller([core.HangUpCaller("the agent left while the engine restarted")])
            return False
        bridge, leg = found
        call, commands = adopted_conversation(caller_id, queue, self._config.queues, snapshot.language, agent_id, leg, bridge, talked_s, self._clock())
        self.side.legs[leg] = caller_id
        self._start(call, snapshot, record, caller, commands)
        if self.recorder is not None:
            self.recorder.conversation_adopted(caller_id, caller_id, agent_id, queue, snapshot.language, record)
        return True

    def restore_callback(self, caller_id: str, queue: str, number: str, waited_s: float, attempts: int, snapshot: CallSnapshot,
                         skills: Sequence[str] = (), priority: int | None = None, continues_from: str = "") -> bool:
        """A callback the last engine still owed (from the journey): back in line at its place, if
        its number passes the queue's rules of today; a refused one is closed in the journey."""
        return self._owed_callback(caller_id, queue, number, waited_s, attempts, snapshot, skills, priority, NumberSource.RESTORED, continues_from)

    async def check_callback_number(self, leg: str, queue: str, raw: str, source: NumberSource) -> Verdict:
        """Whether `raw` may be called back for `queue` now: its dialling rules and the per-number
        limit (the journey's last hour and this engine's own), as for a number keyed in the queue."""
        settings = self._config.queues.get(queue) if self._config is not None else None
        return await self._limits.check(leg, settings.callback if settings is not None else None, raw, source)

    def arrange_callback(self, caller_id: str, queue: str, number: str, skills: Sequence[str], priority: int | None, snapshot: CallSnapshot,
                         waited_s: float = 0.0, continues_from: str = "") -> bool:
        """A callback asked for outside a call (the web chat): in line without a caller, its place the
        time the customer asked (`waited_s` ago). Its `queued` and `callback_requested` are in its
        journey already, written by whoever arranged it; when an agent takes it, the number is dialled.
        `continues_from`: the chat leg, told (`handoff_claimed`) when the customer answers."""
        return self._owed_callback(caller_id, queue, number, waited_s, 0, snapshot, skills, priority, NumberSource.CHAT, continues_from)

    def _owed_callback(self, caller_id: str, queue: str, number: str, waited_s: float, attempts: int, snapshot: CallSnapshot,
                       skills: Sequence[str], priority: int | None, source: NumberSource, continues_from: str = "") -> bool:
        if self._config is None or queue not in self._config.queues or caller_id in self._calls:
            return False
        if continues_from:
            self._continues[caller_id] = continues_from
        call, commands = restored_callback(caller_id, queue, self._config.queues, snapshot.language, number, waited_s, attempts, self._clock(),
                                           skills, priority, source)
        if call is None:
            record = self.side.record_after_hangup(caller_id)
            for command in commands:
                if isinstance(command, core.Journal):
                    record(command.kind, dict(command.detail))
                elif isinstance(command, core.CallbackFailed):
                    self.side.callback_failed(caller_id, queue, command)
            log.warning("call %s: owed callback not put in line: refused by queue %s's callback rules", caller_id, queue)
            return False
        self._start(call, snapshot, self.side.record_after_hangup(caller_id), None, commands).journal_stored = True
        return True

    async def aclose(self) -> None:
        """Engine shutdown: every call's task and timer stops; calls stay in Asterisk for the next engine."""
        self.agents.close()
        for actor in self._calls.values():
            if actor.retry is not None:
                actor.retry.cancel()
        await self._tasks.aclose()

    # -- each call's own task ---------------------------------------------------------------------

    def _start(self, call: QueuedCall, snapshot: CallSnapshot, record: Record, caller: CallerInbox | None,
               first: Sequence[core.Command] = ()) -> AcdCall:
        actor = AcdCall(call, snapshot, record, caller)
        self._calls[call.caller_id] = actor
        self._spawn(f"acd-call-{call.caller_id}", self._run(actor, first))
        return actor

    def _spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Owned by the ACD's TaskOwner; after shutdown began, nothing new starts (and nothing raises)."""
        if self._tasks.closed:
            work.close()
            log.info("ACD stopping: %s not started", name)
            return
        self._tasks.spawn(name, work)

    def stop_offering(self) -> None:
        """The engine is handing its calls over: no agent is rung for a caller from now on (a caller
        connected now could be cut off by the dialplan's bound before the next engine comes)."""
        self._closing = True

    async def _run(self, actor: AcdCall, first: Sequence[core.Command]) -> None:
        """The call's facts, one at a time and in order, until the core says the call is over;
        `first`: what a restored or adopted call's core decided when it was made."""
        try:
            await self.side.carry_out(actor, first)
            while True:
                fact, done = await actor.inbox.get()
                try:
                    commands = actor.core.decide(fact, self._clock())
                    if not commands:
                        self._dropped(fact)  # e.g. the call went meanwhile: the agent is free again
                    await self.side.carry_out(actor, commands)
                    await self._tell_chat(actor.core.caller_id, commands)
                except Exception as exc:  # a bug, not Asterisk (carry_out turns its refusals into facts): the call keeps its owner
                    log.exception("call %s: the ACD failed on %s", actor.core.caller_id, type(fact).__name__)
                    if not isinstance(fact, core.StepFailed):
                        actor.post(core.StepFailed(type(fact).__name__, f"{type(exc).__name__}: {exc}"[:160]))
                finally:
                    if done is not None and not done.done():
                        done.set_result(None)
                if actor.core.phase is Phase.ENDED:
                    break
        finally:
            if self._calls.get(actor.core.caller_id) is actor and actor.core.phase is Phase.ENDED:
                del self._calls[actor.core.caller_id]
                self._continues.pop(actor.core.caller_id, None)
                if self._call_ended is not None:
                    self._spawn(f"acd-ended-{actor.core.caller_id}", self._call_ended(actor.core.caller_id))
            while not actor.inbox.empty():
                fact, done = actor.inbox.get_nowait()
                self._dropped(fact)
                if done is not None and not done.done():
                    done.set_result(None)

    async def _tell_chat(self, caller_id: str, commands: Sequence[core.Command]) -> None:
        """A callback arranged in a chat connected: the chat leg's journey says which call took it over."""
        chat = self._continues.get(caller_id)
        if chat and self._save is not None and any(isinstance(c, core.Journal) and c.kind == journey.CallbackAnswered.KIND for c in commands):
            del self._continues[caller_id]
            try:
                async with asyncio.timeout(CALLER_LEFT_WAIT_S):
                    await self._save(chat, *to_stored(HandoffClaimed(leg=caller_id, how="callback")))
            except Exception as exc:  # the database is slow or down: the callback's own journey says it connected
                log.warning("call %s: the chat %s was not told the callback connected: %s", caller_id, chat, exc or type(exc).__name__)

    def _dropped(self, fact: Fact) -> None:
        """A fact the call will never handle: an agent the router set aside for it is free again."""
        if isinstance(fact, core.AgentOffered):
            self.side.legs.pop(fact.leg, None)
            self.agents.sync(fact.agent_id)
        elif isinstance(fact, core.TransferAsked) and fact.to_agent:
            self.agents.sync(fact.to_agent)

    # -- carrying out offers --------------------------------------------------------------------

    def _offer(self, offers: list[Offer]) -> None:
        if self._config is None or self._closing:  # no queues (no flows), or the engine is stopping: nothing is offered
            for offer in offers:
                if offer.call_id in self._calls:
                    self.router.caller_waiting(waiting_call(self._calls[offer.call_id].core))
            return
        for offer in offers:
            actor = self._calls.get(offer.call_id)
            agent = self._config.agents.get(offer.agent_id)
            if actor is None or not actor.core.in_line:
                self.agents.sync(offer.agent_id)
            elif agent is None:  # removed by a reload between the offer and now: the caller keeps its place
                self.router.caller_waiting(waiting_call(actor.core))
            else:
                leg = f"{AGENT_LEG_PREFIX}{secrets.token_hex(6)}"
                self.side.legs[leg] = offer.call_id
                actor.post(core.AgentOffered(offer.agent_id, agent.extension, leg, offer.waited_s, offer.relaxed))

    def _ring_ran_out(self, agent_id: str) -> None:
        """The ring time is over but Asterisk never said the agent's leg ended (a lost event)."""
        for actor in self._calls.values():
            if actor.core.agent_id == agent_id and actor.core.phase in (Phase.RINGING, Phase.CALLBACK_RINGING):
                actor.post(core.RingRanOut())

    # -- callbacks --------------------------------------------------------------------------------

    async def _wrap_up_ended(self, call_id: str, agent_id: str, wrap_up_s: float) -> None:
        if self._save is not None:
            await self._save(call_id, *to_stored(journey.WrapUpEnded(agent=agent_id, wrap_up_s=wrap_up_s)))

    # -- reading ----------------------------------------------------------------------------------

    def calls(self) -> list[tuple[QueuedCall, CallSnapshot]]:
        """The calls the ACD has now, for the supervisor's floor."""
        return [(actor.core, actor.snapshot) for actor in self._calls.values() if actor.core.phase is not Phase.ENDED]

    def _still_holding(self, queue: str) -> bool:
        holding = (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER, Phase.RINGING, Phase.SAYING_GOODBYE)
        return any(a.core.queue == queue and a.core.phase in holding for a in self._calls.values())



def _rule(name: str, queue: QueueSettings) -> QueueRule:
    relax = tuple(Relaxation(step.after_s, None if step.any else step.lower_by) for step in queue.relax)
    return QueueRule(name, dict(queue.skills), queue.priority, relax, queue.aging_s)
