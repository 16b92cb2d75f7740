"""The journey's schema: one frozen, documented model per event kind, and the codec to and from the
stored (kind, detail) rows. Pure; no I/O.

Writers build a model and store `to_stored(event)`; readers turn each row back with `from_stored`.
The stored form is what the engine wrote before these models existed: the same kind strings, the
same detail keys in the same order, and a key is stored only if the writer set it (a field left at
its default is not written), so databases from earlier versions and from this one read alike.

Decoding never raises: a missing field gets its default (what a row without it has always meant),
keys this version does not know are kept (and written back), a value of the wrong type is dropped
to its default, and a kind this version does not know becomes an `UnknownEvent`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

StoredEvent = tuple[str, dict[str, Any]]
"""(kind, detail): a journey event as the journey_events table holds it."""


class JourneyEventModel(BaseModel):
    """One step of a call's journey. `KIND` is the kind string stored with it."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True, use_attribute_docstrings=True)
    KIND: ClassVar[str] = ""


class UnknownEvent(JourneyEventModel):
    """A row of a kind this version does not know (an older or newer engine wrote it): kept as is."""

    kind: str
    detail: dict[str, Any] = {}


# -- the call itself: engine/call, engine/store/journey_store.py ---------------------------------


class Arrived(JourneyEventModel):
    """The call reached the engine (first event of every call; written with the call row)."""

    KIND = "arrived"
    channel: str = ""
    """Asterisk's channel name (PJSIP/trunk-000001)."""
    caller_number: str = ""
    dialed: str = ""
    waited_for_engine_ms: int = 0
    """How long the caller waited in the dialplan for an engine; absent when no wait."""


class Answered(JourneyEventModel):
    """The engine answered the caller's channel."""

    KIND = "answered"


class Resumed(JourneyEventModel):
    """An engine took over a call an earlier engine had started."""

    KIND = "resumed"
    reason: str = ""


class CallClosed(JourneyEventModel):
    """The last event of a call: how it ended (also in the call row)."""

    by: str = ""
    """caller, engine, system (Asterisk hung up) or lost."""
    cause: int | None = None
    """The Q.850 hang-up cause, when known."""
    cause_txt: str | None = None
    """Asterisk's cause text, or the engine's reason."""


class HungUp(CallClosed):
    """The call ended normally (by either side)."""

    KIND = "hung_up"


class CallFailed(CallClosed):
    """The engine gave up on the call after an error and hung it up."""

    KIND = "failed"


class CallLost(CallClosed):
    """The call ended while no engine could see it (found gone after a restart)."""

    KIND = "lost"


class HandedOver(JourneyEventModel):
    """The engine stopped and left the caller to the next one."""

    KIND = "handed_over"
    wait_s: int | float = 0
    """How long the dialplan keeps the caller on hold for the next engine (absent if talking)."""
    reason: str = ""
    talking_to_agent: bool = False
    """The caller stays in its bridge with the agent; no hold music, no bound."""


class PromptStarted(JourneyEventModel):
    KIND = "prompt_started"
    media: str = ""
    """The media URI Asterisk plays (sound:..., recording:...)."""
    playback_id: str = ""


class PromptFinished(JourneyEventModel):
    KIND = "prompt_finished"
    media: str = ""
    state: str = ""
    """Asterisk's playback state at the end (done, cancelled, failed)."""


class DtmfReceived(JourneyEventModel):
    """A key the caller pressed."""

    KIND = "dtmf"
    digit: str = ""
    """The key, or "masked" while a sensitive value is keyed."""
    duration_ms: int = 0


class LeftWithAgent(JourneyEventModel):
    """An adopted call was already talking to an agent: it stays in its bridge, the flow is not run."""

    KIND = "left_with_agent"
    reason: str = ""


# -- the IVR flow: engine/flows/interpreter.py, engine/call/flow_driver.py ------------------------


class FlowRestarted(JourneyEventModel):
    """An adopted call's checkpoint did not fit the running flows: the flow starts over."""

    KIND = "flow_restarted"
    reason: str = ""


