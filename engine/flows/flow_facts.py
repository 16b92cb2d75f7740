"""What the flow interpreter hears (facts, past tense) and what it asks for (commands, imperative).

Plain frozen dataclasses: the adapter turns ARI events, recogniser results, timers and HTTP answers
into facts, and carries the commands out. Timer and prompt ids are chosen by the interpreter, so a
late event for something it has moved past is recognised and ignored. The flow's own record of
what happened and why is a `Journal` of a typed journey event (engine/journey/events.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.journey.events import Journal as Journal
from engine.language.intent_matching import Hypothesis

# -- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallStarted:
    """The call is answered and the flow may begin."""


@dataclass(frozen=True)
class PromptFinished:
    prompt_id: str


@dataclass(frozen=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True)
class SpeechStarted:
    """The caller's voice was detected (barge-in)."""


@dataclass(frozen=True)
class SpeechRecognised:
    alternatives: tuple[Hypothesis, ...]
    """Best first; empty when the recogniser heard nothing it could use."""


@dataclass(frozen=True)
class TimerFired:
    timer_id: str


@dataclass(frozen=True)
class LookupAnswered:
    request_id: str
    data: Mapping[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class QueueLeft:
    """The ACD let the caller go to a flow (a queue's overflow after max_wait, or an agent's secure
    entry): the flow goes on there."""

    target: str
    """flow, flow.node, or a node of the current flow."""
    reason: str = "queue overflow"


FlowFact = CallStarted | PromptFinished | DigitPressed | SpeechStarted | SpeechRecognised | TimerFired | LookupAnswered | QueueLeft

# -- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Play:
    prompt_id: str
    text: str | None
    file: str | None
    language: str
    barge_in: bool


@dataclass(frozen=True)
class StopPrompt:
    prompt_id: str


@dataclass(frozen=True)
class Listen:
    """Start (or keep) recognising, with these phrases as the grammar."""

    phrases: tuple[str, ...]
    language: str
    end_of_speech_s: float
    max_speech_s: float


@dataclass(frozen=True)
class StopListening:
    pass


@dataclass(frozen=True)
class StartTimer:
    timer_id: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True)
class Lookup:
    request_id: str
    endpoint: str
    method: str
    params: Mapping[str, str]
    timeout_s: float


@dataclass(frozen=True)
class Transfer:
    """Hand the call to a queue with everything collected (sensitive values masked)."""

    queue: str
    skills: tuple[str, ...]
    priority: int
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HangUp:
    reason: str


FlowCommand = Play | StopPrompt | Listen | StopListening | StartTimer | CancelTimer | Lookup | Transfer | HangUp | Journal


QUEUE_NOT_CONFIGURED = {
    "ko": "죄송합니다. 상담원 대기열이 아직 설정되지 않았습니다. 나중에 다시 전화해 주세요.",
    "en": "Sorry, agent queues are not configured yet. Please call again later.",
    "zh": "抱歉，人工客服队列尚未配置。请稍后再拨。",
}
"""Said (rendered at start) when a flow hands a caller to a queue the ACD does not serve (no such queue in ivr_flows/queues/), then the call ends: never silence."""
