"""What the listener reports as latency when the recogniser decodes at the caller's pause (Whisper)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.language.intent_matching import Hypothesis
from engine.speech.endpointing import EndpointSettings
from engine.speech.recognition import FRAME_BYTES, Recognition
from engine.speech.utterance import UtteranceHeard, UtteranceListener


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class PauseDecoder:
    """Decodes only when asked at a pause, taking `cost_s` of the clock, like Whisper."""

    def __init__(self, clock: Clock, cost_s: float, heard: str) -> None:
        self.clock, self.cost_s, self.heard = clock, cost_s, heard

    def accept(self, pcm16: bytes) -> None:
        pass

    def partial(self) -> str:
        self.clock.now += self.cost_s
        return self.heard

    def final(self) -> Recognition:
        return Recognition((Hypothesis(self.heard, 0.9),))


class PauseDecoderModel:
    language = "zh"
    description = "fake"
    cuts_unsure_words = False

    def __init__(self, recognizer: PauseDecoder) -> None:
        self._recognizer = recognizer

    def vocabulary(self) -> frozenset[str] | None:
        return None

    def recognizer(self, phrases: Sequence[str], spotting: bool = False) -> PauseDecoder:
        return self._recognizer


def speech_then_silence(speech_s: float, silence_s: float) -> bytes:
    voiced = (8000 * np.sin(2 * np.pi * 300 * np.arange(int(16000 * speech_s)) / 16000)).astype("<i2").tobytes()
    return voiced + b"\0" * int(16000 * silence_s) * 2


def first_heard(listener: UtteranceListener, pcm: bytes) -> UtteranceHeard:
    for offset in range(0, len(pcm), FRAME_BYTES):
        for event in listener.feed(pcm[offset : offset + FRAME_BYTES]):
            if isinstance(event, UtteranceHeard):
                return event
    raise AssertionError("nothing heard")


def test_a_slow_decode_at_the_pause_counts_in_the_latency_when_the_decision_waits_for_end_of_speech() -> None:
    clock = Clock()
    listener = UtteranceListener(PauseDecoderModel(PauseDecoder(clock, 1.0, "我在开车")), ["话费"], EndpointSettings(0.6, 15.0, 0.2), clock=clock)
    heard = first_heard(listener, speech_then_silence(1.0, 1.0))
    assert heard.ended == "silence"
    assert heard.latency_ms >= 1200, "0.2 s pause + 1 s decode, not just the 0.6 s of silence"


def test_a_pause_that_completes_a_phrase_is_decided_at_once_with_its_decode_counted() -> None:
    clock = Clock()
    listener = UtteranceListener(PauseDecoderModel(PauseDecoder(clock, 0.5, "我想查话费")), ["话费"], EndpointSettings(0.6, 15.0, 0.2), clock=clock)
    heard = first_heard(listener, speech_then_silence(1.0, 1.0))
    assert heard.ended == "early"
    assert 700 <= heard.latency_ms < 800, heard.latency_ms


def test_a_fast_recogniser_waits_only_for_the_silence() -> None:
    clock = Clock()
    listener = UtteranceListener(PauseDecoderModel(PauseDecoder(clock, 0.001, "음")), ["요금"], EndpointSettings(0.6, 15.0, 0.2), clock=clock)
    heard = first_heard(listener, speech_then_silence(1.0, 1.0))
    assert heard.ended == "silence" and 590 <= heard.latency_ms < 620, heard.latency_ms
