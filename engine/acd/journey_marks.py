"""Where a call stood in the ACD, read from its journey: what a restarted engine goes on from.

Pure: journey kinds in, a phase out.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.journey.events import Abandoned, AgentAnswered, CallbackAnswered, CallbackFailed, CallbackRefused, CallbackRequested, CallEnded, Queued

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
