"""The ACD's agent side: carries out the agent-side commands of each call's core over ARI
(ring, bridges, hold, dial back), on the agents' ledgers, the pop and the journey, and hands the
caller commands to the caller's CallSession in one message.

A command Asterisk refuses stops the rest of its batch and comes back to the call's core as a
StepFailed fact: the core decides what the caller needs (never silence), the session carries it out.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.acd import queued_call_facts as core
from engine.acd.acd_ports import CallerInbox, CallSnapshot, ConversationRecorder, Record, SaveToJourney
from engine.acd.agent_board import AgentBoard
from engine.acd.callback_limits import CallbackLimits
from engine.acd.callback_numbers import dial_string, display_number
from engine.acd.pop_sender import PopSender
from engine.acd.queue_bridges import AGENT_LEG_PREFIX, BridgeControl, QueueBridges, hold_bridge_id
from engine.acd.queued_call import QueuedCall
from engine.acd.queued_call_facts import LIVE_CALLER, CallerCommand, Fact
from engine.acd.router import Offer, Router, WaitingCall
from engine.acd.wait_estimate import HandleTimes
from engine.asterisk.errors import AsteriskError

log = logging.getLogger(__name__)
CALLER_FIRST_S = 2.0
"""How long the caller's session may take to stop what the ACD says before the caller is bridged."""
STORE_WAIT_S = 5.0


@dataclass
class AcdCall:
    """One call in the ACD: its core, its inbox of facts (handled one at a time by the call's own
    task) and what carrying out its commands needs."""

    core: QueuedCall
    snapshot: CallSnapshot
    record: Record
    caller: CallerInbox | None
    inbox: asyncio.Queue[tuple[Fact, asyncio.Future[None] | None]] = field(default_factory=asyncio.Queue)
    retry: asyncio.TimerHandle | None = None
    journal_stored: bool = False
    """The caller's channel (and so its session's journey writer) is gone: steps go to the stored journey."""

    def post(self, fact: Fact, done: asyncio.Future[None] | None = None) -> None:
        self.inbox.put_nowait((fact, done))


def waiting_call(call: QueuedCall) -> WaitingCall:
    return WaitingCall(call.caller_id, call.queue, call.enqueued_at, call.priority, call.extra_skills)


