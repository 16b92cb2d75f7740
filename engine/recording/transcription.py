"""A recording's transcript: each side (caller left, agent right) cut into utterances by the same
energy endpointer the menus use, each utterance decoded by a fresh free-form recogniser from the
`Recognizer` interface, word times shifted to the file's timeline. CPU work: run in the worker
processes (engine/recording/transcriber.py), never on the engine's loop.

Any offline engine behind `SpeechModel` serves: Vosk by default, or a stronger model configured
for transcripts (latency matters less here than in menus).
"""

from __future__ import annotations

import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.speech.endpointing import FRAME_S, ONSET_FRAMES, Endpoint, Endpointer, EndpointSettings
from engine.speech.recognition import FRAME_BYTES, SAMPLE_RATE, SpeechModel, TimedWord
from engine.speech.utterance import frame_level_db

SPEAKERS = ("caller", "agent")
"""Channel 0 (left) is what the caller said, channel 1 (right) what the caller heard: the agent."""
UTTERANCE_END_S = 0.5
MAX_UTTERANCE_S = 20.0
LEAD_S = 0.4
"""Audio kept before an utterance's onset, so its first syllable is not clipped (0.2 s lost the
first word of most sentences in measurements on espeak-ng Korean through a mu-law line)."""
MIN_SPOTTED_CONFIDENCE = 0.5
"""When spotting phrases, a word the model was less sure of than this is left out: without a
garbage word in the small Korean model, speech outside the phrases is forced onto them, mostly
with low confidence."""


@dataclass(frozen=True)
class TranscriptSegment:
    speaker: str
    start_s: float
    end_s: float
    text: str
    confidence: float
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True)
class Transcript:
    segments: tuple[TranscriptSegment, ...]
    audio_s: float
    decode_s: float
    engine: str

    @property
    def text(self) -> str:
        """Every word in time order, for full-text search."""
        return " ".join(segment.text for segment in self.segments if segment.text)

    @property
    def real_time_factor(self) -> float:
        return self.decode_s / self.audio_s if self.audio_s else 0.0


def read_sides(path: Path) -> tuple[list[np.ndarray], int]:
    """The file's channels as int16 arrays, and its sample rate."""
    with wave.open(str(path), "rb") as audio:
        channels, rate = audio.getnchannels(), audio.getframerate()
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
    frames = samples[: samples.size // channels * channels].reshape(-1, channels)
    return [frames[:, index].copy() for index in range(channels)], rate


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Linear interpolation to 16 kHz: the model's rate (8 kHz phone audio decoded better upsampled)."""
    if rate == SAMPLE_RATE or samples.size == 0:
        return samples.astype("<i2")
    count = int(round(samples.size * SAMPLE_RATE / rate))
    positions = np.arange(count) * (rate / SAMPLE_RATE)
    resampled: np.ndarray = np.interp(positions, np.arange(samples.size), samples.astype(np.float64)).astype("<i2")
    return resampled


def speech_spans(samples16k: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) in seconds of each utterance, by the energy endpointer."""
    endpointer = Endpointer(EndpointSettings(UTTERANCE_END_S, MAX_UTTERANCE_S, UTTERANCE_END_S))
    spans: list[tuple[float, float]] = []
    data = samples16k.tobytes()
    start = None
    for index in range(len(data) // FRAME_BYTES):
        happened = endpointer.push(frame_level_db(data[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]))
        if happened is Endpoint.STARTED:
            start = max(0.0, (endpointer.frames - ONSET_FRAMES) * FRAME_S - LEAD_S)
        elif happened in (Endpoint.ENDED, Endpoint.TOO_LONG) and start is not None:
            spans.append((start, endpointer.last_voiced * FRAME_S + 0.1))
            start = None
    if start is not None:
        spans.append((start, endpointer.frames * FRAME_S))
    return spans


def transcribe_side(model: SpeechModel, samples16k: np.ndarray, speaker: str, phrases: Sequence[str] = ()) -> list[TranscriptSegment]:
    """One side's utterances. With `phrases`, the recogniser spots them (small models); without,
    it transcribes free-form (a large model configured for transcripts)."""
    segments = []
    for start_s, end_s in speech_spans(samples16k):
        recognizer = model.recognizer(phrases, spotting=True)
        chunk = samples16k[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)].tobytes()
        for offset in range(0, len(chunk), FRAME_BYTES * 10):
            recognizer.accept(chunk[offset : offset + FRAME_BYTES * 10])
        heard = recognizer.final()
        if not heard.text:
            continue
        words = tuple(TimedWord(w.word, round(start_s + w.start_s, 2), round(start_s + w.end_s, 2), w.confidence) for w in heard.words
                      # a model_factory's model may predate cuts_unsure_words: it was a grammar model then
                      if not phrases or not getattr(model, "cuts_unsure_words", True) or w.confidence >= MIN_SPOTTED_CONFIDENCE)
        text = " ".join(w.word for w in words) if heard.words else heard.text
        if not text:
            continue
        first, last = (words[0].start_s, words[-1].end_s) if words else (start_s, end_s)
        segments.append(TranscriptSegment(speaker, round(first, 2), round(last, 2), text, heard.confidence, words))
    return segments


def transcribe_wav(path: Path, model: SpeechModel, phrases: Sequence[str] = ()) -> Transcript:
    began = time.process_time()
    sides, rate = read_sides(path)
    segments: list[TranscriptSegment] = []
    for speaker, samples in zip(SPEAKERS, sides):
        segments.extend(transcribe_side(model, to_16k(samples, rate), speaker, phrases))
    segments.sort(key=lambda segment: (segment.start_s, segment.speaker))
    audio_s = sides[0].size / rate if sides else 0.0
    return Transcript(tuple(segments), round(audio_s, 2), round(time.process_time() - began, 3), model.description)
