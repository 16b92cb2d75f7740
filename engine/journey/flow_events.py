"""Journey events of the IVR flow: one frozen, documented model per kind (see engine/journey/events.py)."""

from __future__ import annotations

from typing import Any

from engine.journey.event_model import JourneyEventModel


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