class AgentSide:
    def __init__(
        self,
        ari: BridgeControl,
        agents: AgentBoard,
        pops: PopSender,
        limits: CallbackLimits,
        spawn: Callable[[str, Coroutine[Any, Any, None]], None],
        clock: Callable[[], float],
        offer: Callable[[list[Offer]], None],
        serves: Callable[[str], bool],
        still_holding: Callable[[str], bool],
        recorder: ConversationRecorder | None = None,
        save: SaveToJourney | None = None,
    ) -> None:
        self._ari = ari
        self.bridges = QueueBridges(ari)
        self.agents = agents
        self.pops = pops
        self._limits = limits
        self._spawn = spawn
        self._clock = clock
        self._offer = offer
        self._serves = serves
        self._still_holding = still_holding
        self.recorder = recorder
        self._save = save
        self.legs: dict[str, str] = {}
        """Agent or callback leg channel id -> caller channel id."""
        self.last_call: dict[str, tuple[str, str]] = {}
        """Agent -> (caller channel id, queue) of the agent's latest answered call: what a disposition is for."""
        self.failed_callbacks: deque[dict[str, Any]] = deque(maxlen=200)
        """Callbacks that failed every attempt: shown on the supervisor's floor."""
        self.handle_times = HandleTimes()
        """Talk plus the queue's wrap-up of recent calls, per queue: what wait estimates come from."""

    @property
    def router(self) -> Router:
        return self.agents.router

    async def carry_out(self, actor: AcdCall, commands: Sequence[core.Command]) -> None:
        """Caller commands go to the caller's session in one message; agent-side ones are done here
        in order. While a caller is on the line, the first step Asterisk refuses stops the rest and
        becomes a StepFailed fact (its core decides what the caller needs); once no caller is left
        to protect (the call ended, or waits as a callback), every step is tried: clean-up is best effort."""
        for_caller: list[CallerCommand] = []
        for command in commands:
            if isinstance(command, core.CALLER_COMMANDS):
                for_caller.append(command)
                continue
            await self._to_caller(actor, for_caller, before=command)
            for_caller = []
            try:
                await self._agent_side(actor, command)
            except AsteriskError as exc:
                log.warning("call %s: %s failed: %s", actor.core.caller_id, type(command).__name__, exc)
                if actor.core.phase in LIVE_CALLER and actor.core.has_voice:
                    what = "secure entry" if isinstance(command, core.HoldAgentForSecureEntry) else type(command).__name__
                    actor.post(core.StepFailed(what, str(exc)[:160]))
                    return
        await self._to_caller(actor, for_caller)
        if not actor.core.has_voice and actor.caller is not None:
            actor.caller, actor.journal_stored = None, True  # the caller hung up for a callback

    async def _to_caller(self, actor: AcdCall, commands: list[CallerCommand], before: core.Command | None = None) -> None:
        """Into the caller's session. Before the caller is bridged to its agent, wait (briefly) until
        the session has carried them out: an announcement must have stopped before the conversation."""
        if not commands or actor.caller is None:
            return
        if not isinstance(before, core.ConnectAgent):
            actor.caller.for_caller(commands)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        actor.caller.for_caller(commands, done)
        try:
            async with asyncio.timeout(CALLER_FIRST_S):
                await done
        except TimeoutError:
            log.info("call %s: the caller's session did not confirm %s in time; connecting anyway", actor.core.caller_id, commands)

    async def _agent_side(self, actor: AcdCall, command: core.Command) -> None:
        call = actor.core
        caller_id = call.caller_id
        if isinstance(command, core.Journal):
            if actor.journal_stored:
                await self._store(caller_id, command.kind, dict(command.detail))
            else:
                actor.record(command.kind, dict(command.detail))
        elif isinstance(command, core.JoinLine):
            if self._serves(call.queue):
                self.router.caller_waiting(waiting_call(call))
                offer = self.router.offer_for_caller(caller_id, self._clock())
                if offer is not None:
                    self._offer([offer])
        elif isinstance(command, core.LeaveLine):
            self.router.caller_left(caller_id)
        elif isinstance(command, core.NoteAgent):
            self.agents.note(command.agent_id, command.kind, caller_id if command.for_call else "", command.reason, command.seconds)
        elif isinstance(command, core.MoveToHold):
            await self.bridges.hold(caller_id, command.queue, call.queues[command.queue].announce.music, command.from_queue, command.from_bridge, command.adopted)
        elif isinstance(command, core.LeaveHold):
            await self.bridges.leave(hold_bridge_id(command.queue), caller_id)
        elif isinstance(command, core.ReleaseHold):
            await self.bridges.release(command.queue, self._still_holding)
        elif isinstance(command, core.RingAgent):
            await self._ring(actor, command)
        elif isinstance(command, core.SendPop):
            await self.pops.send(command.agent_id, call, actor.snapshot, command.waited_s, command.with_history)
        elif isinstance(command, core.ClearPop):
            self.pops.clear(command.agent_id, caller_id)
        elif isinstance(command, core.ConnectAgent):
            await self._ari.create_bridge(command.bridge)
            await self.bridges.leave(hold_bridge_id(command.queue), caller_id)
            await self._ari.add_to_bridge(command.bridge, [caller_id, command.leg])
        elif isinstance(command, core.StartRecording):
            if self.recorder is not None:
                self.recorder.conversation_started(caller_id, command.channel, command.agent_id, call.queue, call.language, actor.record)
        elif isinstance(command, (core.DropBridge, core.FileRecording)):
            if self.recorder is not None:
                self.recorder.conversation_ended(caller_id)
            if isinstance(command, core.DropBridge) and command.bridge:
                await self.bridges.drop(command.bridge, caller_id)
        elif isinstance(command, core.HangUpLeg):
            if command.leg:
                self.legs.pop(command.leg, None)
                await self.bridges.hang_up_leg(command.leg)
        else:
            await self._agent_side_rest(actor, command)

    async def _agent_side_rest(self, actor: AcdCall, command: core.Command) -> None:
        call = actor.core
        caller_id = call.caller_id
        if isinstance(command, core.HoldAgentForSecureEntry):
            await self._ari.remove_from_bridge(command.bridge, caller_id)
            await self._ari.start_bridge_music(command.bridge, call.settings.announce.music)
        elif isinstance(command, core.BackFromSecureEntry):
            try:
                await self._ari.stop_bridge_music(command.bridge)
            except AsteriskError:
                pass  # it had stopped
            await self._ari.add_to_bridge(command.bridge, [caller_id])
        elif isinstance(command, core.CountHandleTime):
            self.handle_times.record(call.queue, command.seconds, self._clock())
        elif isinstance(command, core.LatestCallOf):
            self.last_call[command.agent_id] = (caller_id, call.queue)
        elif isinstance(command, core.CheckNumber):
            actor.post(core.NumberChecked(await self._limits.check(caller_id, call.settings.callback, command.raw, command.source)))
        elif isinstance(command, core.RememberCallback):
            self._limits.remember(caller_id, command.number, command.waited_s)
        elif isinstance(command, core.WaitForAgentThenDial):
            await self._dial_back(actor, command)
        elif isinstance(command, core.AddCallbackLeg):
            await self._ari.add_to_bridge(command.bridge, [command.leg])
        elif isinstance(command, core.ArmRetry):
            actor.retry = asyncio.get_running_loop().call_later(command.seconds, actor.post, core.RetryDue())
        elif isinstance(command, core.CallbackFailed):
            self.callback_failed(caller_id, call.queue, command)
        elif isinstance(command, core.OfferTo):
            self.ring_named(actor, command.agent_id)
        elif isinstance(command, core.Forget):
            self.pops.forget(caller_id)  # the call's task ends once its core says ENDED

    def ring_named(self, actor: AcdCall, agent_id: str) -> None:
        """A transfer to a named agent: that agent's phone rings for the call, outside the line."""
        agent = self.agents.agent(agent_id)
        if agent is None:
            self.router.caller_waiting(waiting_call(actor.core))
            return
        leg = f"{AGENT_LEG_PREFIX}{secrets.token_hex(6)}"
        self.legs[leg] = actor.core.caller_id
        actor.post(core.AgentOffered(agent_id, agent.extension, leg, self._clock() - actor.core.enqueued_at, False))

    async def _ring(self, actor: AcdCall, command: core.RingAgent) -> None:
        number = display_number(actor.snapshot.caller_number)  # a hostile caller ID must not reach the agent's phone as it is
        try:
            await self._ari.originate(self.agents.dial_target(command.extension), command.leg, f'"{number}" <{number}>', command.ring_s, "agent")
        except AsteriskError as exc:
            log.warning("call %s: ringing agent %s failed: %s", actor.core.caller_id, command.agent_id, exc)
            self.legs.pop(command.leg, None)
            actor.post(core.AgentLegEnded(command.leg, "unavailable"))

    async def _dial_back(self, actor: AcdCall, command: core.WaitForAgentThenDial) -> None:
        """The agent took the callback: the agent waits in the call's bridge while the caller is dialled."""
        call = actor.core
        offer = call.settings.callback
        try:
            await self._ari.create_bridge(command.bridge)
            await self._ari.add_to_bridge(command.bridge, [command.agent_leg])
        except AsteriskError as exc:  # the agent hung up at once, or Asterisk failed: the leg is ended, and its end follows
            log.info("callback %s: agent %s not in the callback's bridge: %s", call.caller_id, call.agent_id, exc)
            await self.bridges.hang_up_leg(command.agent_leg)
            return
        try:
            target = dial_string(offer.dial if offer is not None else "", command.number)  # only ever a number that passed the queue's rules
        except ValueError as exc:
            log.error("callback %s: %s", call.caller_id, exc)
            await self.carry_out(actor, call.dial_refused())
            return
        self.legs[command.callback_leg] = call.caller_id
        try:
            await self._ari.originate(target, command.callback_leg, "", command.ring_s, "callback")
        except AsteriskError as exc:
            log.warning("callback %s: dialling %s failed: %s", call.caller_id, command.number, exc)
            self.legs.pop(command.callback_leg, None)
            actor.post(core.CallbackLegEnded(command.callback_leg, "unavailable"))

    def callback_failed(self, caller_id: str, queue: str, command: core.CallbackFailed) -> None:
        entry: dict[str, Any] = {"call_id": caller_id, "queue": queue, "number": command.number, "attempts": command.attempts, "at": time.time()}
        if command.refused:
            entry["refused"] = command.refused
        self.failed_callbacks.append(entry)

    def record_after_hangup(self, caller_id: str) -> Record:
        """For a call that has no task of its own (a restored callback refused at start): its steps
        go to its stored journey, each in a task of its own."""
        def record(kind: str, detail: dict[str, Any]) -> None:
            self._spawn(f"journey-{caller_id}-{kind}", self._store(caller_id, kind, detail))
        return record

    async def _store(self, caller_id: str, kind: str, detail: dict[str, Any]) -> None:
        """One step of a call whose channel has ended into its stored journey, in the call's order
        (the call's task waits for it, bounded)."""
        if self._save is None:
            return
        try:
            async with asyncio.timeout(STORE_WAIT_S):
                if not await self._save(caller_id, kind, detail):
                    log.warning("call %s: %s not stored: the call's record was not found", caller_id, kind)
        except Exception as exc:  # the database is slow or down: logged (the log line is the record), the call goes on
            log.warning("call %s: %s not stored: %s", caller_id, kind, exc or type(exc).__name__)

