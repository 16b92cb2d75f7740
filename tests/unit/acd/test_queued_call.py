"""QueuedCall, the pure core of one caller's life in the ACD: facts in with an explicit `now`,
commands out. No loop and no mocks: queues are real pydantic settings, verdicts come from
callback_numbers, and every assertion is on the commands and the call's phase."""

from __future__ import annotations

import ast
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.acd.queued_call as queued_call_module
import engine.journey.events as journey
from engine.acd.agent_state import EventKind
from engine.acd.callback_numbers import CallbackAllowed, CallbackRefused, CallbackRequest, NumberSource, RefusalReason, Verdict, check_callback, normalize
from engine.acd.queued_call import FIRST_ANNOUNCEMENT_S, RING_GRACE_S, QueuedCall, adopted_conversation, restored_callback
from engine.acd.queued_call_facts import (
    AddCallbackLeg,
    AgentAnswered,
    AgentLegEnded,
    AgentOffered,
    ArmRetry,
    BackFromSecureEntry,
    CallbackFailed,
    CallbackLegAnswered,
    CallbackLegEnded,
    CallerLeft,
    CheckNumber,
    ClearPop,
    Command,
    ConnectAgent,
    ContinueFlow,
    CountHandleTime,
    DropBridge,
    Fact,
    FileRecording,
    Forget,
    HangUpCaller,
    HangUpLeg,
    HoldAgentForSecureEntry,
    Hush,
    JoinLine,
    Journal,
    KeyPressed,
    LatestCallOf,
    LeaveHold,
    LeaveLine,
    ListenFor,
    MoveToHold,
    NoteAgent,
    NumberChecked,
    OfferTo,
    Phase,
    Queued,
    ReleaseHold,
    RememberCallback,
    RetryDue,
    RingAgent,
    RingRanOut,
    Say,
    SecureEntryAsked,
    SecureEntryDone,
    SendPop,
    SpeechHeard,
    StartRecording,
    StartSurvey,
    StepFailed,
    StopListening,
    Tick,
    TransferAsked,
    WaitForAgentThenDial,
    CALLER_COMMANDS,
)
from engine.acd.wait_announcements import callback_confirmed, callback_question, callback_refused, wait_announcement
from engine.acd.wait_estimate import WaitPhrase
from engine.config.acd_config import CallbackOffer, QueueSettings

T = TypeVar("T")

NUMBER = "0212345678"
"""A Korean national number the default dialling rules call back."""
T0 = 1000.0
"""When the test caller enters the queue."""
CALLBACK: dict[str, Any] = {"offer_after_s": 0, "key": "9", "phrases": ["call me back"], "retries": 2, "retry_delay_s": 90, "ring_s": 25}
"""An offer whose key (9) differs from the confirming key (1), so the two are never confused."""
BILLING_RULES = CallbackOffer.model_validate(CALLBACK).numbers.rules()


# -- building calls ----------------------------------------------------------------------------


KEYS_WRITTEN_BEFORE_THE_MODELS: dict[str, set[tuple[str, ...]]] = {
    "queued": {("queue", "skills", "priority"), ("queue", "skills", "priority", "after_restart", "waited_s"),
               ("queue", "skills", "priority", "transferred_from"), ("queue", "skills", "priority", "overflow_from")},
    "agent_ringing": {("agent", "extension", "waited_s", "relaxed", "callback")},
    "agent_answered": {("agent", "waited_s")},
    "call_ended": {("by", "agent", "talk_s")},
    "survey_offered": {("queue", "agent", "flow")},
    "agent_not_answered": {("agent", "reason")},
    "abandoned": {("queue", "waited_s", "while", "short")},
    "transferred": {("from_agent", "to", "talk_s")},
    "secure_entry_started": {("agent", "flow")},
    "secure_entry_ended": {("agent",), ("agent", "failed")},
    "callback_offer_taken": {("by",)},
    "overflowed": {("queue", "to", "waited_s")},
    "callback_requested": {("queue", "number", "waited_s", "source")},
    "callback_refused": {("queue", "source", "reason", "number", "detail", "said"), ("queue", "source", "reason", "number", "detail")},
    "callback_dialing": {("agent", "number", "attempt")},
    "callback_answered": {("agent", "attempt", "waited_s")},
    "callback_attempt_failed": {("attempt", "reason", "agent")},
    "callback_failed": {("queue", "number", "attempts")},
    "wait_announced": {("position", "estimate_s", "said")},
    "callback_restored": {("queue", "number", "waited_s", "attempts")},
    "conversation_adopted": {("agent", "bridge")},
}
"""Each kind's detail keys, in order, as the core wrote them when it spelled its Journals as dicts
(before the typed models): the stored rows must not change."""


def stored_as_before(commands: Sequence[Command]) -> None:
    for command in commands:
        if isinstance(command, Journal):
            assert tuple(command.detail) in KEYS_WRITTEN_BEFORE_THE_MODELS[command.kind], command


