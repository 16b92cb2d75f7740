"""A post-call survey's answers, scored: which journey events of a survey flow count as answers.

Pure: a journey event of the survey flow in, the survey event to record (or None) out. A survey
flow fills `csat` (1-5) or `nps` (0-10): by keyed digits (a collect node) or by an ask node whose
intents end in their score (csat_5 ... csat_1). An answer outside its range is journaled as refused,
never counted.
"""

from __future__ import annotations

import engine.journey.events as journey

SURVEY_RANGES = {"csat": (1, 5), "nps": (0, 10)}
"""Survey questions by the variable a survey flow's collect or ask fills, and their valid answers."""


def survey_answer(event: journey.JourneyEventModel, queue: str, agent: str) -> journey.JourneyEventModel | None:
    """The survey event for one of the survey flow's events, for this queue and agent; None if it is not an answer."""
    if isinstance(event, journey.Collected) and event.into in SURVEY_RANGES:
        return _scored(event.into, str(event.value if event.value is not None else ""), queue, agent)
    if isinstance(event, journey.IntentChosen) and event.into in SURVEY_RANGES:
        return _scored(event.into, event.intent.rpartition("_")[2], queue, agent)
    return None


def _scored(question: str, answer: str, queue: str, agent: str) -> journey.JourneyEventModel:
    low, high = SURVEY_RANGES[question]
    if not (answer.isdigit() and low <= int(answer) <= high):
        return journey.SurveyAnswerRefused(question=question, reason=f"not {low}-{high}")
    score = int(answer)
    return journey.SurveyAnswered(csat=score, queue=queue, agent=agent) if question == "csat" else journey.SurveyAnswered(nps=score, queue=queue, agent=agent)
