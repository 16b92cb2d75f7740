"""The auto-checks and flags, on hand-made transcripts: each check fires on the case it is for and
stays quiet otherwise, above all the repeated question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.config.problems import FlowInvalid
from engine.config.qa_config import QualityFile, load_quality, quality_vocabulary_problems
from engine.recording.quality_checks import CallFacts, continued_legs, earlier_leg_fields, review_call
from engine.recording.transcription import TranscriptSegment
from engine.store.journey_store import JourneyEvent

REPO = Path(__file__).resolve().parents[3]
QUALITY = QualityFile.model_validate({
    "language": "ko",
    "checks": {"max_silence_s": 5, "max_talk_over_s": 1, "forbidden": ["바보"], "long_hold_s": 60,
               "identity_questions": {"account": ["고객 번호 알려"], "customer": ["성함 이 어떻게 되세요"]}},
    "keywords": ["환불"],
    "lexicon": {"positive": ["감사합니다"], "negative": ["불만", "최악"]},
})


def said(speaker: str, start: float, end: float, text: str) -> TranscriptSegment:
    return TranscriptSegment(speaker, start, end, text, 0.9)


GOOD_CALL = [said("agent", 0.5, 3.0, "안녕하세요 상담원 김민수 입니다"), said("caller", 3.5, 6.0, "요금 문의 요"), said("agent", 6.5, 9.0, "확인 해 드리겠습니다"),
             said("caller", 9.5, 11.0, "감사합니다")]


def facts(segments: list[TranscriptSegment], known: frozenset[str] = frozenset({"customer"}), duration: float = 12.0, waited: float = 10.0,
          pauses: tuple[tuple[float, float], ...] = ()) -> CallFacts:
    return CallFacts(segments, duration, "김민수", known, waited, pauses)


def test_a_good_call_passes_every_check_and_has_no_flags() -> None:
    review = review_call(QUALITY, facts(GOOD_CALL))
    assert {check: finding.passed for check, finding in review.findings.items()} == {
        "greeted_with_name": True, "no_long_silence": True, "no_talk_over": True, "no_forbidden_words": True, "no_repeated_question": True}
    assert review.flags == () and review.sentiment == 1.0


def test_asking_for_what_the_ivr_collected_is_a_repeated_question_and_asking_for_what_it_did_not_is_not() -> None:
    asks = [*GOOD_CALL, said("agent", 11.5, 13.0, "고객 번호 알려 주세요")]
    review = review_call(QUALITY, facts(asks, known=frozenset({"account"}), duration=14))
    finding = review.findings["no_repeated_question"]
    assert not finding.passed and finding.at_s == 11.5 and "account" in finding.detail
    assert "repeated_question" in review.flags
    assert review_call(QUALITY, facts(asks, known=frozenset({"customer"}), duration=14)).findings["no_repeated_question"].passed, "the IVR did not have the account"
    reordered = [*GOOD_CALL, said("agent", 11.5, 13.0, "번호 알려 고객")]
    assert not review_call(QUALITY, facts(reordered, known=frozenset({"account"}), duration=14)).findings["no_repeated_question"].passed, "words in any order"
    by_caller = [*GOOD_CALL, said("caller", 11.5, 13.0, "고객 번호 알려 드릴까요")]
    assert review_call(QUALITY, facts(by_caller, known=frozenset({"account"}), duration=14)).findings["no_repeated_question"].passed, "only the agent's side"


def test_silence_talk_over_greeting_forbidden_words_and_flags() -> None:
    late_name = [said("agent", 20.0, 22.0, "김민수 입니다"), said("caller", 21.0, 24.5, "불만 이 있어요 환불 해 주세요 최악"), said("agent", 23.0, 25.0, "바보")]
    review = review_call(QUALITY, facts(late_name, duration=40.0, waited=90.0))
    assert not review.findings["greeted_with_name"].passed, "the name came after greeting_within_s"
    silence = review.findings["no_long_silence"]
    assert not silence.passed and silence.at_s == 0.0 and "20.0 s" in silence.detail, "the longest stretch: the 20 s before anyone spoke"
    assert not review.findings["no_talk_over"].passed and review.findings["no_talk_over"].at_s == 23.0
    assert not review.findings["no_forbidden_words"].passed
    assert set(review.flags) == {"keyword:환불", "forbidden_words", "long_hold", "negative_sentiment"}
    assert review.sentiment == -1.0


def test_a_pause_for_a_sensitive_entry_is_not_dead_air() -> None:
    with_pause = [said("agent", 0.5, 3.0, "김민수 입니다"), said("caller", 20.0, 22.0, "네")]
    assert not review_call(QUALITY, facts(with_pause, duration=23.0)).findings["no_long_silence"].passed
    assert review_call(QUALITY, facts(with_pause, duration=23.0, pauses=((3.5, 19.5),))).findings["no_long_silence"].passed


def test_the_sample_quality_file_loads_and_a_broken_one_is_reported_at_its_line(tmp_path: Path) -> None:
    sample = load_quality(REPO / "ivr_flows")
    card = sample.scorecards()["standard"]
    assert len(card.version) == 12 and sum(q.weight for q in card.questions()) == 100
    assert "안녕하세요 상담원 김민수 입니다" in sample.phrases("ko", ["김민수"])
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "bad.yaml").write_text("language: ko\nscorecards:\n  standard:\n    title: x\n    sections:\n      - name: a\n        questions:\n"
                                              "          - {id: q1, text: t, answer: scale_1_5, auto: no_talk_over}\n")
    with pytest.raises(FlowInvalid) as refused:
        load_quality(tmp_path)
    assert f"{tmp_path / 'qa' / 'bad.yaml'}:8" in str(refused.value) and "answer: yes_no" in str(refused.value), str(refused.value)


def test_a_phrase_word_the_model_does_not_know_is_reported_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "ko.yaml").write_text("language: ko\nkeywords: [환불]\nchecks:\n  forbidden:\n    - 바보\n    - 짜증 나네요\n")
    problems = quality_vocabulary_problems(load_quality(tmp_path), {"ko": frozenset({"환불", "바보", "짜증", "나요"})})
    assert [str(p).split(": ", 1)[0] for p in problems] == [f"{tmp_path / 'qa' / 'ko.yaml'}:6:7"], problems
    assert "`나네요`" in str(problems[0]) and "rephrase" in str(problems[0])


AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def step(seq: int, kind: str, minute: float, **detail: Any) -> JourneyEvent:
    return JourneyEvent(seq, kind, AT + timedelta(minutes=minute), detail)


CHAT = [step(1, "arrived", 0), step(2, "typed", 1, text="인터넷이 안 돼요", node="menu"), step(3, "intent_chosen", 1, node="menu", intent="technical", into="reason"),
        step(4, "typed", 2, text="****", node="ask_account"), step(5, "collected", 2, node="ask_account", into="account", length=8),
        step(6, "typed", 3, text="네", node="ask_name", button=True), step(7, "handoff_offered", 4, how="code", queue="technical"),
        step(8, "collected", 30, node="ask_birthday", into="birthday")]
"""A chat: the customer typed the problem (menu), the account and an answer at ask_name; a field collected after the call's agent answered does not count."""
PHONE = [step(1, "arrived", 5), step(2, "continued_from", 5, leg="chat-1", channel="chat", how="code"), step(3, "queued", 5, queue="technical")]