@pytest.fixture(autouse=True)
def journals_store_the_keys_they_always_did(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Journal any test here gets from the core stores the keys it stored before."""
    for name in ("decide", "dial_refused"):
        original = getattr(QueuedCall, name)

        def checked(self: QueuedCall, *args: Any, _original: Any = original) -> list[Command]:
            commands: list[Command] = _original(self, *args)
            stored_as_before(commands)
            return commands

        monkeypatch.setattr(QueuedCall, name, checked)

    def restored(*args: Any) -> tuple[QueuedCall | None, list[Command]]:
        call, commands = queued_call_module.restored_callback(*args)
        stored_as_before(commands)
        return call, commands

    monkeypatch.setitem(globals(), "restored_callback", restored)


def queues(billing: Mapping[str, Any] | None = None) -> dict[str, QueueSettings]:
    """The billing queue (with the given settings) and a plain sales queue to transfer or overflow to."""
    return {
        "billing": QueueSettings.model_validate({"skills": {"billing": 1}, **(billing or {})}),
        "sales": QueueSettings(skills={"sales": 2}, wrap_up_s=10),
    }


def new_call(billing: Mapping[str, Any] | None = None, *, caller_number: str = NUMBER, has_voice: bool = True) -> QueuedCall:
    return QueuedCall("c1", "billing", queues(billing), "en", has_voice=has_voice, caller_number=caller_number)


def queued(billing: Mapping[str, Any] | None = None, *, caller_number: str = NUMBER) -> QueuedCall:
    """A caller waiting in billing since T0."""
    call = new_call(billing, caller_number=caller_number)
    call.decide(Queued(), T0)
    return call


def offer(call: QueuedCall, now: float, leg: str = "leg-1", agent: str = "ann") -> list[Command]:
    return call.decide(AgentOffered(agent, "2001", leg, waited_s=now - call.enqueued_at, relaxed=False), now)


def talking(billing: Mapping[str, Any] | None = None) -> QueuedCall:
    """Ann rang at T0+20 and answered at T0+25 on leg-1 into bridge br-1."""
    call = queued(billing)
    offer(call, T0 + 20)
    call.decide(AgentAnswered("leg-1", "br-1"), T0 + 25)
    assert phase_of(call) is Phase.TALKING
    return call


def allowed(number: str = NUMBER, source: NumberSource = NumberSource.CALLER_ID) -> Verdict:
    verdict = check_callback(CallbackRequest(number, source, BILLING_RULES))
    assert isinstance(verdict, CallbackAllowed)
    return verdict


def rate_limited(number: str = NUMBER) -> CallbackRefused:
    recent = (T0 - 600, T0 - 300, T0 - 60)
    verdict = check_callback(CallbackRequest(number, NumberSource.CALLER_ID, BILLING_RULES, recent=recent, now=T0))
    assert isinstance(verdict, CallbackRefused) and verdict.reason is RefusalReason.RATE_LIMITED
    return verdict


def owed_callback(billing: Mapping[str, Any] | None = None) -> QueuedCall:
    """A caller who took the offer by key at T0+10, confirmed its caller ID and was let go at T0+20."""
    call = queued({"callback": CALLBACK, **(billing or {})})
    call.decide(KeyPressed("9"), T0 + 10)
    call.decide(KeyPressed("1"), T0 + 12)
    call.decide(NumberChecked(allowed()), T0 + 20)
    assert phase_of(call) is Phase.CALLBACK_OWED
    return call


def dialling_back(call: QueuedCall, attempt: int, now: float) -> list[Command]:
    """An agent is offered the owed callback at `now` and takes it: the caller's phone rings."""
    offer(call, now, leg=f"leg-{attempt}")
    assert phase_of(call) is Phase.CALLBACK_RINGING
    return call.decide(AgentAnswered(f"leg-{attempt}", f"br-{attempt}", callback_leg=f"cb-{attempt}"), now + 5)


def phase_of(call: QueuedCall) -> Phase:
    """The call's phase, read afresh (a plain `call.phase` would stay narrowed by mypy across decide())."""
    return call.phase


# -- reading commands --------------------------------------------------------------------------


def types(commands: Sequence[Command]) -> list[type]:
    return [type(command) for command in commands]


def of_type(commands: Sequence[Command], kind: type[T]) -> list[T]:
    return [command for command in commands if isinstance(command, kind)]


def one(commands: Sequence[Command], kind: type[T]) -> T:
    found = of_type(commands, kind)
    assert len(found) == 1, commands
    return found[0]


def journal(commands: Sequence[Command], kind: str) -> Mapping[str, Any]:
    found = [command.detail for command in commands if isinstance(command, Journal) and command.kind == kind]
    assert len(found) == 1, commands
    return found[0]


def journal_kinds(commands: Sequence[Command]) -> list[str]:
    return [command.kind for command in commands if isinstance(command, Journal)]


def position(commands: Sequence[Command], wanted: Command) -> int:
    return list(commands).index(wanted)


# -- entering the queue ------------------------------------------------------------------------



def caller_commands(commands: list[Command]) -> list[Command]:
    """The commands a caller's session would carry out."""
    return [command for command in commands if isinstance(command, CALLER_COMMANDS)]


def test_a_queued_caller_is_moved_to_hold_journalled_and_put_in_line() -> None:
    call = new_call()
    commands = call.decide(Queued(skills=("billing", "vip"), priority=3), T0)
    assert commands == [MoveToHold("billing", adopted=False), Journal(journey.Queued(queue="billing", skills=("billing", "vip"), priority=3)), JoinLine()]
    assert phase_of(call) is Phase.WAITING and call.in_line
    assert call.enqueued_at == T0 and call.priority == 3
    assert call.required_skills() == {"vip": 1}


def test_an_adopted_caller_keeps_its_place_after_a_restart() -> None:
    call = new_call()
    commands = call.decide(Queued(waited_s=42.0), T0)
    assert types(commands) == [MoveToHold, Journal, JoinLine]
    assert one(commands, MoveToHold) == MoveToHold("billing", adopted=True)
    detail = journal(commands, "queued")
    assert detail["after_restart"] is True and detail["waited_s"] == 42.0 and detail["queue"] == "billing"
    assert call.enqueued_at == T0 - 42.0


# -- ringing an agent --------------------------------------------------------------------------


def test_an_offered_agent_is_rung_with_a_pop_and_reserved() -> None:
    call = queued()
    commands = call.decide(AgentOffered("ann", "2001", "leg-1", waited_s=20.0, relaxed=True), T0 + 20)
    assert phase_of(call) is Phase.RINGING and not call.in_line
    assert types(commands) == [LeaveLine, NoteAgent, Journal, SendPop, RingAgent]
    assert call.decide(Tick(1, 30.0, None), T0 + 30) == []  # no announcement over the ring
    assert one(commands, RingAgent) == RingAgent("ann", "2001", "leg-1", 15)
    assert one(commands, SendPop) == SendPop("ann", 20.0)
    assert one(commands, NoteAgent) == NoteAgent("ann", EventKind.RESERVED, seconds=15 + RING_GRACE_S)
    assert journal(commands, "agent_ringing") == {"agent": "ann", "extension": "2001", "waited_s": 20.0, "relaxed": True, "callback": False}


def test_an_unanswered_ring_returns_the_caller_to_its_place() -> None:
    call = queued()
    offer(call, T0 + 20)
    commands = call.decide(AgentLegEnded("leg-1", "no-answer"), T0 + 35)
    assert commands == [
        ClearPop("ann"), NoteAgent("ann", EventKind.RING_FAILED, reason="no-answer"),
        Journal(journey.AgentNotAnswered(agent="ann", reason="no-answer")), JoinLine(),
    ]
    assert phase_of(call) is Phase.WAITING and call.in_line
    assert call.enqueued_at == T0  # its place in line
    assert call.agent_id == "" and call.agent_leg == ""


def test_a_ring_whose_end_was_lost_is_hung_up_and_the_caller_returned() -> None:
    call = queued()
    offer(call, T0 + 20)
    commands = call.decide(RingRanOut(), T0 + 40)
    assert commands == [
        HangUpLeg("leg-1"), ClearPop("ann"), NoteAgent("ann", EventKind.RING_FAILED, reason="no-answer"),
        Journal(journey.AgentNotAnswered(agent="ann", reason="no-answer")), JoinLine(),
    ]
    assert phase_of(call) is Phase.WAITING and call.enqueued_at == T0


def test_ring_ran_out_changes_nothing_when_nothing_rings() -> None:
    call = queued()
    assert call.decide(RingRanOut(), T0 + 40) == []
    assert phase_of(call) is Phase.WAITING


def test_a_stale_legs_end_changes_nothing() -> None:
    call = queued()
    offer(call, T0 + 20, leg="leg-1")
    call.decide(AgentLegEnded("leg-1", "busy"), T0 + 21)
    offer(call, T0 + 30, leg="leg-2", agent="bob")
    assert call.decide(AgentLegEnded("leg-1", "no-answer"), T0 + 31) == []
    assert call.decide(AgentLegEnded("leg-0", "no-answer"), T0 + 31) == []
    assert phase_of(call) is Phase.RINGING and call.agent_id == "bob" and call.agent_leg == "leg-2"


# -- talking -----------------------------------------------------------------------------------


def test_the_agent_answering_connects_the_caller() -> None:
    call = queued()
    offer(call, T0 + 20)
    commands = call.decide(AgentAnswered("leg-1", "br-1"), T0 + 25)
    assert commands == [
        LatestCallOf("ann"), NoteAgent("ann", EventKind.ANSWERED), Journal(journey.AgentAnswered(agent="ann", waited_s=25.0)),
        StopListening(), Hush(), ConnectAgent("br-1", "leg-1", "billing"), StartRecording("c1", "ann"), ReleaseHold("billing"),
    ]
    assert phase_of(call) is Phase.TALKING and call.bridge == "br-1" and call.answered_at == T0 + 25


def test_an_answer_after_the_call_ended_is_hung_up() -> None:
    call = queued()
    offer(call, T0 + 20)
    call.decide(CallerLeft(), T0 + 22)
    assert phase_of(call) is Phase.ENDED
    assert call.decide(AgentAnswered("leg-1", "br-1"), T0 + 23) == [HangUpLeg("leg-1")]
    assert phase_of(call) is Phase.ENDED


def test_an_answer_on_a_stale_leg_is_hung_up_and_the_ring_goes_on() -> None:
    call = queued()
    offer(call, T0 + 20, leg="leg-2")
    assert call.decide(AgentAnswered("leg-1", "br-1"), T0 + 23) == [HangUpLeg("leg-1")]
    assert phase_of(call) is Phase.RINGING


def test_the_agent_hanging_up_ends_the_call_with_wrap_up() -> None:
    call = talking()
    commands = call.decide(AgentLegEnded("leg-1", "normal"), T0 + 85)
    assert types(commands) == [Journal, CountHandleTime, NoteAgent, DropBridge, HangUpCaller, Forget]
    assert journal(commands, "call_ended") == {"by": "agent", "agent": "ann", "talk_s": 60.0}
    assert one(commands, CountHandleTime) == CountHandleTime(60.0 + 30.0)
    assert one(commands, NoteAgent) == NoteAgent("ann", EventKind.CALL_ENDED, seconds=30.0)
    assert one(commands, DropBridge) == DropBridge("br-1")
    assert one(commands, HangUpCaller).reason
    assert phase_of(call) is Phase.ENDED


def test_the_agent_hanging_up_sends_the_caller_to_the_queues_survey() -> None:
    call = talking({"survey": "csat.start", "wrap_up_s": 12})
    commands = call.decide(AgentLegEnded("leg-1", "normal"), T0 + 85)
    assert types(commands) == [Journal, CountHandleTime, NoteAgent, DropBridge, Journal, StartSurvey, Forget]
    assert journal_kinds(commands) == ["call_ended", "survey_offered"]
    assert journal(commands, "survey_offered") == {"queue": "billing", "agent": "ann", "flow": "csat.start"}
    assert one(commands, StartSurvey) == StartSurvey("csat.start", "billing", "ann")
    assert one(commands, CountHandleTime) == CountHandleTime(60.0 + 12.0)
    assert of_type(commands, HangUpCaller) == []
    assert phase_of(call) is Phase.ENDED


# -- transfers ---------------------------------------------------------------------------------


def test_a_transfer_to_a_queue_files_the_recording_and_queues_the_caller_there() -> None:
    call = talking()
    call.decide(KeyPressed("5"), T0 + 30)  # nothing to do with the transfer: keys while talking change nothing
    commands = call.decide(TransferAsked("ann", to_queue="sales"), T0 + 85)
    assert one(commands, FileRecording) == FileRecording()
    assert journal(commands, "transferred") == {"from_agent": "ann", "to": "queue:sales", "talk_s": 60.0}
    assert journal(commands, "queued") == {"queue": "sales", "skills": ["sales"], "priority": None, "transferred_from": "ann"}
    assert one(commands, CountHandleTime) == CountHandleTime(60.0 + 30.0)
    assert one(commands, NoteAgent) == NoteAgent("ann", EventKind.CALL_ENDED, seconds=30.0)
    move, hang_up, drop = MoveToHold("sales", from_bridge="br-1"), HangUpLeg("leg-1"), DropBridge("br-1")
    queued_again = Journal(journey.from_stored("queued", journal(commands, "queued")))
    # The first agent's recording is filed before the caller leaves its bridge; the caller is on
    # hold before the agent's leg and the bridge go, and in line last.
    assert position(commands, FileRecording()) < position(commands, move) < position(commands, hang_up) < position(commands, drop)
    assert position(commands, drop) < position(commands, queued_again) < position(commands, JoinLine())
    assert commands[-1] == JoinLine()
    assert phase_of(call) is Phase.WAITING and call.in_line
    assert call.queue == "sales" and call.enqueued_at == T0 + 85
    assert call.transferred_from == "ann" and call.agent_id == "" and call.bridge == ""


def test_a_transfer_to_an_agent_rings_that_agent_outside_the_line() -> None:
    call = talking()
    commands = call.decide(TransferAsked("ann", to_agent="bob"), T0 + 85)
    assert journal(commands, "transferred")["to"] == "agent:bob"
    assert FileRecording() in commands and MoveToHold("billing", from_bridge="br-1") in commands
    assert commands[-1] == OfferTo("bob")
    assert of_type(commands, JoinLine) == []
    assert phase_of(call) is Phase.WAITING and call.queue == "billing" and call.enqueued_at == T0
    offered = offer(call, T0 + 86, leg="leg-2", agent="bob")
    assert RingAgent("bob", "2001", "leg-2", 15) in offered and phase_of(call) is Phase.RINGING


def test_a_transfer_asked_by_an_agent_not_on_the_call_changes_nothing() -> None:
    call = talking()
    assert call.decide(TransferAsked("zed", to_queue="sales"), T0 + 85) == []
    assert phase_of(call) is Phase.TALKING and call.queue == "billing" and call.agent_id == "ann"
    ringing = queued()
    offer(ringing, T0 + 20)
    assert ringing.decide(TransferAsked("ann", to_queue="sales"), T0 + 21) == []
    assert phase_of(ringing) is Phase.RINGING


# -- the callback offer, by key ----------------------------------------------------------------


def test_the_callback_key_opens_the_callback_dialogue() -> None:
    call = queued({"callback": CALLBACK})
    assert call.takes_key("9") and not call.takes_key("3")
    commands = call.decide(KeyPressed("9"), T0 + 10)
    assert commands == [Journal(journey.CallbackOfferTaken(by="key")), Say(callback_question("en", NUMBER))]
    assert "0 2 1 2 3 4 5 6 7 8" in one(commands, Say).text
    assert phase_of(call) is Phase.ARRANGING_CALLBACK and call.in_line and call.takes_key("3")


def test_other_keys_while_waiting_and_keys_without_an_offer_change_nothing() -> None:
    call = queued({"callback": CALLBACK})
    assert call.decide(KeyPressed("1"), T0 + 10) == []
    assert phase_of(call) is Phase.WAITING
    plain = queued()
    assert not plain.takes_key("1")
    assert plain.decide(KeyPressed("1"), T0 + 10) == []
    assert phase_of(plain) is Phase.WAITING


def test_key_1_confirms_the_caller_id_and_keys_meanwhile_change_nothing() -> None:
    call = queued({"callback": CALLBACK})
    call.decide(KeyPressed("9"), T0 + 10)
    assert call.decide(KeyPressed("1"), T0 + 12) == [CheckNumber(NUMBER, NumberSource.CALLER_ID)]
    assert phase_of(call) is Phase.CHECKING_NUMBER
    for digit in "1#*59":
        assert call.decide(KeyPressed(digit), T0 + 13) == []
        assert phase_of(call) is Phase.CHECKING_NUMBER


def test_the_default_key_1_both_takes_the_offer_and_confirms_the_number() -> None:
    call = queued({"callback": {**CALLBACK, "key": "1"}})
    assert journal_kinds(call.decide(KeyPressed("1"), T0 + 10)) == ["callback_offer_taken"]
    assert call.decide(KeyPressed("1"), T0 + 12) == [CheckNumber(NUMBER, NumberSource.CALLER_ID)]


def test_an_accepted_number_lets_the_caller_go_owed_a_callback() -> None:
    call = queued({"callback": CALLBACK})
    call.decide(KeyPressed("9"), T0 + 10)
    call.decide(KeyPressed("1"), T0 + 12)
    commands = call.decide(NumberChecked(allowed()), T0 + 20)
    assert commands == [
        RememberCallback(NUMBER, 0.0),
        Journal(journey.CallbackRequested(queue="billing", number=NUMBER, waited_s=20.0, source="caller_id")),
        StopListening(),
        Say(callback_confirmed("en", NUMBER), hang_up_after="callback arranged"),
    ]  # in the holding bridge's music until it has heard the confirmation and hung up
    assert phase_of(call) is Phase.CALLBACK_OWED and call.in_line
    assert call.has_voice is False and call.callback and call.callback_number == NUMBER
    assert call.enqueued_at == T0
    assert call.decide(CallerLeft(), T0 + 25) == [ReleaseHold("billing")]  # it hangs up after hearing the confirmation: still owed
    assert phase_of(call) is Phase.CALLBACK_OWED


def test_keyed_digits_and_hash_check_the_keyed_number() -> None:
    call = queued({"callback": CALLBACK})
    call.decide(KeyPressed("9"), T0 + 10)
    for digit in "0311112222":
        assert call.decide(KeyPressed(digit), T0 + 11) == []
    assert phase_of(call) is Phase.ARRANGING_CALLBACK and call.keyed == "0311112222"
    assert call.decide(KeyPressed("#"), T0 + 15) == [CheckNumber("0311112222", NumberSource.KEYED)]
    assert phase_of(call) is Phase.CHECKING_NUMBER
    commands = call.decide(NumberChecked(allowed("0311112222", NumberSource.KEYED)), T0 + 16)
    assert journal(commands, "callback_requested")["source"] == "keyed"
    assert call.callback_number == "0311112222"


def test_hash_with_nothing_keyed_asks_again() -> None:
    call = queued({"callback": CALLBACK})
    call.decide(KeyPressed("9"), T0 + 10)
    assert call.decide(KeyPressed("#"), T0 + 11) == [Say(callback_question("en", NUMBER, caller_id_refused=False))]
    assert phase_of(call) is Phase.ARRANGING_CALLBACK


def test_star_goes_back_to_waiting_and_the_key_asks_again() -> None:
    call = queued({"callback": CALLBACK})
    call.decide(KeyPressed("9"), T0 + 10)
    call.decide(KeyPressed("0"), T0 + 11)
    assert call.decide(KeyPressed("*"), T0 + 12) == []
    assert phase_of(call) is Phase.WAITING and call.keyed == "" and call.enqueued_at == T0
    assert journal_kinds(call.decide(KeyPressed("9"), T0 + 13)) == ["callback_offer_taken"]


def test_a_refused_number_sends_the_caller_back_to_waiting_at_its_place() -> None:
    call = queued({"callback": CALLBACK})
    call.decide(KeyPressed("9"), T0 + 10)
    call.decide(KeyPressed("1"), T0 + 12)
    verdict = rate_limited()
    commands = call.decide(NumberChecked(verdict), T0 + 20)
    said = callback_refused("en", "9")
    assert types(commands) == [Journal, Say]
    assert journal(commands, "callback_refused") == {
        "queue": "billing", "source": "caller_id", "reason": "rate_limited", "number": NUMBER, "detail": verdict.detail, "said": said,
    }
    assert one(commands, Say) == Say(said)
    assert phase_of(call) is Phase.WAITING and call.in_line and call.enqueued_at == T0 and not call.callback


def test_a_refused_keyed_number_is_journalled_as_keyed() -> None:
    call = queued({"callback": CALLBACK})
    call.decide(KeyPressed("9"), T0 + 10)
    for digit in "0601234567":
        call.decide(KeyPressed(digit), T0 + 11)
    assert call.decide(KeyPressed("#"), T0 + 12) == [CheckNumber("0601234567", NumberSource.KEYED)]
    verdict = normalize("0601234567", NumberSource.KEYED, BILLING_RULES)
    commands = call.decide(NumberChecked(verdict), T0 + 13)
    detail = journal(commands, "callback_refused")
    assert detail["source"] == "keyed" and detail["reason"] == "denied_prefix" and detail["detail"] == "060"
    assert phase_of(call) is Phase.WAITING


def test_a_withheld_caller_id_is_refused_at_the_offer_and_another_number_asked_for() -> None:
    call = queued({"callback": CALLBACK}, caller_number="anonymous")
    commands = call.decide(KeyPressed("9"), T0 + 10)
    question = callback_question("en", "", caller_id_refused=True)
    assert types(commands) == [Journal, Journal, Say]
    assert journal_kinds(commands) == ["callback_offer_taken", "callback_refused"]
    detail = journal(commands, "callback_refused")
    assert detail["source"] == "caller_id" and detail["reason"] == "withheld" and detail["number"] == "anonymous"
    assert one(commands, Say) == Say(question)
    assert "cannot call you back at the number you are calling from" in question and "key the number" in question
    assert phase_of(call) is Phase.ARRANGING_CALLBACK
    assert call.decide(KeyPressed("1"), T0 + 11) == []  # no caller ID to confirm: 1 is the first keyed digit
    assert phase_of(call) is Phase.ARRANGING_CALLBACK and call.keyed == "1"


# -- the callback offer, by voice --------------------------------------------------------------


def test_a_spoken_callback_phrase_opens_the_dialogue_and_yes_confirms() -> None:
    call = queued({"callback": CALLBACK})
    commands = call.decide(SpeechHeard((("call me back", 0.9),)), T0 + 10)
    assert commands == [Journal(journey.CallbackOfferTaken(by="speech")), Say(callback_question("en", NUMBER))]
    assert phase_of(call) is Phase.ARRANGING_CALLBACK
    assert call.decide(SpeechHeard((("yes", 0.8),)), T0 + 12) == [CheckNumber(NUMBER, NumberSource.CALLER_ID)]
    assert phase_of(call) is Phase.CHECKING_NUMBER


def test_a_callback_phrase_is_found_within_what_was_said() -> None:
    call = queued({"callback": CALLBACK})
    commands = call.decide(SpeechHeard((("hello", 0.95), ("please  call me   back now", 0.7))), T0 + 10)
    assert journal(commands, "callback_offer_taken") == {"by": "speech"}


def test_low_confidence_speech_is_ignored() -> None:
    call = queued({"callback": CALLBACK})
    assert call.decide(SpeechHeard((("call me back", 0.39),)), T0 + 10) == []
    assert phase_of(call) is Phase.WAITING
    call.decide(SpeechHeard((("call me back", 0.4),)), T0 + 11)
    assert phase_of(call) is Phase.ARRANGING_CALLBACK
    assert call.decide(SpeechHeard((("yes", 0.2),)), T0 + 12) == []
    assert call.decide(SpeechHeard((("the weather", 0.9),)), T0 + 12) == []
    assert phase_of(call) is Phase.ARRANGING_CALLBACK


def test_speech_without_a_callback_offer_changes_nothing() -> None:
    call = queued()
    assert call.decide(SpeechHeard((("call me back", 0.9),)), T0 + 10) == []
    assert phase_of(call) is Phase.WAITING


# -- calling back ------------------------------------------------------------------------------


def test_an_agent_taking_an_owed_callback_dials_the_caller() -> None:
    call = owed_callback()
    offered = offer(call, T0 + 30)
    assert phase_of(call) is Phase.CALLBACK_RINGING and not call.in_line
    assert journal(offered, "agent_ringing")["callback"] is True
    commands = call.decide(AgentAnswered("leg-1", "br-1", callback_leg="cb-1"), T0 + 35)
    assert types(commands) == [LatestCallOf, NoteAgent, Journal, WaitForAgentThenDial]
    assert one(commands, WaitForAgentThenDial) == WaitForAgentThenDial("br-1", "leg-1", "cb-1", NUMBER, 25)
    assert journal(commands, "callback_dialing") == {"agent": "ann", "number": NUMBER, "attempt": 1}
    assert phase_of(call) is Phase.DIALLING_BACK and call.attempts == 1


def test_an_unanswered_callback_is_retried_after_the_delay() -> None:
    call = owed_callback()
    dialling_back(call, 1, T0 + 30)
    commands = call.decide(CallbackLegEnded("cb-1", "no-answer"), T0 + 60)
    assert journal(commands, "callback_attempt_failed") == {"attempt": 1, "reason": "no-answer", "agent": "ann"}
    assert HangUpLeg("leg-1") in commands and DropBridge("br-1") in commands and ClearPop("ann") in commands
    assert NoteAgent("ann", EventKind.CALL_ENDED) in commands
    assert commands[-1] == ArmRetry(90.0)
    assert of_type(commands, JoinLine) == []
    assert phase_of(call) is Phase.CALLBACK_RETRY and call.attempts == 1 and not call.in_line
    assert call.decide(RetryDue(), T0 + 150) == [JoinLine()]
    assert phase_of(call) is Phase.CALLBACK_OWED and call.in_line
    assert call.enqueued_at == T0  # back at its original place
    assert call.decide(RetryDue(), T0 + 151) == [], "a stale retry timer changes nothing"


def test_a_callback_fails_for_good_after_its_retries() -> None:
    call = owed_callback()  # retries: 2, so three attempts in all
    now = T0 + 30
    for attempt in (1, 2):
        dialling_back(call, attempt, now)
        assert ArmRetry(90.0) in call.decide(CallbackLegEnded(f"cb-{attempt}", "busy"), now + 20)
        assert call.decide(RetryDue(), now + 110) == [JoinLine()]
        now += 200
    dialling_back(call, 3, now)
    commands = call.decide(CallbackLegEnded("cb-3", "no-answer"), now + 20)
    assert journal_kinds(commands) == ["callback_attempt_failed", "callback_failed"]
    assert journal(commands, "callback_failed") == {"queue": "billing", "number": NUMBER, "attempts": 3}
    assert CallbackFailed(NUMBER, 3) in commands and commands[-1] == Forget()
    assert of_type(commands, ArmRetry) == []
    assert phase_of(call) is Phase.ENDED


def test_the_agent_hanging_up_while_the_caller_rings_does_not_count_the_attempt() -> None:
    call = owed_callback()
    now = T0 + 30
    for attempt in (1, 2):
        dialling_back(call, attempt, now)
        call.decide(CallbackLegEnded(f"cb-{attempt}", "no-answer"), now + 20)
        call.decide(RetryDue(), now + 110)
        now += 200
    dialling_back(call, 3, now)  # the last attempt, had it counted
    assert call.attempts == 3
    commands = call.decide(AgentLegEnded("leg-3", "normal"), now + 10)
    assert call.attempts == 2
    assert journal(commands, "callback_attempt_failed")["reason"] == "agent hung up"
    assert commands[-1] == HangUpLeg("cb-3")
    assert ArmRetry(90.0) in commands and of_type(commands, CallbackFailed) == []
    assert phase_of(call) is Phase.CALLBACK_RETRY


def test_an_answered_callback_is_a_conversation_the_caller_can_end() -> None:
    call = owed_callback()
    dialling_back(call, 1, T0 + 30)
    commands = call.decide(CallbackLegAnswered("cb-1"), T0 + 45)
    assert commands == [AddCallbackLeg("br-1", "cb-1"), StartRecording("cb-1", "ann"),
                        Journal(journey.CallbackAnswered(agent="ann", attempt=1, waited_s=45.0))]
    assert phase_of(call) is Phase.TALKING
    assert call.decide(CallerLeft(), T0 + 50) == []  # the caller's first channel is long gone
    assert call.decide(TransferAsked("ann", to_queue="sales"), T0 + 50) == []
    ended = call.decide(CallbackLegEnded("cb-1", "normal"), T0 + 105)
    assert journal(ended, "call_ended") == {"by": "caller", "agent": "ann", "talk_s": 60.0}
    assert HangUpLeg("leg-1") in ended and DropBridge("br-1") in ended and CountHandleTime(60.0 + 30.0) in ended
    assert NoteAgent("ann", EventKind.CALL_ENDED, seconds=30.0) in ended and ended[-1] == Forget()
    assert phase_of(call) is Phase.ENDED


def test_the_agent_ending_an_answered_callback_hangs_up_the_callback_leg() -> None:
    call = owed_callback({"survey": "csat.start"})
    dialling_back(call, 1, T0 + 30)
    call.decide(CallbackLegAnswered("cb-1"), T0 + 45)
    commands = call.decide(AgentLegEnded("leg-1", "normal"), T0 + 105)
    assert journal(commands, "call_ended")["by"] == "agent"
    assert HangUpLeg("cb-1") in commands
    assert caller_commands(commands) == []  # no session speaks for a called-back caller
    assert phase_of(call) is Phase.ENDED


def test_a_stale_callback_leg_answering_is_hung_up() -> None:
    call = owed_callback()
    dialling_back(call, 1, T0 + 30)
    assert call.decide(CallbackLegAnswered("cb-0"), T0 + 40) == [HangUpLeg("cb-0")]
    assert call.decide(CallbackLegEnded("cb-0", "busy"), T0 + 40) == []
    assert phase_of(call) is Phase.DIALLING_BACK


def test_retry_due_outside_an_owed_callback_changes_nothing() -> None:
    call = queued({"callback": CALLBACK})
    assert call.decide(RetryDue(), T0 + 10) == []


# -- overflow ----------------------------------------------------------------------------------


def test_overflow_to_another_queue_moves_the_caller_there() -> None:
    call = new_call({"max_wait": {"seconds": 120, "overflow": {"queue": "sales"}}})
    call.decide(Queued(skills=("vip",), priority=2), T0)
    assert call.decide(Tick(), T0 + 119.9) == []
    commands = call.decide(Tick(), T0 + 120)
    assert commands == [
        Journal(journey.Overflowed(queue="billing", to="queue:sales", waited_s=120.0)), LeaveLine(), Hush(),
        MoveToHold("sales", from_queue="billing"),
        Journal(journey.Queued(queue="sales", skills=("sales", "vip"), priority=2, overflow_from="billing")),
        ReleaseHold("billing"), JoinLine(),
    ]
    assert phase_of(call) is Phase.WAITING and call.queue == "sales" and call.enqueued_at == T0 + 120


def test_overflow_to_a_flow_hands_the_caller_back_to_a_flow() -> None:
    call = queued({"max_wait": {"seconds": 120, "overflow": {"flow": "after_hours.menu"}}})
    commands = call.decide(Tick(), T0 + 130)
    assert journal(commands, "overflowed") == {"queue": "billing", "to": "flow:after_hours.menu", "waited_s": 130.0}
    assert ContinueFlow("after_hours.menu", "queue overflow") in commands and LeaveHold("billing") in commands
    assert position(commands, LeaveHold("billing")) < position(commands, ContinueFlow("after_hours.menu", "queue overflow"))
    assert commands[-1] == Forget()
    assert phase_of(call) is Phase.ENDED


def test_overflow_to_a_message_says_it_and_hangs_up() -> None:
    call = queued({"max_wait": {"seconds": 120, "overflow": {"message": "Please call again tomorrow."}}})
    commands = call.decide(Tick(), T0 + 120)
    assert journal(commands, "overflowed")["to"] == "message"
    say = one(commands, Say)
    assert say.text == "Please call again tomorrow." and say.hang_up_after
    assert commands[-1] == say and of_type(commands, ReleaseHold) == []  # the queue's music plays until it hangs up
    assert phase_of(call) is Phase.SAYING_GOODBYE and not call.in_line
    assert call.decide(Tick(), T0 + 130) == [] and call.decide(KeyPressed("1"), T0 + 131) == []
    assert call.decide(CallerLeft(), T0 + 140) == [ReleaseHold("billing"), Forget()]
    assert phase_of(call) is Phase.ENDED


def test_overflow_to_a_callback_checks_the_caller_id_and_journals_the_overflow_first() -> None:
    call = queued({"callback": CALLBACK, "max_wait": {"seconds": 120, "overflow": {"callback": True}}})
    assert call.decide(Tick(), T0 + 120) == [CheckNumber(NUMBER, NumberSource.OVERFLOW)]
    assert phase_of(call) is Phase.CHECKING_NUMBER
    commands = call.decide(NumberChecked(allowed(source=NumberSource.OVERFLOW)), T0 + 121)
    assert journal_kinds(commands) == ["overflowed", "callback_requested"]
    assert journal(commands, "overflowed") == {"queue": "billing", "to": "callback", "waited_s": 120.0}
    assert journal(commands, "callback_requested")["source"] == "overflow"
    assert phase_of(call) is Phase.CALLBACK_OWED


def test_a_refused_overflow_callback_is_not_tried_again() -> None:
    billing = {"callback": CALLBACK, "max_wait": {"seconds": 120, "overflow": {"callback": True}}}
    call = queued(billing, caller_number="0601234567")
    assert call.decide(Tick(), T0 + 120) == [CheckNumber("0601234567", NumberSource.OVERFLOW)]
    commands = call.decide(NumberChecked(normalize("0601234567", NumberSource.OVERFLOW, BILLING_RULES)), T0 + 121)
    assert journal_kinds(commands) == ["callback_refused"]
    assert journal(commands, "callback_refused")["source"] == "overflow"
    assert phase_of(call) is Phase.WAITING
    for second in range(122, 400, 7):
        assert of_type(call.decide(Tick(), T0 + second), CheckNumber) == []
    assert phase_of(call) is Phase.WAITING


def test_an_overflow_callback_overtaken_by_an_agent_is_not_journalled_as_an_overflow_later() -> None:
    """`overflow_waited_s` is set only "while the queue's overflow is arranging a callback": an agent
    offered meanwhile ends that; a callback the caller asks for itself later is no overflow."""
    call = queued({"callback": CALLBACK, "max_wait": {"seconds": 120, "overflow": {"callback": True}}})
    assert call.decide(Tick(), T0 + 120) == [CheckNumber(NUMBER, NumberSource.OVERFLOW)]
    offer(call, T0 + 121)
    assert call.decide(NumberChecked(allowed(source=NumberSource.OVERFLOW)), T0 + 122) == []  # the check's answer, too late
    call.decide(AgentLegEnded("leg-1", "no-answer"), T0 + 136)
    assert phase_of(call) is Phase.WAITING
    call.decide(KeyPressed("9"), T0 + 140)
    call.decide(KeyPressed("1"), T0 + 141)
    commands = call.decide(NumberChecked(allowed()), T0 + 142)
    assert journal_kinds(commands) == ["callback_requested"]
    assert journal(commands, "callback_requested")["source"] == "caller_id"


def test_a_caller_arranging_a_callback_is_not_overflowed() -> None:
    call = queued({"callback": CALLBACK, "max_wait": {"seconds": 120, "overflow": {"queue": "sales"}}})
    call.decide(KeyPressed("9"), T0 + 100)
    assert call.decide(Tick(), T0 + 130) == []
    assert phase_of(call) is Phase.ARRANGING_CALLBACK and call.queue == "billing"


# -- announcements -----------------------------------------------------------------------------


def test_announcements_come_first_after_a_moment_then_every_interval() -> None:
    call = queued({"announce": {"every_s": 30}, "callback": {**CALLBACK, "offer_after_s": 60}})
    phrase = WaitPhrase("about_minutes", 2)
    assert call.decide(Tick(3, 95.0, phrase), T0 + FIRST_ANNOUNCEMENT_S - 0.1) == []
    first = call.decide(Tick(3, 95.4, phrase), T0 + FIRST_ANNOUNCEMENT_S)
    text = wait_announcement("en", 3, phrase, None)
    assert "number 3 in line" in text and "about 2 minutes" in text
    assert first == [Journal(journey.WaitAnnounced(position=3, estimate_s=95, said=text)), Say(text)]
    assert call.decide(Tick(3, 90.0, phrase), T0 + 20) == []
    assert types(call.decide(Tick(2, 60.0, phrase), T0 + 34)) == [Journal, Say]


def test_the_callback_offer_is_announced_and_listened_for_once_it_is_on() -> None:
    call = queued({"announce": {"every_s": 30}, "callback": {**CALLBACK, "offer_after_s": 60}})
    call.decide(Tick(3, None, None), T0 + 4)
    call.decide(Tick(3, None, None), T0 + 34)
    commands = call.decide(Tick(2, None, None), T0 + 64)
    text = wait_announcement("en", 2, None, "9")
    assert "press 9" in text
    assert commands == [ListenFor(("call me back",)), Journal(journey.WaitAnnounced(position=2, estimate_s=None, said=text)), Say(text)]
    again = call.decide(Tick(1, None, None), T0 + 94)
    assert of_type(again, ListenFor) == [] and "press 9" in one(again, Say).text


def test_a_caller_back_in_line_after_talking_is_listened_for_again() -> None:
    """The answer sent StopListening: once the caller waits again (a transfer back into a queue with
    callback phrases), its words must be listened for again or the spoken callback is lost."""
    call = queued({"announce": {"every_s": 30}, "callback": CALLBACK})
    assert ListenFor(("call me back",)) in call.decide(Tick(1, None, None), T0 + 4)
    offer(call, T0 + 20)
    assert StopListening() in call.decide(AgentAnswered("leg-1", "br-1"), T0 + 25)
    call.decide(TransferAsked("ann", to_queue="billing"), T0 + 85)
    assert phase_of(call) is Phase.WAITING
    assert ListenFor(("call me back",)) in call.decide(Tick(1, None, None), T0 + 120)


def test_no_listening_without_callback_phrases() -> None:
    call = queued({"callback": {**CALLBACK, "phrases": []}})
    commands = call.decide(Tick(1, None, None), T0 + 4)
    assert of_type(commands, ListenFor) == [] and "press 9" in one(commands, Say).text


def test_no_announcement_without_a_position_or_a_voice() -> None:
    call = queued()
    assert call.decide(Tick(), T0 + 4) == []
    restored, _ = restored_callback("c9", "billing", queues({"callback": CALLBACK}), "en", NUMBER, 10.0, 0, T0)
    assert restored is not None
    assert restored.decide(Tick(1, 30.0, None), T0 + 100) == []


# -- secure entry ------------------------------------------------------------------------------


def test_secure_entry_round_trip() -> None:
    call = talking({"secure_entry": "card.start"})
    assert call.can_enter_securely("ann") is None
    commands = call.decide(SecureEntryAsked("ann"), T0 + 40)
    assert commands == [Journal(journey.SecureEntryStarted(agent="ann", flow="card.start")), HoldAgentForSecureEntry("br-1"),
                        ContinueFlow("card.start", "secure entry")]
    assert phase_of(call) is Phase.SECURE_ENTRY
    assert call.can_enter_securely("ann") == "the caller is in secure entry already"
    assert call.decide(SecureEntryAsked("ann"), T0 + 41) == []
    done = call.decide(SecureEntryDone(), T0 + 70)
    assert done == [BackFromSecureEntry("br-1"), Journal(journey.SecureEntryEnded(agent="ann")), SendPop("ann", 0.0, with_history=False)]
    assert phase_of(call) is Phase.TALKING
    assert call.decide(SecureEntryDone(), T0 + 71) == []


def test_secure_entry_refusals() -> None:
    without = talking()
    assert without.can_enter_securely("ann") == "queue billing has no secure_entry flow"
    assert without.decide(SecureEntryAsked("ann"), T0 + 40) == []
    assert phase_of(without) is Phase.TALKING
    call = talking({"secure_entry": "card.start"})
    assert call.can_enter_securely("bob") == "you are not talking to that caller"
    assert call.decide(SecureEntryAsked("bob"), T0 + 40) == []
    waiting = queued({"secure_entry": "card.start"})
    assert waiting.can_enter_securely("ann") == "you are not talking to that caller"


def test_a_secure_entry_that_could_not_start_leaves_them_talking() -> None:
    call = talking({"secure_entry": "card.start"})
    call.decide(SecureEntryAsked("ann"), T0 + 40)
    commands = call.decide(StepFailed("secure entry", "bridge gone"), T0 + 41)
    assert commands == [BackFromSecureEntry("br-1"), Journal(journey.SecureEntryEnded(agent="ann", failed="bridge gone"))]
    assert phase_of(call) is Phase.TALKING


# -- the caller leaving ------------------------------------------------------------------------


def test_the_caller_leaving_while_the_agent_rings_is_an_abandon() -> None:
    call = queued()
    offer(call, T0 + 20)
    commands = call.decide(CallerLeft(), T0 + 30)
    assert journal(commands, "abandoned") == {"queue": "billing", "waited_s": 30.0, "while": "agent ringing", "short": False}
    assert HangUpLeg("leg-1") in commands and ClearPop("ann") in commands and NoteAgent("ann", EventKind.CALL_ENDED) in commands
    assert commands[-1] == Forget()
    assert phase_of(call) is Phase.ENDED


def test_the_caller_leaving_while_the_bridge_is_made_ends_the_conversation() -> None:
    call = queued()
    offer(call, T0 + 20)
    call.decide(AgentAnswered("leg-1", "br-1"), T0 + 25)
    commands = call.decide(CallerLeft(), T0 + 26)
    assert journal(commands, "call_ended") == {"by": "caller", "agent": "ann", "talk_s": 1.0}
    assert HangUpLeg("leg-1") in commands and DropBridge("br-1") in commands
    assert phase_of(call) is Phase.ENDED
    assert call.decide(StepFailed("connect agent", "channel not found"), T0 + 27) == []
    assert call.decide(AgentLegEnded("leg-1", "normal"), T0 + 27) == []


@pytest.mark.parametrize(("left_after", "short"), [(3.0, True), (4.9, True), (5.0, False), (50.0, False)])
def test_the_caller_leaving_while_waiting_is_a_short_or_real_abandon(left_after: float, short: bool) -> None:
    call = queued({"short_abandon_s": 5})
    commands = call.decide(CallerLeft(), T0 + left_after)
    assert journal(commands, "abandoned") == {"queue": "billing", "waited_s": round(left_after, 1), "while": "waiting", "short": short}
    assert LeaveLine() in commands and ReleaseHold("billing") in commands and commands[-1] == Forget()
    assert phase_of(call) is Phase.ENDED


def test_a_failed_step_while_waiting_hangs_the_caller_up_rather_than_leave_it_in_silence() -> None:
    call = queued()
    commands = call.decide(StepFailed("move to hold", "bridge not found"), T0 + 1)
    assert types(commands) == [HangUpCaller]
    assert "move to hold failed" in one(commands, HangUpCaller).reason


# -- restored callbacks ------------------------------------------------------------------------


def test_a_restored_callback_with_a_good_number_is_owed_again() -> None:
    call, commands = restored_callback("c9", "billing", queues({"callback": CALLBACK}), "en", "+82212345678", 300.0, 1, T0)
    assert call is not None
    assert phase_of(call) is Phase.CALLBACK_OWED and call.in_line and call.has_voice is False
    assert call.callback_number == NUMBER and call.attempts == 1 and call.enqueued_at == T0 - 300.0
    assert types(commands) == [RememberCallback, Journal, JoinLine]
    assert one(commands, RememberCallback) == RememberCallback(NUMBER, 300.0)
    assert journal(commands, "callback_restored") == {"queue": "billing", "number": NUMBER, "waited_s": 300.0, "attempts": 1}


@pytest.mark.parametrize(("number", "reason"), [("0079712345678", "denied_prefix"), ("+882130001234", "international")])
def test_a_restored_callback_to_a_refused_number_is_closed(number: str, reason: str) -> None:
    call, commands = restored_callback("c9", "billing", queues({"callback": CALLBACK}), "en", number, 300.0, 2, T0)
    assert call is None
    assert types(commands) == [Journal, CallbackFailed]
    detail = journal(commands, "callback_refused")
    assert detail["source"] == "restored" and detail["reason"] == reason and detail["number"] == number
    assert one(commands, CallbackFailed) == CallbackFailed(number, 2, refused=reason)


def test_a_restored_callback_of_a_queue_without_callbacks_is_closed() -> None:
    call, commands = restored_callback("c9", "billing", queues(), "en", NUMBER, 300.0, 0, T0)
    assert call is None
    assert journal(commands, "callback_refused")["reason"] == RefusalReason.NO_CALLBACKS.value


# -- what the core must never do ---------------------------------------------------------------

KNOWN_COMMANDS = frozenset(typing.get_args(Command))
PHRASE = WaitPhrase("about_minutes", 3)
ALPHABET: list[Fact] = [
    AgentOffered("ann", "2001", "leg-1", 30.0, False), AgentOffered("bob", "2002", "leg-2", 60.0, True),
    AgentAnswered("leg-1", "br-1", "cb-1"), AgentAnswered("leg-2", "br-2", "cb-2"),
    AgentLegEnded("leg-1", "no-answer"), AgentLegEnded("leg-2", "busy"), RingRanOut(), CallerLeft(),
    KeyPressed("9"), KeyPressed("1"), KeyPressed("0"), KeyPressed("3"), KeyPressed("#"), KeyPressed("*"),
    SpeechHeard((("call me back", 0.9),)), SpeechHeard((("yes", 0.8),)), SpeechHeard((("call me back", 0.1),)),
    NumberChecked(CallbackAllowed(NUMBER)), NumberChecked(CallbackRefused(RefusalReason.RATE_LIMITED, NUMBER, "3 in the last hour")),
    Tick(), Tick(1, 30.0, PHRASE), Tick(4, None, None),
    TransferAsked("ann", to_queue="sales"), TransferAsked("ann", to_agent="bob"), TransferAsked("bob", to_queue="billing"),
    SecureEntryAsked("ann"), SecureEntryAsked("bob"), SecureEntryDone(),
    CallbackLegAnswered("cb-1"), CallbackLegAnswered("cb-2"), CallbackLegEnded("cb-1", "no-answer"), CallbackLegEnded("cb-2", "normal"),
    RetryDue(), StepFailed("secure entry", "gone"), StepFailed("connect agent", "gone"),
]
FAVOURED: list[Fact] = [
    KeyPressed("9"), KeyPressed("1"), NumberChecked(CallbackAllowed(NUMBER)), AgentOffered("ann", "2001", "leg-1", 30.0, False),
    AgentAnswered("leg-1", "br-1", "cb-1"), CallbackLegAnswered("cb-1"), CallbackLegEnded("cb-1", "no-answer"), RetryDue(),
]
"""The way through a callback, drawn more often so that random sequences reach its later phases."""
OVERFLOWS: list[dict[str, Any]] = [{"queue": "sales"}, {"callback": True}, {"flow": "after_hours"}, {"message": "Goodbye."}]
steps = st.lists(st.tuples(st.sampled_from(ALPHABET + FAVOURED * 3), st.floats(min_value=0.0, max_value=40.0)), max_size=40)
billing_settings = st.builds(
    lambda overflow, survey, secure: {
        "callback": CALLBACK, "max_wait": {"seconds": 150, "overflow": overflow}, "survey": survey, "secure_entry": secure, "announce": {"every_s": 20},
    },
    st.sampled_from(OVERFLOWS), st.sampled_from([None, "csat"]), st.sampled_from([None, "card"]),
)


def play(call: QueuedCall, facts: list[tuple[Fact, float]]) -> list[tuple[Phase, bool, Fact, list[Command], Phase]]:
    """(phase before, voice before, fact, commands, phase after) for each fact, time moving on."""
    now, seen = T0, []
    for fact, elapsed in facts:
        now += elapsed
        before, voice = call.phase, call.has_voice
        commands = call.decide(fact, now)
        seen.append((before, voice, fact, commands, call.phase))
    return seen


@settings(max_examples=300, deadline=None)
@given(billing_settings, st.sampled_from(["en", "ko"]), st.sampled_from([NUMBER, "anonymous", "0601234567"]), steps,
       st.sampled_from([0.0, 500.0]))
def test_any_sequence_of_facts_yields_known_commands_and_nothing_after_the_end(
    billing: dict[str, Any], language: str, caller_number: str, facts: list[tuple[Fact, float]], waited_s: float,
) -> None:
    call = QueuedCall("c1", "billing", queues(billing), language, has_voice=True, caller_number=caller_number)
    call.decide(Queued(waited_s=waited_s), T0)
    for before, _, fact, commands, _ in play(call, facts):
        assert isinstance(commands, list)
        assert all(type(command) in KNOWN_COMMANDS for command in commands), commands
        if before is Phase.ENDED:
            answered = fact.leg if isinstance(fact, (AgentAnswered, CallbackLegAnswered)) else None
            assert commands == ([HangUpLeg(answered)] if answered is not None else []), (fact, commands)


@settings(max_examples=300, deadline=None)
@given(billing_settings, st.sampled_from([NUMBER, "anonymous"]), st.sampled_from([None, 0, 2]), steps)
def test_the_line_the_end_and_the_callers_voice_stay_consistent(
    billing: dict[str, Any], caller_number: str, restored_attempts: int | None, facts: list[tuple[Fact, float]],
) -> None:
    """JoinLine only leaves the call in a lined-up phase; Forget comes exactly with the step into
    ENDED; a call without its caller's voice never speaks to the caller. From a new caller, or
    from a callback restored after a restart (so that its retries run out too)."""
    if restored_attempts is None:
        call = QueuedCall("c1", "billing", queues(billing), "en", has_voice=True, caller_number=caller_number)
        call.decide(Queued(), T0)
    else:
        restored, _ = restored_callback("c1", "billing", queues(billing), "en", NUMBER, 60.0, restored_attempts, T0)
        assert restored is not None
        call = restored
    for before, voice, fact, commands, after in play(call, facts):
        if JoinLine() in commands:
            assert after in (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER, Phase.CALLBACK_OWED), (before, fact, commands)
        entered_end = before is not Phase.ENDED and after is Phase.ENDED
        assert commands.count(Forget()) == (1 if entered_end else 0), (before, fact, commands)
        if not voice:
            assert caller_commands(commands) == [], (before, fact, commands)


def test_a_second_queued_fact_while_talking_changes_nothing() -> None:
    """decide(): "a fact that does not fit the phase changes nothing"; a caller talking to its agent
    is not put back on hold and in line."""
    call = talking()
    assert call.decide(Queued(), T0 + 60) == []
    assert phase_of(call) is Phase.TALKING and call.enqueued_at == T0


def test_the_core_imports_no_io_clock_or_logging() -> None:
    source = Path(queued_call_module.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            imported.add(node.module)
    forbidden = ("asyncio", "logging", "time", "socket", "aiohttp", "sqlalchemy", "engine.asterisk")
    bad = sorted(name for name in imported if any(name == root or name.startswith(root + ".") for root in forbidden))
    assert bad == []


def test_a_conversation_found_in_its_bridge_after_a_restart_is_adopted_talking() -> None:
    call, commands = adopted_conversation("c9", "billing", queues(), "en", "ann", "leg-9", "br-9", 40.0, T0)
    assert phase_of(call) is Phase.TALKING and call.answered_at == T0 - 40.0
    assert commands[-1] == Journal(journey.ConversationAdopted(agent="ann", bridge="br-9"))
    stored_as_before(commands)
