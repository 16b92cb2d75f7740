"""Auto-checks and flags on a call's transcript and journey. Pure: facts in, findings out.

The repeated-question check is the product's promise made measurable: an agent who asks for
something the IVR already collected (an account number, the caller's identity) made the caller
repeat themselves. The journey says what the IVR had before the agent answered; the agent's side
of the transcript says what the agent asked for, and when.

Sentiment is a lexicon count on the caller's side: (positive - negative) / (positive + negative),
0 when neither occurs. It sees only the lexicon's phrases, not negation, irony or tone of voice;
it is a pointer for reviewers, not a measurement (see README).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.config.qa_config import AutoCheck, QualityFile
from engine.recording.transcription import TranscriptSegment


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
    for segment in facts.segments:
        if segment.speaker != "agent":
            continue
        for field, asked in quality.checks.identity_questions.items():
            if field not in facts.known_fields:
                continue
            for phrase in asked:
                if _contains(segment.text, phrase):
                    return Finding("no_repeated_question", False, f"the agent asked for `{field}` (“{phrase}”) at {segment.start_s:.1f} s; the IVR had it already", segment.start_s)
    return Finding("no_repeated_question", True, "the agent asked for nothing the IVR had collected")


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