class FlowResumed(JourneyEventModel):
    """An adopted call goes on from its checkpoint."""

    KIND = "flow_resumed"
    flow: str = ""
    node: str = ""
    version: str = ""
    """The flow file's version (hash) the call now runs."""


class FlowContinued(JourneyEventModel):
    """A reload or an error moved the call on to another node."""

    KIND = "flow_continued"
    to: str = ""
    reason: str = ""


class FlowStarted(JourneyEventModel):
    KIND = "flow_started"
    flow: str = ""
    version: str = ""


class NodeEntered(JourneyEventModel):
    KIND = "node_entered"
    flow: str = ""
    node: str = ""
    type: str = ""
    """The node's type (menu, ask, collect, ...)."""


class FlowEntered(JourneyEventModel):
    """The call went on into another flow (a goto, or a post-call survey)."""

    KIND = "flow_entered"
    flow: str = ""
    version: str = ""


class VariablesSet(JourneyEventModel):
    """A set node's values. Stored as the detail itself: {variable: value shown}."""

    KIND = "variables_set"
    values: dict[str, Any] = {}
    """Each variable set, with its value (masked if sensitive)."""


class BranchTaken(JourneyEventModel):
    KIND = "branch_taken"
    condition: str = ""
    """The condition's text, or "else"."""
    index: int = 0
    """Which condition matched (absent for else)."""


class BargedIn(JourneyEventModel):
    """The caller spoke or keyed over a prompt, which stopped."""

    KIND = "barge_in"
    node: str = ""


class Collected(JourneyEventModel):
    """A collect node (or a yes/no question) got its value."""

    KIND = "collected"
    node: str = ""
    into: str = ""
    """The variable filled."""
    value: Any = None
    """What was collected, masked if sensitive."""
    length: int = 0
    """Digits keyed (keyed collections only)."""


class Recognised(JourneyEventModel):
    """Speech matched an intent without choosing it yet (global handler, or to be confirmed)."""

    KIND = "recognised"
    heard: Any = None
    """The recogniser's alternatives."""
    intent: str = ""
    confidence: int | float = 0
    phrase: str = ""
    """The intent phrase that matched best."""
    band: str = ""
    """global (agent/help/repeat), or confirm (the caller is asked)."""


class SpeechIgnored(JourneyEventModel):
    """Speech while keys are the answer, not a global handler: ignored."""

    KIND = "speech_ignored"
    node: str = ""
    heard: Any = None
    why: str = ""


class IntentChosen(JourneyEventModel):
    """An ask node's answer: by key, by speech accepted at once, or by speech confirmed."""

    KIND = "intent_chosen"
    node: str = ""
    intent: str = ""
    into: str = ""
    key: str = ""
    """The key pressed (keyed answers only)."""
    heard: Any = None
    confirmed: bool = False
    """The caller said yes to the confirmation question."""
    confidence: int | float = 0
    phrase: str = ""
    band: str = ""
    """accept (speech taken at once); absent for keys and confirmations."""


class _Miss(JourneyEventModel):
    node: str = ""
    attempt: int = 0
    """The how-manieth miss at this node (absent in a steps node)."""
    step: str = ""
    """The troubleshooting step asked (steps nodes only)."""


class NoMatch(_Miss):
    """An answer that fits no choice; only the key that says what was wrong is stored."""

    KIND = "no_match"
    key: str = ""
    digits: int = 0
    """How many digits were keyed (a collect whose entry is invalid)."""
    heard: Any = None
    best: Any = None
    """The best scoring intent, below the confirm threshold (or None)."""
    confirmation: str = ""
    """refused or unclear (a confirmation that was not yes)."""
    answer: str = ""
    """How a yes/no question went unanswered."""


class NoInput(_Miss):
    """The caller said and keyed nothing in time."""

    KIND = "no_input"


class FellBack(JourneyEventModel):
    """Too many misses: the node's fallback is taken."""

    KIND = "fallback"
    node: str = ""
    after: int = 0
    """Attempts made."""


class HelpAsked(JourneyEventModel):
    KIND = "help"
    node: str = ""


class RepeatAsked(JourneyEventModel):
    KIND = "repeat"
    node: str = ""


