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
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError

from engine.journey.call_events import (
    Arrived, Answered, Resumed, CallClosed, HungUp, CallFailed, CallLost, HandedOver, PromptStarted, PromptFinished, DtmfReceived, LeftWithAgent,
)
from engine.journey.flow_events import (
    FlowRestarted, FlowResumed, FlowContinued, FlowStarted, NodeEntered, FlowEntered, VariablesSet, BranchTaken, BargedIn, Collected, Recognised, SpeechIgnored, IntentChosen, NoMatch, NoInput, FellBack, HelpAsked, RepeatAsked, LookedUp, StepsUnsolved, StepDone, TransferAsked, FlowFailed, CheckpointSaved, SpeechHeard, SurveyAnswered, SurveyAnswerRefused,
)
from engine.journey.acd_events import (
    Queued, Abandoned, CallEnded, AgentRinging, AgentAnswered, AgentNotAnswered, SurveyOffered, ConversationAdopted, CallbackRestored, Transferred, SecureEntryStarted, SecureEntryEnded, CallbackOfferTaken, Overflowed, CallbackRequested, CallbackRefused, CallbackDialing, CallbackAnswered, CallbackAttemptFailed, CallbackFailed, WaitAnnounced, DispositionSet, WrapUpEnded,
)
from engine.journey.recording_events import (
    RecordingStarted, RecordingFailed, RecordingPaused, RecordingResumed,
)
from engine.journey.channel_events import (
    Typed, ChatSent, HandoffOffered, HandoffClaimed, HandoffRefused, ContinuedFrom, ExternalEvent,
)
from engine.journey.event_model import JourneyEventModel, UnknownEvent


__all__ = [
    "Arrived",
    "Answered",
    "Resumed",
    "CallClosed",
    "HungUp",
    "CallFailed",
    "CallLost",
    "HandedOver",
    "PromptStarted",
    "PromptFinished",
    "DtmfReceived",
    "LeftWithAgent",
    "FlowRestarted",
    "FlowResumed",
    "FlowContinued",
    "FlowStarted",
    "NodeEntered",
    "FlowEntered",
    "VariablesSet",
    "BranchTaken",
    "BargedIn",
    "Collected",
    "Recognised",
    "SpeechIgnored",
    "IntentChosen",
    "NoMatch",
    "NoInput",
    "FellBack",
    "HelpAsked",
    "RepeatAsked",
    "LookedUp",
    "StepsUnsolved",
    "StepDone",
    "TransferAsked",
    "FlowFailed",
    "CheckpointSaved",
    "SpeechHeard",
    "SurveyAnswered",
    "SurveyAnswerRefused",
    "Queued",
    "Abandoned",
    "CallEnded",
    "AgentRinging",
    "AgentAnswered",
    "AgentNotAnswered",
    "SurveyOffered",
    "ConversationAdopted",
    "CallbackRestored",
    "Transferred",
    "SecureEntryStarted",
    "SecureEntryEnded",
    "CallbackOfferTaken",
    "Overflowed",
    "CallbackRequested",
    "CallbackRefused",
    "CallbackDialing",
    "CallbackAnswered",
    "CallbackAttemptFailed",
    "CallbackFailed",
    "WaitAnnounced",
    "DispositionSet",
    "WrapUpEnded",
    "RecordingStarted",
    "RecordingFailed",
    "RecordingPaused",
    "RecordingResumed",
    "Typed",
    "ChatSent",
    "HandoffOffered",
    "HandoffClaimed",
    "HandoffRefused",
    "ContinuedFrom",
    "ExternalEvent",
    "JourneyEventModel",
    "UnknownEvent",
    "StoredEvent",
    "MODELS",
    "CLOSINGS",
    "kinds",
    "to_stored",
    "from_stored",
    "decoded",
    "Journal",
]
"""Every model is importable from here, with the codec."""

StoredEvent = tuple[str, dict[str, Any]]
"""(kind, detail): a journey event as the journey_events table holds it."""


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
        Typed, ChatSent, HandoffOffered, HandoffClaimed, HandoffRefused, ContinuedFrom, ExternalEvent,
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


@dataclass(frozen=True, eq=False)
class Journal:
    """A pure core's command: write this event to the call's journey. The adapter stores `kind` and
    `detail`; two Journals are equal when they store the same row (what a test of a core compares)."""

    event: JourneyEventModel

    @property
    def kind(self) -> str:
        return to_stored(self.event)[0]

    @property
    def detail(self) -> dict[str, Any]:
        return to_stored(self.event)[1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Journal) and to_stored(self.event) == to_stored(other.event)

    def __repr__(self) -> str:
        kind, detail = to_stored(self.event)
        return f"Journal({kind!r}, {detail!r})"
