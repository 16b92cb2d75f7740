"""What a chat page shows on a reload or a reconnect, read from the journeys: the chat so far (its
leg's own events), where to go on (its last checkpoint), and what the contact's later legs did
("and back": a call's steps and the agent's disposition). Pure: journey rows in, page items out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.config.flow_model import PromptFile, Step
from engine.journey.channel_events import ChatSent, HandoffOffered, Typed
from engine.journey.events import CheckpointSaved, DispositionSet, StepDone, from_stored
from engine.store.journey_store import CallRecord

Row = tuple[str, Mapping[str, Any]]


def transcript(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """The chat's messages in order: the bot's, the customer's (**** where it was sensitive), hand-offs."""
    items: list[dict[str, Any]] = []
    for kind, detail in rows:
        event = from_stored(kind, detail)
        if isinstance(event, ChatSent):
            items.append({"who": "bot", "text": event.text, "recording_only": not event.text})
        elif isinstance(event, Typed):
            items.append({"who": "customer", "text": event.text})
        elif isinstance(event, HandoffOffered):
            items.append({"who": "handoff", "how": event.how, "queue": event.queue, "number": event.number, "expires_at": event.expires_at})
    return items


def last_checkpoint(rows: Iterable[Row]) -> dict[str, Any] | None:
    """Where the flow goes on from (the leg's last CheckpointSaved), as the interpreter's resume takes it."""
    found: dict[str, Any] | None = None
    for kind, detail in rows:
        if kind == CheckpointSaved.KIND:
            found = dict(detail)
    return found


def later_legs(legs: Sequence[CallRecord], own: str, procedures: Mapping[str, tuple[Step, ...]]) -> list[dict[str, Any]]:
    """The contact's legs after this chat: their channel, the steps done, the next step, the disposition.

    The next step counts the steps of the whole contact so far (the chat's too), as the agent's pop
    does: a call that went on from the chat after two steps says the third is next."""
    mine = next((leg.id for leg in legs if leg.channel_id == own), None)
    shown: list[dict[str, Any]] = []
    done_so_far: dict[str, set[str]] = {}
    for leg in legs:
        events = [from_stored(e.kind, e.detail) for e in leg.events]
        done = [e for e in events if isinstance(e, StepDone)]
        for event in done:
            done_so_far.setdefault(event.procedure, set()).add(event.step)
        if mine is None or leg.id <= mine:
            continue
        disposition = next((e.disposition for e in reversed(events) if isinstance(e, DispositionSet) and e.disposition), "")
        procedure = done[-1].procedure if done else next(reversed(done_so_far), "")
        steps = procedures.get(procedure, ())
        fixed = any(e.fixed for e in done)
        upcoming = None if fixed else next((step for step in steps if step.id not in done_so_far.get(procedure, set())), None)
        shown.append({
            "channel": leg.channel, "at": leg.arrived_at.isoformat(), "ended": leg.ended_at is not None, "disposition": disposition,
            "steps_done": [_said(steps[e.index - 1].prompt) if 0 < e.index <= len(steps) else e.step for e in done],
            "fixed": fixed, "next_step": _said(upcoming.prompt) if upcoming is not None else "",
        })
    return shown


def _said(prompt: str | PromptFile) -> str:
    return prompt if isinstance(prompt, str) else prompt.text or prompt.file
