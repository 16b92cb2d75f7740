"""One caller's listening: frames in, speech-start and utterance results out. Synchronous CPU work.

The same class serves live calls (fed from the media websocket inside the decode pool), the
speech test tool, the simulator's @file.wav and the benchmark, so what operators measure is what
callers get. Latency is counted from the end of the caller's last voiced frame to the result.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.language.intent_matching import Hypothesis, score_intents
from engine.speech.endpointing import FRAME_S, Endpoint, Endpointer, EndpointSettings
from engine.speech.recognition import FRAME_BYTES, Recognition, Recognizer, SpeechModel

PRE_ROLL_FRAMES = 15
"""300 ms kept before the onset, so the first syllable (quieter than the threshold) is decoded too."""


@dataclass(frozen=True)
class SpeechBegan:
    at_s: float
    """Audio time since listening began."""


@dataclass(frozen=True)
class UtteranceHeard:
    recognition: Recognition
    latency_ms: float
    """From the end of the last voiced frame to the result."""
    speech_ms: float
    ended: str
    """early (a phrase was complete after a short pause), silence, or too_long."""
    audio: bytes | None = None
    """The utterance as 16 kHz slin, when audio is kept for tuning."""


SpeechEvent = SpeechBegan | UtteranceHeard


def frame_level_db(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    return 20.0 * math.log10(rms / 32768.0 + 1e-6)


def phrase_complete(heard: str, phrases: Sequence[str]) -> bool:
    """True when every word of some phrase was heard: the caller has said enough to decide."""
    if not heard or not phrases:
        return False
    ranked = score_intents([Hypothesis(heard, 1.0)], {phrase: (phrase,) for phrase in phrases})
    return bool(ranked) and ranked[0].confidence >= 1.0


class UtteranceListener:
    """Not thread-safe: one feeder at a time (the live adapter serialises per call)."""

    def __init__(
        self,
        model: SpeechModel,
        phrases: Sequence[str],
        settings: EndpointSettings,
        keep_audio: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.phrases = tuple(phrases)
        self._recognizer: Recognizer = model.recognizer(self.phrases)
        self._endpointer = Endpointer(settings)
        self._pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        self._pending = b""
        self._keep_audio = keep_audio
        self._audio: list[bytes] = []
        self._utterance_frames = 0
        self._clock = clock
        self._check: tuple[int, float] | None = None
        """(last voiced frame, ms the recogniser took) at the last pause check of this utterance."""

    def feed(self, pcm16: bytes, received_at: float | None = None) -> list[SpeechEvent]:
        """Any amount of 16 kHz slin; returns what happened in it. received_at: when its last byte arrived."""
        started = self._clock() if received_at is None else received_at
        data = self._pending + pcm16
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        events: list[SpeechEvent] = []
        for offset in range(0, whole, FRAME_BYTES):
            event = self._frame(data[offset : offset + FRAME_BYTES], started)
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> UtteranceHeard | None:
        """The audio ended (end of a file, or max speech reached elsewhere): decide on what was heard."""
        if not self._endpointer.in_speech:
            return None
        self._endpointer.end_early()
        return self._decide("silence", self._clock())

    def _frame(self, frame: bytes, started: float) -> SpeechEvent | None:
        endpoint = self._endpointer.push(frame_level_db(frame))
        if endpoint is Endpoint.NONE and not self._endpointer.in_speech:
            self._pre_roll.append(frame)
            return None
        if endpoint is Endpoint.STARTED:
            self._audio, self._utterance_frames = [], 0
            for earlier in self._pre_roll:
                self._take(earlier)
            self._pre_roll.clear()
            self._take(frame)
            return SpeechBegan(round((self._endpointer.frames - 3) * FRAME_S, 3))
        self._take(frame)
        if endpoint is Endpoint.CHECK:
            checking = self._clock()
            heard = self._recognizer.partial()
            self._check = (self._endpointer.last_voiced, (self._clock() - checking) * 1000)
            if phrase_complete(heard, self.phrases):
                self._endpointer.end_early()
                return self._decide("early", started)
        if endpoint is Endpoint.ENDED:
            return self._decide("silence", started)
        if endpoint is Endpoint.TOO_LONG:
            return self._decide("too_long", started)
        return None

    def _take(self, frame: bytes) -> None:
        self._recognizer.accept(frame)
        self._utterance_frames += 1
        if self._keep_audio:
            self._audio.append(frame)

    def _decide(self, ended: str, started: float) -> UtteranceHeard:
        recognition = self._recognizer.final()
        silence_ms = self._endpointer.silence_frames * FRAME_S * 1000
        processing_ms = (self._clock() - started) * 1000
        if ended != "early" and self._check is not None and self._check[0] == self._endpointer.last_voiced:
            # The pause's decode (Whisper's) held up the frames after it: the decision came no sooner
            # than the pause plus that decode, however the frames were batched afterwards.
            silence_ms = max(silence_ms, self._endpointer.settings.early_end_s * 1000 + self._check[1])
        self._check = None
        speech_ms = self._utterance_frames * FRAME_S * 1000
        audio = b"".join(self._audio) if self._keep_audio else None
        self._audio = []
        return UtteranceHeard(recognition, round(silence_ms + processing_ms, 1), speech_ms, ended, audio)