class LookedUp(JourneyEventModel):
    """A lookup node's answer (or its failure)."""

    KIND = "lookup"
    endpoint: str = ""
    into: str = ""
    ok: bool = False
    error: str = ""
    result: Any = None
    """The endpoint's answer (ok only)."""


class StepsUnsolved(JourneyEventModel):
    KIND = "steps_unsolved"
    procedure: str = ""


class StepDone(JourneyEventModel):
    """A troubleshooting step was done; `fixed` says if it solved the problem."""

    KIND = "step_done"
    procedure: str = ""
    step: str = ""
    index: int = 0
    """1-based place of the step in its procedure."""
    fixed: bool = False


class TransferAsked(JourneyEventModel):
    """The flow asked for an agent (the ACD writes `queued` if it takes the call)."""

    KIND = "transfer"
    queue: str = ""
    skills: tuple[str, ...] = ()
    priority: int = 0
    reason: str = ""


class FlowFailed(JourneyEventModel):
    """The flow could not go on (a bad lookup, a missing prompt, ...)."""

    KIND = "flow_error"
    reason: str = ""


class CheckpointSaved(JourneyEventModel):
    """Where the call is and what it knows: a new engine that adopts the call goes on from here."""

    KIND = "checkpoint"
    flow: str = ""
    node: str = ""
    variables: dict[str, Any] = {}
    """The flow's variables, sensitive ones left out."""
    step: int = 0
    """The step index in a steps node (steps nodes only)."""


class SpeechHeard(JourneyEventModel):
    """One recognised utterance."""

    KIND = "speech_heard"
    text: str = ""
    """What was recognised; **** while a sensitive value is spoken."""
    confidence: int | float = 0
    latency_ms: int | float = 0
    """End of speech to result."""
    speech_ms: int | float = 0
    ended: str = ""
    """Why the utterance ended (silence, max length, ...)."""
    audio: str = ""
    """The kept audio file, if utterances are kept (erasure deletes it)."""


class SurveyAnswered(JourneyEventModel):
    """A post-call survey answer in its range (counted in CSAT/NPS). One question per event."""

    KIND = "survey_answered"
    csat: int | None = None
    """1-5."""
    nps: int | None = None
    """0-10."""
    queue: str = ""
    """The queue and agent of the conversation surveyed."""
    agent: str = ""


class SurveyAnswerRefused(JourneyEventModel):
    """A survey answer outside its range: journaled, not counted."""

    KIND = "survey_answer_refused"
    question: str = ""
    reason: str = ""


# -- the ACD: engine/acd/call_distributor.py ------------------------------------------------------


class Queued(JourneyEventModel):
    """The caller was queued for an agent (or queued again after an overflow, a transfer or a restart)."""

    KIND = "queued"
    queue: str = ""
    skills: tuple[str, ...] = ()
    priority: int = 0
    after_restart: bool = False
    """Re-queued by a new engine at the caller's old place: the same visit, not a new offer."""
    waited_s: int | float = 0
    """With after_restart: how long the caller had already waited."""
    transferred_from: str = ""
    """The agent who transferred the caller to this queue."""
    overflow_from: str = ""
    """The queue the caller overflowed from."""


class Abandoned(JourneyEventModel):
    """The caller hung up before an agent answered."""

    KIND = "abandoned"
    queue: str = ""
    waited_s: int | float = 0
    while_: str = Field("", validation_alias=AliasChoices("while", "while_"), serialization_alias="while")
    """waiting, or agent ringing. Stored as "while"."""
    short: bool | None = None
    """Hung up before the queue's short-abandon time; None: the reader decides from the times."""


class CallEnded(JourneyEventModel):
    """The conversation with an agent ended."""

    KIND = "call_ended"
    by: str = ""
    """caller or agent."""
    agent: str | None = None
    talk_s: int | float = 0
    while_engine_restarted: bool = False
    """The agent hung up while no engine was there (no talk time known)."""


class AgentRinging(JourneyEventModel):
    KIND = "agent_ringing"
    agent: str | None = None
    extension: str = ""
    waited_s: int | float = 0
    relaxed: bool = False
    """Offered outside the caller's required skills after the wait limit."""
    callback: bool = False
    """A callback being returned (the agent is asked before the customer is dialled)."""


