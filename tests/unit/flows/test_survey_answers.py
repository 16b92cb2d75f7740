"""Survey scoring: keyed and spoken answers in range count; others are journaled as refused."""

from __future__ import annotations

import engine.journey.events as journey
from engine.flows.survey_answers import survey_answer


def stored(event: journey.JourneyEventModel | None) -> tuple[str, dict[str, object]] | None:
    return journey.to_stored(event) if event is not None else None


def test_a_keyed_nps_in_range_counts_for_the_queue_and_agent() -> None:
    answer = survey_answer(journey.Collected(node="nps", into="nps", value="9", length=1), "billing", "minsu")
    assert stored(answer) == ("survey_answered", {"nps": 9, "queue": "billing", "agent": "minsu"})


def test_a_spoken_csat_counts_by_the_score_its_intent_ends_in() -> None:
    answer = survey_answer(journey.IntentChosen(node="csat", intent="csat_5", into="csat"), "billing", "minsu")
    assert stored(answer) == ("survey_answered", {"csat": 5, "queue": "billing", "agent": "minsu"})


def test_an_answer_out_of_range_is_refused_not_counted() -> None:
    assert stored(survey_answer(journey.Collected(into="nps", value="11"), "q", "a")) == ("survey_answer_refused", {"question": "nps", "reason": "not 0-10"})
    assert stored(survey_answer(journey.Collected(into="csat", value="0"), "q", "a")) == ("survey_answer_refused", {"question": "csat", "reason": "not 1-5"})
    assert stored(survey_answer(journey.Collected(into="csat", value=None), "q", "a")) == ("survey_answer_refused", {"question": "csat", "reason": "not 1-5"})


def test_other_events_are_not_answers() -> None:
    assert survey_answer(journey.Collected(into="account", value="123"), "q", "a") is None
    assert survey_answer(journey.NodeEntered(node="thanks"), "q", "a") is None
