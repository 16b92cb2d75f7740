"""One caller's life in the ACD, as a pure core: facts in, commands out.

A `QueuedCall` holds the call's phase (one explicit value) and decides, for each fact about the
call, what must happen: to the caller (say, hush, listen, continue its flow, hang up: carried out
by the caller's own CallSession, the only task that commands the caller's channel) and on the
agents' side (ring, bridge, hold, dial back, agents' ledgers, the journey: carried out by the
ACD's adapter, call_distributor.py). The callback dialogue, the overflow choice and what a
waiting caller hears are decided here.

No asyncio, no logging, no clock, no I/O: time comes in as `now`, ids of new legs and bridges come
in with the facts that need them, and a number's rate limit is read by the adapter (CheckNumber ->
NumberChecked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.acd.agent_state import EventKind
from engine.acd.callback_numbers import MAX_NUMBER_LENGTH, CallbackAllowed, CallbackRefused, NumberSource, RefusalReason, Verdict, normalize
from engine.acd.refusal import Refusal
from engine.config.acd_config import QueueSettings
from engine.acd.wait_announcements import callback_confirmed, callback_question, callback_refused, wait_announcement
from engine.acd.queued_call_facts import (
    AddCallbackLeg, AgentAnswered, AgentLegEnded, AgentOffered, ArmRetry, BackFromSecureEntry, CallbackFailed,
    CallbackLegAnswered, CallbackLegEnded, CallerCommand, CallerLeft, CheckNumber, ClearPop, Command, ConnectAgent, ContinueFlow,
    CountHandleTime, DropBridge, Fact, FileRecording, Forget, HangUpCaller, HangUpLeg, HoldAgentForSecureEntry, Hush, JoinLine,
    Journal, KeyPressed, LINED_UP, LIVE_CALLER, LatestCallOf, LeaveHold, LeaveLine, ListenFor, MoveToHold, NoteAgent,
    NumberChecked, OfferTo, Phase, Queued, ReleaseHold, RememberCallback, RetryDue, RingAgent, RingRanOut, Say, SecureEntryAsked,
    SecureEntryDone, SendPop, SpeechHeard, StartRecording, StartSurvey, StepFailed, StopListening, Tick, TransferAsked,
    WaitForAgentThenDial,
)
import engine.journey.events as journey
from engine.language.answer_words import YES_WORDS

FIRST_ANNOUNCEMENT_S = 4.0
"""A new caller hears music for a moment, then its position and wait; then every `announce.every_s`."""
QUIET_WHILE_ARRANGING_S = 60.0
"""While a caller arranges a callback, wait announcements hold off this long."""
SPOKEN_CALLBACK_CONFIDENCE = 0.4
"""A callback phrase heard at least this surely counts; the number is then confirmed by key or yes."""
RING_GRACE_S = 3.0
"""Asterisk ends an unanswered ring itself; only if that never arrives does the engine end it."""
OVERFLOW_GOODBYE = {
    "ko": "죄송합니다. 지금은 모든 상담원이 통화 중입니다. 나중에 다시 전화해 주세요. 감사합니다.",
    "en": "We are sorry, all our agents are still busy. Please call again later. Thank you.",
}
"""Said when a queue's overflow has no message of its own, or its flow or callback target cannot
take this caller (no voice to continue a flow with or to speak to). A caller whose number cannot be
called back (withheld, or refused by the queue's callback rules) is not let go: it hears why and
keeps waiting at its place."""




@dataclass
class QueuedCall:
    """One call in the ACD. `queues` is the current configuration's queues (updated on reload)."""

    caller_id: str
    queue: str
    queues: Mapping[str, QueueSettings]
    language: str
    has_voice: bool
    """The caller's session can speak and listen (a flow runs); False for a restored callback."""
    caller_number: str = ""
    phase: Phase = Phase.WAITING
    enqueued_at: float = 0.0
    priority: int | None = None
    extra_skills: dict[str, int] = field(default_factory=dict)
    agent_id: str = ""
    agent_leg: str = ""
    bridge: str = ""
    answered_at: float | None = None
    next_announcement: float = float("inf")
    keyed: str = ""
    """Digits keyed so far while arranging a callback."""
    callable_caller_id: str = ""
    """The caller ID in the form to dial, if it passed the queue's callback rules when the offer was taken."""
    checking_source: NumberSource | None = None
    overflow_waited_s: float | None = None
    """Set while the queue's overflow is arranging a callback: the `overflowed` event it will record."""
    auto_callback_tried: bool = False
    """The queue's overflow tried to call the caller back: refused, it keeps waiting and is not tried again."""
    listening: bool = False
    callback_number: str = ""
    callback_leg: str = ""
    attempts: int = 0
    transferred_from: str = ""
    """The agent who transferred the call: shown on the next agent's pop."""
    queued_once: bool = False

    # -- reading --------------------------------------------------------------------------

    @property
    def settings(self) -> QueueSettings:
        return self.queues[self.queue]

    @property
    def in_line(self) -> bool:
        return self.phase in LINED_UP

    @property
    def callback(self) -> bool:
        """Shown on the pop and the floor: the call is (or became) a callback."""
        return bool(self.callback_number)

    def required_skills(self) -> dict[str, int]:
        return {**self.extra_skills}

    # -- deciding -------------------------------------------------------------------------

    def decide(self, fact: Fact, now: float) -> list[Command]:
        """What the fact means for this call; a fact that does not fit the phase changes nothing."""
        if self.phase is Phase.ENDED:
            return [HangUpLeg(fact.leg)] if isinstance(fact, (AgentAnswered, CallbackLegAnswered)) else []
        handler = _HANDLERS.get(type(fact))
        return handler(self, fact, now) if handler is not None else []

    def _queued(self, fact: Queued, now: float) -> list[Command]:
        if self.queued_once:
            return []  # a call enters the ACD once; later queues are transfers and overflows
        self.queued_once = True
        settings = self.settings
        self.enqueued_at = now - max(0.0, fact.waited_s)
        self.priority = fact.priority
        self.extra_skills = {skill: 1 for skill in fact.skills if skill not in settings.skills}
        self.next_announcement = now + FIRST_ANNOUNCEMENT_S
        skills = tuple(sorted({*settings.skills, *self.extra_skills}))
        queued = journey.Queued(queue=self.queue, skills=skills, priority=fact.priority)
        if fact.waited_s:  # a restart's re-queue at the caller's old place
            queued = journey.Queued(queue=self.queue, skills=skills, priority=fact.priority, after_restart=True, waited_s=round(fact.waited_s, 1))
        return [MoveToHold(self.queue, adopted=bool(fact.waited_s)), Journal(queued), JoinLine()]

    def _offered(self, fact: AgentOffered, now: float) -> list[Command]:
        if self.phase not in LINED_UP:
            return []  # an offer for a call that is already ringing or gone: the agent is freed by the adapter
        callback = self.phase is Phase.CALLBACK_OWED
        self.phase = Phase.CALLBACK_RINGING if callback else Phase.RINGING
        self.keyed, self.checking_source, self.overflow_waited_s = "", None, None
        self.agent_id, self.agent_leg = fact.agent_id, fact.leg
        ring_s = int(self.settings.ring_timeout_s)
        return [
            LeaveLine(),
            NoteAgent(fact.agent_id, EventKind.RESERVED, seconds=ring_s + RING_GRACE_S),
            Journal(journey.AgentRinging(agent=fact.agent_id, extension=fact.extension, waited_s=round(fact.waited_s, 1), relaxed=fact.relaxed,
                                         callback=callback)),
            SendPop(fact.agent_id, fact.waited_s),
            RingAgent(fact.agent_id, fact.extension, fact.leg, ring_s),
        ]

    def _answered(self, fact: AgentAnswered, now: float) -> list[Command]:
        if fact.leg != self.agent_leg:
            return [HangUpLeg(fact.leg)]  # answered after the caller left, or a stale leg: nobody to talk to
        if self.phase is Phase.CALLBACK_RINGING:
            return self._dial_back(fact, now)
        if self.phase is not Phase.RINGING:
            return []
        self.phase = Phase.TALKING
        self.answered_at = now
        self.bridge = fact.bridge
        commands: list[Command] = [
            LatestCallOf(self.agent_id),
            NoteAgent(self.agent_id, EventKind.ANSWERED),
            Journal(journey.AgentAnswered(agent=self.agent_id, waited_s=round(now - self.enqueued_at, 1))),
        ]
        if self.has_voice:
            self.listening = False
            commands += [StopListening(), Hush()]
        return [*commands, ConnectAgent(self.bridge, fact.leg, self.queue), StartRecording(self.caller_id, self.agent_id), ReleaseHold(self.queue)]

    def _leg_ended(self, fact: AgentLegEnded, now: float) -> list[Command]:
        if fact.leg != self.agent_leg:
            return []
        if self.phase is Phase.RINGING:
            return self._ring_failed(fact.reason, now)
        if self.phase is Phase.CALLBACK_RINGING:
            return self._ring_failed(fact.reason, now)
        if self.phase is Phase.DIALLING_BACK:
            leg = self.callback_leg
            self.attempts -= 1  # the agent hung up before the caller answered: not the caller's failed attempt
            return [*self._attempt_failed("agent hung up"), HangUpLeg(leg)]
        if self.phase not in (Phase.TALKING, Phase.SECURE_ENTRY):
            return []
        talk_s = round(now - (self.answered_at or now), 1)
        commands: list[Command] = [Journal(journey.CallEnded(by="agent", agent=self.agent_id, talk_s=talk_s)), *self._end_for_agent(now),
                                   DropBridge(self.bridge)]
        self.phase = Phase.ENDED
        survey = self.settings.survey
        if self.callback_leg:
            commands.append(HangUpLeg(self.callback_leg))
        elif survey is not None and self.has_voice:
            commands += [Journal(journey.SurveyOffered(queue=self.queue, agent=self.agent_id, flow=survey)), StartSurvey(survey, self.queue, self.agent_id)]
        else:
            commands.append(HangUpCaller("the agent ended the call"))
        return [*commands, Forget()]

    def _ring_ran_out(self, fact: RingRanOut, now: float) -> list[Command]:
        if self.phase not in (Phase.RINGING, Phase.CALLBACK_RINGING):
            return []
        leg = self.agent_leg
        return [HangUpLeg(leg), *self._ring_failed("no-answer", now)]

    def _ring_failed(self, reason: str, now: float) -> list[Command]:
        """The agent did not take it: they are paused with the reason; the caller keeps its place."""
        agent_id = self.agent_id
        self.phase = Phase.CALLBACK_OWED if self.phase is Phase.CALLBACK_RINGING else Phase.WAITING
        self.agent_id, self.agent_leg = "", ""
        return [ClearPop(agent_id), NoteAgent(agent_id, EventKind.RING_FAILED, reason=reason),
                Journal(journey.AgentNotAnswered(agent=agent_id, reason=reason)), JoinLine()]

    def _caller_left(self, fact: CallerLeft, now: float) -> list[Command]:
        if self.phase in (Phase.CALLBACK_OWED, Phase.CALLBACK_RETRY, Phase.CALLBACK_RINGING, Phase.DIALLING_BACK):
            return [ReleaseHold(self.queue)]  # a caller who hung up for a callback keeps its place without its channel
        if self.phase is Phase.SAYING_GOODBYE:
            self.phase = Phase.ENDED
            return [ReleaseHold(self.queue), Forget()]
        if self.phase is Phase.TALKING and self.callback_leg:
            return []  # the called-back caller's leg reports its own end
        waited_s = round(now - self.enqueued_at, 1)
        commands: list[Command] = [LeaveLine()]
        if self.phase is Phase.RINGING:
            commands += [Journal(journey.Abandoned(queue=self.queue, waited_s=waited_s, while_="agent ringing", short=False)),
                         HangUpLeg(self.agent_leg), ClearPop(self.agent_id), NoteAgent(self.agent_id, EventKind.CALL_ENDED)]
        elif self.phase in (Phase.TALKING, Phase.SECURE_ENTRY):
            commands += [Journal(journey.CallEnded(by="caller", agent=self.agent_id, talk_s=round(now - (self.answered_at or now), 1))),
                         HangUpLeg(self.agent_leg), *self._end_for_agent(now)]
        else:
            short = now - self.enqueued_at < self.settings.short_abandon_s
            commands.append(Journal(journey.Abandoned(queue=self.queue, waited_s=waited_s, while_="waiting", short=short)))
        self.phase = Phase.ENDED
        return [*commands, DropBridge(self.bridge), ReleaseHold(self.queue), Forget()]

    def _end_for_agent(self, now: float) -> list[Command]:
        """The call is over: wrap-up, with the pop left on the agent's screen for the notes."""
        wrap_up = self.settings.wrap_up_s
        return [CountHandleTime(now - (self.answered_at or now) + wrap_up), NoteAgent(self.agent_id, EventKind.CALL_ENDED, seconds=wrap_up)]

    # -- transfers and secure entry ---------------------------------------------------------

    def can_transfer(self, agent_id: str) -> bool:
        return self.phase is Phase.TALKING and self.agent_id == agent_id and not self.callback_leg

    def _transfer(self, fact: TransferAsked, now: float) -> list[Command]:
        if not self.can_transfer(fact.agent_id):
            return []
        old_leg, old_bridge = self.agent_leg, self.bridge
        target = f"queue:{fact.to_queue}" if fact.to_queue else f"agent:{fact.to_agent}"
        commands: list[Command] = [
            Journal(journey.Transferred(from_agent=fact.agent_id, to=target, talk_s=round(now - (self.answered_at or now), 1))),
            FileRecording(),  # the first agent's part is its own recording: filed now
            *self._end_for_agent(now),
        ]
        self.transferred_from = fact.agent_id
        self.agent_id, self.agent_leg, self.bridge, self.answered_at = "", "", "", None
        queue = fact.to_queue or self.queue
        commands += [MoveToHold(queue, from_bridge=old_bridge), HangUpLeg(old_leg), DropBridge(old_bridge)]
        self.phase = Phase.WAITING
        if not fact.to_queue:
            return [*commands, OfferTo(fact.to_agent)]
        self.queue, self.enqueued_at = queue, now
        settings = self.settings
        skills = tuple(sorted({*settings.skills, *self.extra_skills}))
        return [*commands, Journal(journey.Queued(queue=queue, skills=skills, priority=self.priority, transferred_from=fact.agent_id)), JoinLine()]

    def can_enter_securely(self, agent_id: str) -> str | None:
        """Why the agent cannot send this caller to secure entry, or None."""
        if self.phase is Phase.SECURE_ENTRY and self.agent_id == agent_id:
            return Refusal("already_in_secure_entry", "the caller is in secure entry already")
        if self.phase is not Phase.TALKING or self.agent_id != agent_id or self.callback_leg or not self.has_voice:
            return Refusal("not_your_call", "you are not talking to that caller")
        if self.settings.secure_entry is None:
            return Refusal("no_secure_entry_flow", f"queue {self.queue} has no secure_entry flow")
        return None

    def _secure_entry(self, fact: SecureEntryAsked, now: float) -> list[Command]:
        target = self.settings.secure_entry
        if self.can_enter_securely(fact.agent_id) is not None or target is None:
            return []
        self.phase = Phase.SECURE_ENTRY
        return [Journal(journey.SecureEntryStarted(agent=fact.agent_id, flow=target)), HoldAgentForSecureEntry(self.bridge), ContinueFlow(target, "secure entry")]

    def _secure_entry_done(self, fact: SecureEntryDone, now: float) -> list[Command]:
        if self.phase is not Phase.SECURE_ENTRY:
            return []
        self.phase = Phase.TALKING
        return [BackFromSecureEntry(self.bridge), Journal(journey.SecureEntryEnded(agent=self.agent_id)), SendPop(self.agent_id, 0.0, with_history=False)]

    def _step_failed(self, fact: StepFailed, now: float) -> list[Command]:
        """Asterisk refused an agent-side step. A caller is never left in silence: one who was
        being connected or moved is hung up (the session records why); a secure entry that could
        not start leaves caller and agent talking."""
        if fact.what == "secure entry" and self.phase is Phase.SECURE_ENTRY:
            self.phase = Phase.TALKING
            return [BackFromSecureEntry(self.bridge), Journal(journey.SecureEntryEnded(agent=self.agent_id, failed=fact.reason[:80]))]
        if self.phase in LIVE_CALLER and self.has_voice:
            return [HangUpCaller(f"{fact.what} failed: {fact.reason}"[:200])]
        return []

    # -- the callback dialogue --------------------------------------------------------------

    def _key(self, fact: KeyPressed, now: float) -> list[Command]:
        offer = self.settings.callback
        if offer is None or not self.has_voice or self.phase not in (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER):
            return []
        if self.phase is Phase.CHECKING_NUMBER:
            return []  # a number is being checked: keys meanwhile change nothing
        digit = fact.digit
        if self.phase is Phase.WAITING:
            return self._offer_taken(now, "key") if digit == offer.key else []
        if digit == "1" and self.keyed == "" and self.callable_caller_id:
            return self._check(self.callable_caller_id, NumberSource.CALLER_ID)
        if digit == "#":
            if not self.keyed:
                return [Say(callback_question(self.language, self.callable_caller_id, caller_id_refused=not self.callable_caller_id))]
            return self._check(self.keyed, NumberSource.KEYED)
        if digit == "*":
            self.phase, self.keyed = Phase.WAITING, ""  # changed their mind: back to waiting
            self.next_announcement = now + self.settings.announce.every_s
        elif digit.isdigit() and len(self.keyed) <= MAX_NUMBER_LENGTH:
            self.keyed += digit  # one digit more than a number may have: a longer one is refused, never cut to fit
        return []

    def takes_key(self, digit: str) -> bool:
        """Whether a key from the caller belongs to the ACD (the callback dialogue) rather than the flow."""
        offer = self.settings.callback if self.queue in self.queues else None
        if offer is None or not self.has_voice:
            return False
        if self.phase in (Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER):
            return True
        return self.phase is Phase.WAITING and digit == offer.key

    def _offer_taken(self, now: float, by: str) -> list[Command]:
        offer = self.settings.callback
        assert offer is not None
        self.phase, self.keyed = Phase.ARRANGING_CALLBACK, ""
        self.next_announcement = now + QUIET_WHILE_ARRANGING_S  # no wait announcement over the questions
        verdict = normalize(self.caller_number, NumberSource.CALLER_ID, offer.numbers.rules())
        self.callable_caller_id = verdict.number if isinstance(verdict, CallbackAllowed) else ""
        question = callback_question(self.language, self.callable_caller_id, caller_id_refused=isinstance(verdict, CallbackRefused))
        commands: list[Command] = [Journal(journey.CallbackOfferTaken(by=by))]
        if isinstance(verdict, CallbackRefused):
            commands.append(self._refusal(NumberSource.CALLER_ID, verdict, question))
        return [*commands, Say(question)]

    def _speech(self, fact: SpeechHeard, now: float) -> list[Command]:
        offer = self.settings.callback
        if offer is None or not self.has_voice or self.phase not in (Phase.WAITING, Phase.ARRANGING_CALLBACK):
            return []
        words = [(" ".join(text.split()), confidence) for text, confidence in fact.alternatives if confidence >= SPOKEN_CALLBACK_CONFIDENCE]
        if self.phase is Phase.WAITING:
            wanted = [" ".join(phrase.split()) for phrase in offer.phrases]
            if any(phrase in text for text, _ in words for phrase in wanted):
                return self._offer_taken(now, "speech")
            return []
        yes = YES_WORDS.get(self.language[:2], YES_WORDS["en"])
        if self.keyed == "" and self.callable_caller_id and any(word in text.split() for text, _ in words for word in yes):
            return self._check(self.callable_caller_id, NumberSource.CALLER_ID)
        return []

    def _check(self, raw: str, source: NumberSource) -> list[Command]:
        self.phase, self.checking_source = Phase.CHECKING_NUMBER, source
        return [CheckNumber(raw, source)]

    def _number_checked(self, fact: NumberChecked, now: float) -> list[Command]:
        """The number passed the queue's rules: the caller keeps its place in line without a
        channel and is let go after being told. If not, it hears so and keeps waiting at its place."""
        if self.phase is not Phase.CHECKING_NUMBER or self.checking_source is None:
            return []
        source, self.checking_source = self.checking_source, None
        verdict = fact.verdict
        if isinstance(verdict, CallbackRefused):
            offer = self.settings.callback
            said = callback_refused(self.language, offer.key if offer is not None else "1")
            self.phase, self.keyed = Phase.WAITING, ""  # back to waiting at its place; the callback key asks again
            self.next_announcement = now + self.settings.announce.every_s
            self.overflow_waited_s = None
            return [self._refusal(source, verdict, said), Say(said)]
        commands: list[Command] = []
        if self.overflow_waited_s is not None:
            commands.append(Journal(journey.Overflowed(queue=self.queue, to="callback", waited_s=self.overflow_waited_s)))
            self.overflow_waited_s = None
        waited = now - self.enqueued_at
        self.callback_number, self.keyed = verdict.number, ""
        self.phase = Phase.CALLBACK_OWED
        self.next_announcement = float("inf")
        commands += [
            RememberCallback(verdict.number, 0.0),
            Journal(journey.CallbackRequested(queue=self.queue, number=verdict.number, waited_s=round(waited, 1), source=source.value)),
            StopListening(),
            Say(callback_confirmed(self.language, verdict.number), hang_up_after="callback arranged"),
        ]  # the holding bridge is released once the caller has left it (CallerLeft)
        self.has_voice = False  # from now on the call waits without its channel
        return commands

    def _refusal(self, source: NumberSource, verdict: CallbackRefused, said: str) -> Journal:
        """Why, the number bounded and escaped (never the raw string), and what the caller is told."""
        return Journal(journey.CallbackRefused(queue=self.queue, source=source.value, reason=verdict.reason.value, number=verdict.shown,
                                               detail=verdict.detail[:80], said=said))

    # -- calling back ------------------------------------------------------------------------

    def _dial_back(self, fact: AgentAnswered, now: float) -> list[Command]:
        offer = self.settings.callback
        if offer is None:
            return [HangUpLeg(fact.leg)]
        self.phase = Phase.DIALLING_BACK
        self.bridge = fact.bridge
        self.attempts += 1
        self.callback_leg = fact.callback_leg
        return [
            LatestCallOf(self.agent_id),
            NoteAgent(self.agent_id, EventKind.ANSWERED),
            Journal(journey.CallbackDialing(agent=self.agent_id, number=self.callback_number, attempt=self.attempts)),
            WaitForAgentThenDial(self.bridge, fact.leg, self.callback_leg, self.callback_number, int(offer.ring_s)),
        ]

    def _callback_answered(self, fact: CallbackLegAnswered, now: float) -> list[Command]:
        if self.phase is not Phase.DIALLING_BACK or fact.leg != self.callback_leg:
            return [HangUpLeg(fact.leg)]
        self.phase = Phase.TALKING
        self.answered_at = now
        return [AddCallbackLeg(self.bridge, fact.leg), StartRecording(fact.leg, self.agent_id),
                Journal(journey.CallbackAnswered(agent=self.agent_id, attempt=self.attempts, waited_s=round(now - self.enqueued_at, 1)))]

    def _callback_leg_ended(self, fact: CallbackLegEnded, now: float) -> list[Command]:
        if fact.leg != self.callback_leg:
            return []
        if self.phase is Phase.DIALLING_BACK:
            return self._attempt_failed(fact.reason)
        if self.phase is not Phase.TALKING:
            return []
        self.phase = Phase.ENDED
        return [Journal(journey.CallEnded(by="caller", agent=self.agent_id, talk_s=round(now - (self.answered_at or now), 1))),
                HangUpLeg(self.agent_leg), *self._end_for_agent(now), DropBridge(self.bridge), Forget()]

    def _attempt_failed(self, reason: str) -> list[Command]:
        """The caller did not answer: free the agent, and try again after the delay, or give up."""
        offer = self.settings.callback
        agent_id = self.agent_id
        commands: list[Command] = [
            Journal(journey.CallbackAttemptFailed(attempt=self.attempts, reason=reason, agent=agent_id)),
            HangUpLeg(self.agent_leg), DropBridge(self.bridge), ClearPop(agent_id),
            NoteAgent(agent_id, EventKind.CALL_ENDED),  # no wrap-up: there was no conversation
        ]
        self.agent_id, self.agent_leg, self.callback_leg, self.bridge = "", "", "", ""
        if offer is None or self.attempts > offer.retries:
            self.phase = Phase.ENDED
            return [*commands, Journal(journey.CallbackFailed(queue=self.queue, number=self.callback_number, attempts=self.attempts)),
                    CallbackFailed(self.callback_number, self.attempts), Forget()]
        self.phase = Phase.CALLBACK_RETRY
        return [*commands, ArmRetry(offer.retry_delay_s)]

    def _retry(self, fact: RetryDue, now: float) -> list[Command]:
        if self.phase is not Phase.CALLBACK_RETRY:
            return []
        self.phase = Phase.CALLBACK_OWED
        return [JoinLine()]  # at its original place in line

    def dial_refused(self) -> list[Command]:
        """The dial string could not be built from the number (it cannot happen with a checked number)."""
        offer = self.settings.callback
        self.attempts = (offer.retries if offer is not None else 0) + 1
        return self._attempt_failed("number refused")

    # -- while waiting: announcements and overflow ----------------------------------------------

    def _tick(self, fact: Tick, now: float) -> list[Command]:
        if self.phase not in (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER):
            return []
        overflow = self._overflow(now)
        if overflow is not None:
            return overflow
        return self._announce(fact, now)

    def _overflow(self, now: float) -> list[Command] | None:
        """A caller who waited the queue's max_wait goes where it says: another queue (keeping its
        wait for the KPIs of neither), a callback to the calling number, or a message and goodbye."""
        limit = self.settings.max_wait
        if limit is None or self.phase is not Phase.WAITING or now - self.enqueued_at < limit.seconds:
            return None
        target = limit.overflow
        waited = round(now - self.enqueued_at, 1)
        if target.queue is not None and target.queue in self.queues:
            old = self.queue
            self.queue, self.enqueued_at = target.queue, now
            settings = self.settings
            self.extra_skills = {skill: level for skill, level in self.extra_skills.items() if skill not in settings.skills}
            commands: list[Command] = [Journal(journey.Overflowed(queue=old, to=f"queue:{target.queue}", waited_s=waited)), LeaveLine()]
            if self.has_voice:
                commands.append(Hush())
            return [*commands, MoveToHold(target.queue, from_queue=old),
                    Journal(journey.Queued(queue=target.queue, skills=tuple(sorted({*settings.skills, *self.extra_skills})), priority=self.priority, overflow_from=old)),
                    ReleaseHold(old), JoinLine()]
        if target.callback and self.has_voice:
            if self.auto_callback_tried:
                return None  # refused once: the caller keeps waiting at its place
            self.auto_callback_tried = True
            self.overflow_waited_s = waited
            return self._check(self.caller_number, NumberSource.OVERFLOW)
        if target.flow is not None and self.has_voice:
            self.phase = Phase.ENDED
            return [Journal(journey.Overflowed(queue=self.queue, to=f"flow:{target.flow}", waited_s=waited)), LeaveLine(), Hush(),
                    LeaveHold(self.queue), ReleaseHold(self.queue), ContinueFlow(target.flow, "queue overflow"), Forget()]
        text = target.message or OVERFLOW_GOODBYE.get(self.language[:2], OVERFLOW_GOODBYE["en"])
        self.phase = Phase.SAYING_GOODBYE  # in the holding bridge's music until it hangs up (CallerLeft)
        return [Journal(journey.Overflowed(queue=self.queue, to="message", waited_s=waited)), LeaveLine(),
                Say(text, hang_up_after="the queue's maximum wait was reached")]

    def announcement_due(self, now: float) -> bool:
        return self.has_voice and self.phase in (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER) and now >= self.next_announcement

    def _announce(self, fact: Tick, now: float) -> list[Command]:
        """The caller's position, the estimated wait and the callback offer, when its turn has come."""
        settings = self.settings
        announce = settings.announce
        if fact.position is None or not self.announcement_due(now) or not (announce.position or announce.wait_estimate or settings.callback):
            return []
        self.next_announcement = now + announce.every_s
        offer = settings.callback
        key = offer.key if offer is not None and now - self.enqueued_at >= offer.offer_after_s else None
        commands: list[Command] = []
        if key is not None and offer is not None and offer.phrases and not self.listening:
            self.listening = True
            commands.append(ListenFor(tuple(offer.phrases)))
        phrase = fact.phrase if announce.wait_estimate else None
        text = wait_announcement(self.language, fact.position if announce.position else None, phrase, key)
        estimate = round(fact.estimate_s) if fact.estimate_s is not None else None
        return [*commands, Journal(journey.WaitAnnounced(position=fact.position, estimate_s=estimate, said=text)), Say(text)]


def restored_callback(caller_id: str, queue: str, queues: Mapping[str, QueueSettings], language: str, number: str, waited_s: float, attempts: int,
                      now: float, skills: Sequence[str] = (), priority: int | None = None,
                      source: NumberSource = NumberSource.RESTORED) -> tuple[QueuedCall | None, list[Command]]:
    """A callback owed without a live caller, back in line at its place if its number passes the
    queue's rules of today: one the last engine still owed (from the journey: an older engine may have
    accepted anything), or one a chat arranged (`source` CHAT: its request is journaled already). A
    refused one is closed in the journey (`callback_refused`) and shown as failed."""
    offer = queues[queue].callback
    verdict: Verdict = normalize(number, source, offer.numbers.rules()) if offer is not None else CallbackRefused(RefusalReason.NO_CALLBACKS, "")
    if isinstance(verdict, CallbackRefused):
        return None, [Journal(journey.CallbackRefused(queue=queue, source=source.value, reason=verdict.reason.value,
                                                      number=verdict.shown, detail=verdict.detail[:80])),
                      CallbackFailed(verdict.shown, attempts, refused=verdict.reason.value)]
    extra = {skill: 1 for skill in skills if skill not in queues[queue].skills}
    call = QueuedCall(caller_id, queue, queues, language, has_voice=False, phase=Phase.CALLBACK_OWED, enqueued_at=now - max(0.0, waited_s), queued_once=True,
                      callback_number=verdict.number, attempts=attempts, priority=priority, extra_skills=extra)
    restored = [Journal(journey.CallbackRestored(queue=queue, number=verdict.number, waited_s=round(waited_s, 1), attempts=attempts))]
    return call, [RememberCallback(verdict.number, waited_s), *(restored if source is NumberSource.RESTORED else []), JoinLine()]


def adopted_conversation(caller_id: str, queue: str, queues: Mapping[str, QueueSettings], language: str, agent_id: str, leg: str, bridge: str,
                         talked_s: float, now: float) -> tuple[QueuedCall, list[Command]]:
    """A caller who was talking to an agent when the last engine stopped, found in its bridge."""
    call = QueuedCall(caller_id, queue, queues, language, has_voice=True, phase=Phase.TALKING, enqueued_at=now - talked_s, queued_once=True, agent_id=agent_id,
                      agent_leg=leg, bridge=bridge, answered_at=now - talked_s)
    return call, [LatestCallOf(agent_id), NoteAgent(agent_id, EventKind.LOGIN, for_call=False), NoteAgent(agent_id, EventKind.ANSWERED),
                  Journal(journey.ConversationAdopted(agent=agent_id, bridge=bridge))]


_HANDLERS: dict[type, Any] = {
    Queued: QueuedCall._queued, AgentOffered: QueuedCall._offered, AgentAnswered: QueuedCall._answered, AgentLegEnded: QueuedCall._leg_ended,
    RingRanOut: QueuedCall._ring_ran_out, CallerLeft: QueuedCall._caller_left, KeyPressed: QueuedCall._key, SpeechHeard: QueuedCall._speech,
    NumberChecked: QueuedCall._number_checked, Tick: QueuedCall._tick, TransferAsked: QueuedCall._transfer, SecureEntryAsked: QueuedCall._secure_entry,
    SecureEntryDone: QueuedCall._secure_entry_done, CallbackLegAnswered: QueuedCall._callback_answered, CallbackLegEnded: QueuedCall._callback_leg_ended,
    RetryDue: QueuedCall._retry, StepFailed: QueuedCall._step_failed,
}

