"""Figures across channels: contacts per channel, containment per channel, chat-to-phone hand-offs and
the repeat rate. Pure: legs in, figures out; no I/O, no clock.

A contact is one customer's matter; each phone call, chat and API thread is a leg of it (a `calls`
row with its own journey). One implementation for the reports and /metrics, as contact_metrics is for
queues. Definitions, each counted once:

- A leg belongs to the interval it started in; a contact to the interval its first leg started in,
  and to the channel of that first leg. A leg with no contact is a contact of its own (a phone call
  that never met a chat).
- *Contained*: the leg ended (`hung_up`) without asking for a person: no `queued`, no
  `callback_requested` (the phone's containment since the reports began) and no `handoff_offered`
  (a chat that sent its customer to the phone). Failed and lost legs, and legs still open, are not
  contained. Containment per channel = contained legs ÷ legs that started, as on the report's `all`
  row.
- A *hand-off* is a chat leg that offered the phone (one or more `handoff_offered`: a second code
  after the first expired is the same hand-off). It is *completed* when a phone leg took the chat
  over: `handoff_claimed` on the chat leg, or a leg that goes on from it (`continued_from`) by a code
  or number, or by a callback that was answered (`callback_answered`).
- *Repeat rate* = handed-off contacts where the QA repeated-question check failed on a phone leg
  that went on from the chat ÷ handed-off contacts with such a leg checked. A contact whose legs
  were not recorded or not transcribed yet is in neither count: unknown is not "no repeat". A
  handed-off contact counts in the interval its first completed hand-off's chat leg started in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.acd.contact_metrics import JourneyEvent, TimedEvent
from engine.journey.events import (
    CallbackAnswered,
    CallbackRequested,
    ContinuedFrom,
    HandoffClaimed,
    HandoffOffered,
    HungUp,
    Queued,
    from_stored,
    kinds,
)

CHANNELS = ("phone", "chat", "api")
ALL = "all"
CHANNEL_KINDS = kinds(HungUp, Queued, CallbackRequested, HandoffOffered, HandoffClaimed, ContinuedFrom, CallbackAnswered)
"""The journey events channel figures are folded from: what to read from the store."""
ASKED_FOR_A_PERSON = (Queued, CallbackRequested, HandoffOffered)


@dataclass(frozen=True)
class Leg:
    """One leg of a contact, with its journey (only CHANNEL_KINDS are needed)."""

    leg: str
    """The leg's call id (calls.channel_id)."""
    channel: str
    contact: str
    """The contact's id as text, or `leg:<call id>` for a leg without one."""
    started_at: float
    events: Sequence[TimedEvent]
    repeated_question: bool | None = None
    """The QA check on this leg's recordings: True when a question was asked again, False when the
    check passed, None when the leg was not checked (no recording, not transcribed yet)."""


def leg(call_id: str, channel: str, contact_id: int | None, started_at: float, events: Sequence[JourneyEvent], repeated_question: bool | None = None) -> Leg:
    """A `Leg` from the store's facts: a journey as stored is decoded by the journey's codec."""
    contact = str(contact_id) if contact_id is not None else f"leg:{call_id}"
    return Leg(call_id, channel, contact, started_at, [(at, from_stored(kind, detail)) for kind, at, detail in events], repeated_question)


def contained(events: Iterable[TimedEvent]) -> bool:
    """Ended (`hung_up`) without asking for a person: never queued, no callback asked, no hand-off offered."""
    seen = [event for _, event in events]
    return any(isinstance(event, HungUp) for event in seen) and not any(isinstance(event, ASKED_FOR_A_PERSON) for event in seen)


@dataclass(frozen=True)
class ChannelFigures:
    """The figures of one channel (or `all`) over one period."""

    channel: str
    contacts: int
    """Contacts whose first leg started in the period on this channel."""
    legs: int
    contained: int
    containment: float | None
    """contained ÷ legs; None without legs."""
    handoffs_offered: int
    """Chat legs that offered the phone (chat and all only)."""
    handoffs_completed: int
    handed_off_contacts: int
    """Contacts with a completed hand-off."""
    repeat_checked: int
    """Of those, the ones with a phone leg the QA check has seen."""
    repeated: int
    repeat_rate: float | None
    """repeated ÷ repeat_checked; None when nothing was checked."""


@dataclass(frozen=True)
class _LegOutcome:
    channel: str
    started_at: float
    contained: bool
    offered: bool
    completed: bool


@dataclass(frozen=True)
class _ContactOutcome:
    channel: str
    first_at: float
    handed_off_at: float | None
    """The start of the chat leg of its first completed hand-off."""
    repeated: bool | None


def _completed(chat: Leg, later: Sequence[Leg]) -> bool:
    if any(isinstance(event, HandoffClaimed) for _, event in chat.events):
        return True
    for other in later:
        goes_on = [event for _, event in other.events if isinstance(event, ContinuedFrom) and event.leg == chat.leg]
        if any(event.how != "callback" for event in goes_on):
            return True
        if goes_on and any(isinstance(event, CallbackAnswered) for _, event in other.events):
            return True
    return False


def _continuing(chat: Leg, legs: Sequence[Leg]) -> list[Leg]:
    """The legs of the contact that go on from this chat leg."""
    return [other for other in legs if any(isinstance(event, ContinuedFrom) and event.leg == chat.leg for _, event in other.events)]