def test_a_call_that_goes_on_from_a_chat_knows_what_the_chat_was_told() -> None:
    assert continued_legs(PHONE) == ["chat-1"]
    told = earlier_leg_fields({"chat-1": ("chat", CHAT)}, before=AT + timedelta(minutes=6))
    assert told == {"menu": "chat", "reason": "chat", "account": "chat", "ask_account": "chat", "ask_name": "chat"}, "typed answers and intents by node, fields by name; the birthday came later"
    assert earlier_leg_fields({}, before=AT) == {} and continued_legs(CHAT) == []


def test_asking_for_what_the_chat_collected_is_a_repeated_question() -> None:
    asks = [*GOOD_CALL, said("agent", 11.5, 13.0, "고객 번호 알려 주세요")]
    review = review_call(QUALITY, CallFacts(asks, 14, "김민수", frozenset(), 10.0, (), {"account": "chat"}))
    finding = review.findings["no_repeated_question"]
    assert not finding.passed and finding.at_s == 11.5 and "the chat (an earlier leg) had it already" in finding.detail, finding.detail
    assert "repeated_question" in review.flags
    ivr_too = review_call(QUALITY, CallFacts(asks, 14, "김민수", frozenset({"account"}), 10.0, (), {"account": "chat"})).findings["no_repeated_question"]
    assert "the IVR had it already" in ivr_too.detail, "the leg's own IVR is named first"
    clean = review_call(QUALITY, CallFacts(GOOD_CALL, 12, "김민수", frozenset(), 10.0, (), {"account": "chat"})).findings["no_repeated_question"]
    assert clean.passed and "earlier leg" in clean.detail
    by_node = QualityFile.model_validate({"language": "ko", "checks": {"identity_questions": {"menu": ["무슨 문제 인가요"]}}})
    asked_again = [said("agent", 1.0, 3.0, "무슨 문제 인가요")]
    assert not review_call(by_node, CallFacts(asked_again, 4, "김민수", frozenset(), 1.0, (), {"menu": "chat"})).findings["no_repeated_question"].passed, \
        "a question named by the chat's node: the customer typed the problem there"
