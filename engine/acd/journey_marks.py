"""Where a call stood in the ACD, read from its journey: what a restarted engine goes on from.

Pure: journey rows in, typed answers out (a phase, an owed callback, a previous call for the pop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from engine.journey.channel_events import ContinuedFrom, ExternalEvent
from engine.journey.events import (
    Abandoned, AgentAnswered, CallbackAnswered, CallbackAttemptFailed, CallbackFailed, CallbackRefused, CallbackRequested, CallEnded, CheckpointSaved,
    DispositionSet, FlowStarted, IntentChosen, JourneyEventModel, Queued, from_stored,
)

Event = TypeVar("Event", bound=JourneyEventModel)

CALLBACK_REQUESTED = CallbackRequested.KIND
"""The journey event of an arranged callback: what the per-number rate limit counts and what a
restart finds owed callbacks by."""
ACD_MARKS = (Queued.KIND, AgentAnswered.KIND, CallEnded.KIND, Abandoned.KIND)
CALLBACK_MARKS = (CallbackRequested.KIND, CallbackAnswered.KIND, CallbackFailed.KIND, CallbackRefused.KIND, CallEnded.KIND)
"""`callback_refused` closes an owed callback whose number a restart found refused; a live refusal
comes before any request and changes nothing."""


def owed_callback(kinds: Sequence[str]) -> bool:
    """Whether a call's journey ends with a callback still to make (requested, never connected or given up)."""
    return _last_mark(kinds, CALLBACK_MARKS) == CALLBACK_REQUESTED


def acd_phase(kinds: Sequence[str]) -> str | None:
    """Where a call stood in the ACD by its journey: waiting, talking, or None (never queued, or over)."""
    return {Queued.KIND: "waiting", AgentAnswered.KIND: "talking"}.get(_last_mark(kinds, ACD_MARKS))


def _last_mark(kinds: Sequence[str], marks: Sequence[str]) -> str:
    return next((kind for kind in reversed(kinds) if kind in marks), "")


class StoredRow(Protocol):
    """A journey row as the store returns it (engine/store/journey_store.py JourneyEvent)."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class OwedCallback:
    """A callback the last engine still owed, as its journey tells it."""

    queue: str
    number: str
    queued_at: datetime
    """When the caller first queued there: its place in line."""
    attempts: int
    """Attempts that failed since it was requested."""
    variables: dict[str, Any]
    """What the IVR learned (the last checkpoint), for the pop."""
    flow: str
    """The flow the call started in (its language is the callback's)."""
    skills: tuple[str, ...] = ()
    priority: int | None = None
    """As it queued (a callback keeps the skills its flow asked for)."""


def owed_callback_of(rows: Sequence[StoredRow]) -> OwedCallback | None:
    """The callback a call's journey still owes; None if it owes none."""
    if not owed_callback([row.kind for row in rows]):
        return None
    request_row = next(row for row in reversed(rows) if row.kind == CallbackRequested.KIND)
    request = _as(request_row, CallbackRequested)
    queued = next((row for row in rows if row.kind == Queued.KIND and _as(row, Queued).queue == request.queue), request_row)
    lined_up = _as(queued, Queued) if queued.kind == Queued.KIND else Queued(priority=None)
    attempts = sum(1 for row in rows if row.kind == CallbackAttemptFailed.KIND and row.seq > request_row.seq)
    checkpoint = next((_as(row, CheckpointSaved) for row in reversed(rows) if row.kind == CheckpointSaved.KIND), CheckpointSaved())
    flow = next((_as(row, FlowStarted).flow for row in rows if row.kind == FlowStarted.KIND), "")
    return OwedCallback(request.queue, request.number, queued.at, attempts, dict(checkpoint.variables), flow, tuple(lined_up.skills), lined_up.priority)


def continued_from(rows: Sequence[StoredRow]) -> str | None:
    """The earlier leg (a chat) this leg goes on from, if it does: what that leg learned is this leg's too."""
    return next((_as(row, ContinuedFrom).leg or None for row in rows if row.kind == ContinuedFrom.KIND), None)


MAX_EXTERNAL_SHOWN = 3
"""An API leg's events shown in one history entry (its newest)."""


def previous_call(arrived_at: datetime, ended_by: str | None, rows: Sequence[StoredRow], channel: str = "phone") -> dict[str, Any]:
    """One earlier leg of the same customer (a call, a chat, an API thread), as the screen-pop shows
    it: when, which channel, what about, how it ended; an API leg's events by type and text."""
    intent = next((_as(row, IntentChosen).intent for row in rows if row.kind == IntentChosen.KIND), None)
    queue = next((_as(row, Queued).queue for row in rows if row.kind == Queued.KIND), None)
    wrap_up = next((_as(row, DispositionSet) for row in reversed(rows) if row.kind == DispositionSet.KIND), None)
    external = [_as(row, ExternalEvent) for row in rows if row.kind == ExternalEvent.KIND][-MAX_EXTERNAL_SHOWN:]
    return {
        "at": arrived_at.isoformat(timespec="minutes"), "channel": channel, "intent": intent, "queue": queue, "ended_by": ended_by,
        "disposition": wrap_up.disposition if wrap_up else None, "notes": wrap_up.notes if wrap_up else None, "agent": wrap_up.agent if wrap_up else None,
        "events": [{"type": event.type, "text": event.text} for event in external],
    }


def _as(row: StoredRow, model: type[Event]) -> Event:
    """The row as its typed event; the model's defaults if it does not fit."""
    event = from_stored(row.kind, row.detail)
    return event if isinstance(event, model) else model()