def _outcomes(legs: Sequence[Leg]) -> tuple[list[_LegOutcome], list[_ContactOutcome]]:
    by_contact: dict[str, list[Leg]] = {}
    for one in legs:
        by_contact.setdefault(one.contact, []).append(one)
    leg_outcomes: list[_LegOutcome] = []
    contact_outcomes: list[_ContactOutcome] = []
    for contact_legs in by_contact.values():
        ordered = sorted(contact_legs, key=lambda one: (one.started_at, one.leg))
        handed_off_at: float | None = None
        repeated: bool | None = None
        for one in ordered:
            offered = one.channel == "chat" and any(isinstance(event, HandoffOffered) for _, event in one.events)
            completed = offered and _completed(one, [other for other in ordered if other is not one])
            leg_outcomes.append(_LegOutcome(one.channel, one.started_at, contained(one.events), offered, completed))
            if completed and handed_off_at is None:
                handed_off_at = one.started_at
            if completed:
                checks = [other.repeated_question for other in _continuing(one, ordered) if other.repeated_question is not None]
                if checks:
                    repeated = bool(repeated) or any(checks)
        contact_outcomes.append(_ContactOutcome(ordered[0].channel, ordered[0].started_at, handed_off_at, repeated))
    return leg_outcomes, contact_outcomes


def _figures(channel: str, legs: Sequence[_LegOutcome], contacts: Sequence[_ContactOutcome], handed_off: Sequence[_ContactOutcome]) -> ChannelFigures:
    contained_legs = sum(1 for one in legs if one.contained)
    checked = [contact for contact in handed_off if contact.repeated is not None]
    repeated = sum(1 for contact in checked if contact.repeated)
    return ChannelFigures(
        channel=channel,
        contacts=len(contacts),
        legs=len(legs),
        contained=contained_legs,
        containment=contained_legs / len(legs) if legs else None,
        handoffs_offered=sum(1 for one in legs if one.offered),
        handoffs_completed=sum(1 for one in legs if one.completed),
        handed_off_contacts=len(handed_off),
        repeat_checked=len(checked),
        repeated=repeated,
        repeat_rate=repeated / len(checked) if checked else None,
    )


def channel_figures(legs: Sequence[Leg], start: float, end: float) -> dict[str, ChannelFigures]:
    """Per channel that had a leg or a contact in [start, end), and `all`; see the module docstring.

    `legs` should hold every leg of the contacts concerned (a contact's first leg and the legs that
    complete its hand-offs may lie outside the period): anchors decide what is counted where."""
    return _grouped(legs, start, end, lambda _at: start).get(start) or {ALL: _figures(ALL, [], [], [])}


def channel_figures_by_interval(legs: Sequence[Leg], start: float, end: float, interval_s: float) -> dict[float, dict[str, ChannelFigures]]:
    """`channel_figures` of each interval of [start, end) (intervals start at multiples of
    `interval_s` from the epoch, as in historical reports); intervals with nothing are absent."""
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, not {interval_s}")
    return _grouped(legs, start, end, lambda at: math.floor(at / interval_s) * interval_s)


def _grouped(legs: Sequence[Leg], start: float, end: float, slot_of: Callable[[float], float]) -> dict[float, dict[str, ChannelFigures]]:
    leg_outcomes, contact_outcomes = _outcomes(legs)
    legs_in: dict[float, list[_LegOutcome]] = {}
    contacts_in: dict[float, list[_ContactOutcome]] = {}
    handed_off_in: dict[float, list[_ContactOutcome]] = {}
    for outcome in leg_outcomes:
        if start <= outcome.started_at < end:
            legs_in.setdefault(slot_of(outcome.started_at), []).append(outcome)
    for contact in contact_outcomes:
        if start <= contact.first_at < end:
            contacts_in.setdefault(slot_of(contact.first_at), []).append(contact)
        if contact.handed_off_at is not None and start <= contact.handed_off_at < end:
            handed_off_in.setdefault(slot_of(contact.handed_off_at), []).append(contact)
    found: dict[float, dict[str, ChannelFigures]] = {}
    for at in sorted({*legs_in, *contacts_in, *handed_off_in}):
        slot_legs, slot_contacts, slot_handed_off = legs_in.get(at, []), contacts_in.get(at, []), handed_off_in.get(at, [])
        channels = {one.channel for one in slot_legs} | {contact.channel for contact in slot_contacts} | ({"chat"} if slot_handed_off else set())
        found[at] = {
            channel: _figures(channel, [one for one in slot_legs if one.channel == channel], [c for c in slot_contacts if c.channel == channel],
                              slot_handed_off if channel == "chat" else [])
            for channel in sorted(channels, key=_channel_order)
        }
        found[at][ALL] = _figures(ALL, slot_legs, slot_contacts, slot_handed_off)
    return found


def _channel_order(channel: str) -> tuple[int, str]:
    return (CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS), channel)


def by_channel(figures: Mapping[str, ChannelFigures]) -> dict[str, ChannelFigures]:
    """Every known channel, with zero figures for one that had nothing (what /metrics exposes)."""
    return {channel: figures.get(channel) or _figures(channel, [], [], []) for channel in (*CHANNELS, ALL)}


CHANNEL_FORMULAS: dict[str, str] = {
    "contacts": "Contacts = contacts whose first leg started in the interval, by that leg's channel",
    "containment": "Containment = legs that ended without queue, callback or hand-off ÷ legs that started",
    "handoffs": "Hand-offs = chat legs that offered the phone; completed = a phone leg took the chat over (code, number, or an answered callback)",
    "repeat_rate": "Repeat rate = handed-off contacts where QA found a question asked again ÷ handed-off contacts QA checked",
}
"""One line per channel figure, for the reports page."""