class AgentAnswered(JourneyEventModel):
    KIND = "agent_answered"
    agent: str | None = None
    waited_s: int | float = 0


class AgentNotAnswered(JourneyEventModel):
    """An offered agent did not take the call (no answer, busy, refused)."""

    KIND = "agent_not_answered"
    agent: str | None = None
    reason: str = ""


class SurveyOffered(JourneyEventModel):
    """After the agent hung up, the caller was sent to the queue's survey flow."""

    KIND = "survey_offered"
    queue: str = ""
    agent: str | None = None
    flow: str = ""


class ConversationAdopted(JourneyEventModel):
    """A new engine found the caller still talking to an agent and took the conversation over."""

    KIND = "conversation_adopted"
    agent: str | None = None
    bridge: str = ""


class CallbackRestored(JourneyEventModel):
    """An owed callback taken over by a new engine after a restart."""

    KIND = "callback_restored"
    queue: str = ""
    number: str = ""
    waited_s: int | float = 0
    attempts: int = 0


class Transferred(JourneyEventModel):
    """The agent transferred the caller to a queue or another agent."""

    KIND = "transferred"
    from_agent: str | None = None
    to: str = ""
    """queue:NAME or agent:ID."""
    talk_s: int | float = 0


class SecureEntryStarted(JourneyEventModel):
    """The agent sent the caller to key a sensitive value (card number) unheard and unrecorded."""

    KIND = "secure_entry_started"
    agent: str | None = None
    flow: str = ""


class SecureEntryEnded(JourneyEventModel):
    KIND = "secure_entry_ended"
    agent: str | None = None


class CallbackOfferTaken(JourneyEventModel):
    """The waiting caller took the callback offer."""

    KIND = "callback_offer_taken"
    by: str = ""
    """How: the key, or speech."""


class Overflowed(JourneyEventModel):
    """The caller left the queue by rule (max wait)."""

    KIND = "overflowed"
    queue: str = ""
    to: str = ""
    """callback, message, queue:NAME or flow:NAME."""
    waited_s: int | float = 0


class CallbackRequested(JourneyEventModel):
    """The caller asked to be called back; the number passed the queue's rules."""

    KIND = "callback_requested"
    queue: str = ""
    number: str = ""
    waited_s: int | float = 0
    source: str = ""
    """Where the number came from (caller_id, keyed, overflow, restored)."""


class CallbackRefused(JourneyEventModel):
    """A callback request the rules refused (or one no longer owed after a restart)."""

    KIND = "callback_refused"
    queue: str = ""
    source: str = ""
    reason: str = ""
    """A RefusalReason value (withheld, rate_limited, ...)."""
    number: str = ""
    """The number bounded and escaped, never the raw string."""
    detail: str = ""
    said: str = ""
    """What the caller was told (absent when nobody was told)."""


class CallbackDialing(JourneyEventModel):
    KIND = "callback_dialing"
    agent: str | None = None
    number: str = ""
    attempt: int = 0


class CallbackAnswered(JourneyEventModel):
    """The called-back customer answered: the agent and customer talk."""

    KIND = "callback_answered"
    agent: str | None = None
    attempt: int = 0
    waited_s: int | float = 0


class CallbackAttemptFailed(JourneyEventModel):
    KIND = "callback_attempt_failed"
    attempt: int = 0
    reason: str = ""
    agent: str | None = None


class CallbackFailed(JourneyEventModel):
    """Every callback attempt failed: the callback is given up."""

    KIND = "callback_failed"
    queue: str = ""
    number: str = ""
    attempts: int = 0


class WaitAnnounced(JourneyEventModel):
    KIND = "wait_announced"
    position: int = 0
    estimate_s: int | float | None = None
    """The estimated wait told; None when none was told."""
    said: str = ""


class DispositionSet(JourneyEventModel):
    """The agent's disposition and notes for the call (written after it ended)."""

    KIND = "disposition"
    agent: str | None = None
    disposition: str = ""
    notes: str = ""


class WrapUpEnded(JourneyEventModel):
    """The agent's wrap-up for the call ended (written after it ended)."""

    KIND = "wrap_up_ended"
    agent: str | None = None
    wrap_up_s: int | float = 0


