"""Auto-checks and flags on a call's transcript and journey. Pure: facts in, findings out.

The repeated-question check is the product's promise made measurable: an agent who asks for
something the IVR already collected (an account number, the caller's identity) made the caller
repeat themselves. The journey says what the IVR had before the agent answered; the agent's side
of the transcript says what the agent asked for, and when. A call that goes on from a chat (or any
earlier leg of the contact, `continued_from`) also knows what that leg was told: its collected
fields, its chosen intents and the questions the customer typed an answer to.

Sentiment is a lexicon count on the caller's side: (positive - negative) / (positive + negative),
0 when neither occurs. It sees only the lexicon's phrases, not negation, irony or tone of voice;
it is a pointer for reviewers, not a measurement (see README).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engine.config.qa_config import AutoCheck, QualityFile
from engine.journey.events import Collected, ContinuedFrom, IntentChosen, LookedUp, Typed, from_stored
from engine.recording.transcription import TranscriptSegment
from engine.store.journey_store import JourneyEvent

EarlierLeg = tuple[str, Sequence[JourneyEvent]]
"""(channel, journey) of a leg an agent's call goes on from."""


@dataclass(frozen=True)
class Finding:
    check: AutoCheck
    passed: bool
    detail: str
    at_s: float | None = None


@dataclass(frozen=True)
class CallFacts:
    segments: Sequence[TranscriptSegment]
    duration_s: float
    agent_name: str
    known_fields: frozenset[str]
    """Variables the IVR had collected or looked up before the agent answered."""
    waited_s: float
    pauses: Sequence[tuple[float, float]] = ()
    earlier_fields: Mapping[str, str] = field(default_factory=dict)
    """Fields (and answered questions) of earlier legs this call goes on from -> that leg's channel."""


@dataclass(frozen=True)
class Review:
    findings: dict[AutoCheck, Finding]
    flags: tuple[str, ...]
    sentiment: float


def review_call(quality: QualityFile, facts: CallFacts) -> Review:
    findings = [
        _greeting(quality, facts),
        _silence(quality, facts),
        _talk_over(quality, facts),
        _forbidden(quality, facts),
        _repeated_question(quality, facts),
    ]
    by_check = {finding.check: finding for finding in findings}
    flags: list[str] = [f"keyword:{word}" for word in quality.keywords if _said(word, facts.segments)]
    if not by_check["no_repeated_question"].passed:
        flags.append("repeated_question")
    if not by_check["no_forbidden_words"].passed:
        flags.append("forbidden_words")
    if facts.waited_s > quality.checks.long_hold_s:
        flags.append("long_hold")
    mood = sentiment(quality, facts.segments)
    if mood < 0:
        flags.append("negative_sentiment")
    return Review(by_check, tuple(flags), mood)


def sentiment(quality: QualityFile, segments: Iterable[TranscriptSegment]) -> float:
    caller = [segment for segment in segments if segment.speaker == "caller"]
    positive = sum(_count(phrase, caller) for phrase in quality.lexicon.positive)
    negative = sum(_count(phrase, caller) for phrase in quality.lexicon.negative)
    return round((positive - negative) / (positive + negative), 2) if positive + negative else 0.0


def _greeting(quality: QualityFile, facts: CallFacts) -> Finding:
    limit = quality.checks.greeting_within_s
    for segment in facts.segments:
        if segment.speaker == "agent" and segment.start_s <= limit and facts.agent_name and _squeezed(facts.agent_name) in _squeezed(segment.text):
            return Finding("greeted_with_name", True, f"the agent said their name at {segment.start_s:.1f} s", segment.start_s)
    return Finding("greeted_with_name", False, f"the agent did not say their name ({facts.agent_name or 'unknown'}) in the first {limit:.0f} s")


def _silence(quality: QualityFile, facts: CallFacts) -> Finding:
    """The longest stretch where neither side spoke, not counting a pause for a sensitive entry."""
    spoken = sorted([(s.start_s, s.end_s) for s in facts.segments] + [tuple(p) for p in facts.pauses])
    longest, at, cursor = 0.0, 0.0, 0.0
    for start, end in spoken:
        if start - cursor > longest:
            longest, at = start - cursor, cursor
        cursor = max(cursor, end)
    if facts.duration_s - cursor > longest:
        longest, at = facts.duration_s - cursor, cursor
    limit = quality.checks.max_silence_s
    return Finding("no_long_silence", longest <= limit, f"longest silence {longest:.1f} s (limit {limit:.0f} s)", round(at, 1))


