"""The pair recogniser and Whisper's decodes at pauses, with fakes (pure logic: who decodes when)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.language.intent_matching import Hypothesis
from engine.speech.recognition import Recognition
from engine.speech.second_opinion import SURE, SecondOpinionRecognizer
from engine.speech.whisper_engine import MAX_PARTIALS, SharedWhisper, WhisperRecognizer


class Fixed:
    def __init__(self, text: str, confidence: float) -> None:
        self.result = Recognition((Hypothesis(text, confidence),))
        self.fed = 0
        self.finals = 0

    def accept(self, pcm16: bytes) -> None:
        self.fed += len(pcm16)

    def partial(self) -> str:
        return self.result.text

    def final(self) -> Recognition:
        self.finals += 1
        return self.result


def test_a_sure_streaming_result_needs_no_second_opinion() -> None:
    fast, second = Fixed("요금", SURE), Fixed("요금 문의", 0.9)
    pair = SecondOpinionRecognizer(fast, second)
    pair.accept(b"\0" * 640)
    assert fast.fed == second.fed == 640 and pair.partial() == "요금"
    assert pair.final().text == "요금" and second.finals == 0


def test_an_unsure_streaming_result_is_joined_by_whispers_reading_best_first() -> None:
    fast, second = Fixed("안 돼요", 0.4), Fixed("인터넷이 안 돼요", 0.8)
    heard = SecondOpinionRecognizer(fast, second).final()
    assert [h.text for h in heard.alternatives] == ["인터넷이 안 돼요", "안 돼요"]


class CountingWhisper(SharedWhisper):
    def __init__(self) -> None:
        self.folder = Path("/nowhere")
        self.decodes = 0

    def transcribe(self, audio: np.ndarray, language: str, prompt: str | None, timed_words: bool) -> Recognition:
        self.decodes += 1
        return Recognition((Hypothesis(f"decode {self.decodes}", 0.9),))


VOICE = (8000 * np.sin(np.arange(16000) / 5.0)).astype("<i2").tobytes()
"""A second of loud audio."""


def test_a_caller_who_pauses_often_costs_at_most_max_partials_decodes_per_utterance() -> None:
    shared = CountingWhisper()
    recognizer = WhisperRecognizer(shared, "zh", "话费。", timed_words=False)
    recognizer.accept(VOICE[:3200])  # 0.1 s: too little new voice for a decode
    assert recognizer.partial() == "" and shared.decodes == 0
    for _ in range(10):
        recognizer.accept(VOICE)
        recognizer.partial()
    assert shared.decodes == MAX_PARTIALS
    recognizer.accept(VOICE)
    assert recognizer.final().text == f"decode {MAX_PARTIALS + 1}", "voice after the last partial: decoded again at the end"
    recognizer.accept(VOICE)
    recognizer.partial()
    assert shared.decodes == MAX_PARTIALS + 2, "a new utterance may decode at its pauses again"


def test_final_reuses_the_pause_decode_when_only_silence_followed() -> None:
    shared = CountingWhisper()
    recognizer = WhisperRecognizer(shared, "zh", None, timed_words=False)
    recognizer.accept(VOICE)
    said = recognizer.partial()
    recognizer.accept(b"\0" * 12800)
    assert recognizer.final().text == said and shared.decodes == 1