# -- recordings: engine/recording/call_recorder.py ------------------------------------------------


class RecordingStarted(JourneyEventModel):
    KIND = "recording_started"
    agent: str | None = None
    file: str = ""


class RecordingFailed(JourneyEventModel):
    KIND = "recording_failed"
    agent: str | None = None
    reason: str = ""


class RecordingPaused(JourneyEventModel):
    """Paused while the caller keys a sensitive value."""

    KIND = "recording_paused"
    at_s: int | float = 0
    """Offset in the recording."""


class RecordingResumed(JourneyEventModel):
    KIND = "recording_resumed"
    at_s: int | float = 0


MODELS: Mapping[str, type[JourneyEventModel]] = {
    model.KIND: model
    for model in (
        Arrived, Answered, Resumed, HungUp, CallFailed, CallLost, HandedOver, PromptStarted, PromptFinished, DtmfReceived, LeftWithAgent,
        FlowRestarted, FlowResumed, FlowContinued, FlowStarted, NodeEntered, FlowEntered, VariablesSet, BranchTaken, BargedIn, Collected,
        Recognised, SpeechIgnored, IntentChosen, NoMatch, NoInput, FellBack, HelpAsked, RepeatAsked, LookedUp, StepsUnsolved, StepDone,
        TransferAsked, FlowFailed, CheckpointSaved, SpeechHeard, SurveyAnswered, SurveyAnswerRefused,
        Queued, Abandoned, CallEnded, AgentRinging, AgentAnswered, AgentNotAnswered, SurveyOffered, ConversationAdopted, CallbackRestored,
        Transferred, SecureEntryStarted, SecureEntryEnded, CallbackOfferTaken, Overflowed, CallbackRequested, CallbackRefused,
        CallbackDialing, CallbackAnswered, CallbackAttemptFailed, CallbackFailed, WaitAnnounced, DispositionSet, WrapUpEnded,
        RecordingStarted, RecordingFailed, RecordingPaused, RecordingResumed,
    )
}
"""Every known kind and its model."""

CLOSINGS: Mapping[str, type[CallClosed]] = {model.KIND: model for model in (HungUp, CallFailed, CallLost)}
"""The kinds a call's last event can have (JourneyStore.close_call), and their models."""


def kinds(*models: type[JourneyEventModel]) -> tuple[str, ...]:
    """The stored kinds of these models, for a query by kind (JourneyStore.events_of_kinds_since)."""
    return tuple(model.KIND for model in models)


def to_stored(event: JourneyEventModel) -> StoredEvent:
    """(kind, detail) as the journey_events table holds it: only the fields the writer set, and any
    unknown keys a decoded row brought along."""
    if isinstance(event, UnknownEvent):
        return event.kind, dict(event.detail)
    if isinstance(event, VariablesSet):
        return event.KIND, {**event.values, **(event.model_extra or {})}
    return event.KIND, event.model_dump(mode="json", by_alias=True, exclude_unset=True)


def from_stored(kind: str, detail: Mapping[str, Any] | None) -> JourneyEventModel:
    """The typed event of a stored row; never raises (see the module docstring)."""
    model = MODELS.get(kind)
    fields = {str(key): value for key, value in detail.items()} if isinstance(detail, Mapping) else {}
    if model is None:
        return UnknownEvent(kind=kind, detail=fields)
    if model is VariablesSet:
        return VariablesSet(values=fields)
    for _ in range(2):  # the second time without the values that did not fit
        try:
            return model.model_validate(fields)
        except ValidationError as invalid:
            wrong = {str(error["loc"][0]) for error in invalid.errors() if error["loc"]}
            if not wrong & fields.keys():
                break
            fields = {key: value for key, value in fields.items() if key not in wrong}
    return UnknownEvent(kind=kind, detail=dict(detail) if isinstance(detail, Mapping) else {})


def decoded(rows: Iterable[tuple[str, Mapping[str, Any] | None]]) -> list[JourneyEventModel]:
    """`from_stored` of each (kind, detail) row, in order."""
    return [from_stored(kind, detail) for kind, detail in rows]