def _talk_over(quality: QualityFile, facts: CallFacts) -> Finding:
    callers = [s for s in facts.segments if s.speaker == "caller"]
    longest, at = 0.0, None
    for agent in (s for s in facts.segments if s.speaker == "agent"):
        for caller in callers:
            overlap = min(agent.end_s, caller.end_s) - max(agent.start_s, caller.start_s)
            if overlap > longest:
                longest, at = overlap, max(agent.start_s, caller.start_s)
    limit = quality.checks.max_talk_over_s
    return Finding("no_talk_over", longest <= limit, f"longest talk-over {longest:.1f} s (limit {limit:.0f} s)", at)


def _forbidden(quality: QualityFile, facts: CallFacts) -> Finding:
    for segment in facts.segments:
        if segment.speaker != "agent":
            continue
        for word in quality.checks.forbidden:
            if _contains(segment.text, word):
                return Finding("no_forbidden_words", False, f"the agent said “{word}” at {segment.start_s:.1f} s", segment.start_s)
    return Finding("no_forbidden_words", True, "no forbidden words")


def _repeated_question(quality: QualityFile, facts: CallFacts) -> Finding:
    had = {**{name: f"the {channel} (an earlier leg)" for name, channel in facts.earlier_fields.items()}, **{name: "the IVR" for name in facts.known_fields}}
    for segment in facts.segments:
        if segment.speaker != "agent":
            continue
        for name, asked in quality.checks.identity_questions.items():
            if name not in had:
                continue
            for phrase in asked:
                if _contains(segment.text, phrase):
                    return Finding("no_repeated_question", False, f"the agent asked for `{name}` (“{phrase}”) at {segment.start_s:.1f} s; {had[name]} had it already", segment.start_s)
    where = "the IVR or an earlier leg" if facts.earlier_fields else "the IVR"
    return Finding("no_repeated_question", True, f"the agent asked for nothing {where} had collected")


def known_fields(events: Sequence[JourneyEvent], before: datetime) -> frozenset[str]:
    """Variables the IVR had before `before` (the agent's answer): collected, or looked up."""
    known = set()
    for event in events:
        if event.at > before:
            break
        happened = from_stored(event.kind, event.detail)
        if isinstance(happened, Collected) and happened.into:
            known.add(happened.into)
        elif isinstance(happened, LookedUp) and happened.ok and happened.into and _identified(happened.result):
            known.add(happened.into)
    return frozenset(known)


def continued_legs(events: Sequence[JourneyEvent]) -> list[str]:
    """The earlier legs (call ids) a leg goes on from, in its journey's order."""
    found = [event for event in (from_stored(e.kind, e.detail) for e in events) if isinstance(event, ContinuedFrom) and event.leg]
    return list(dict.fromkeys(event.leg for event in found if isinstance(event, ContinuedFrom)))


def earlier_leg_fields(legs: Mapping[str, EarlierLeg], before: datetime) -> dict[str, str]:
    """What earlier legs were told before `before` -> the channel that was told it (the first leg
    named wins): each collected or identified field (`into`), each chosen intent's `into`, and each
    node the customer answered (an intent chosen there, or text typed there). QA files name a
    question by the field or by the node that asks it."""
    told: dict[str, str] = {}
    for channel, events in legs.values():
        for name in _fields_told(events, before) - told.keys():
            told[name] = channel
    return told


def _fields_told(events: Sequence[JourneyEvent], before: datetime) -> set[str]:
    told = set(known_fields(events, before))
    for event in events:
        if event.at > before:
            break
        happened = from_stored(event.kind, event.detail)
        if isinstance(happened, IntentChosen):
            told |= {name for name in (happened.into, happened.node) if name}
        elif isinstance(happened, Typed) and happened.node:
            told.add(happened.node)
    return told


def _identified(result: object) -> bool:
    """A lookup answer that found someone (an answer saying `found: false` identifies nobody)."""
    return isinstance(result, dict) and bool(result) and result.get("found", True) is not False


def _said(phrase: str, segments: Iterable[TranscriptSegment]) -> bool:
    return any(_contains(segment.text, phrase) for segment in segments)


def _contains(text: str, phrase: str) -> bool:
    """The phrase as written (spacing aside), or all its words in the utterance in any order: a
    model spotting phrases may report them out of order or split differently."""
    return _squeezed(phrase) in _squeezed(text) or set(phrase.lower().split()) <= set(text.lower().split())


def _count(phrase: str, segments: Iterable[TranscriptSegment]) -> int:
    return sum(_squeezed(segment.text).count(_squeezed(phrase)) for segment in segments)


def _squeezed(text: str) -> str:
    """Without spaces or case: Korean spacing varies, and a model may split a word the phrase does not."""
    return "".join(text.split()).lower()
