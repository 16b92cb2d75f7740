"""Whisper base (faster-whisper on CTranslate2) behind the Recognizer interface.

Whisper is the only offline recogniser installable here that knows Mandarin (and it also knows
English and Korean). It is not a streaming decoder: a recogniser keeps the utterance's audio and
decodes all of it at once, which costs about the same (0.6-1 s on one core) whatever the
utterance's length, because Whisper always encodes a 30 s window. The listener asks for a partial
result only when the caller has paused (early_end_s of silence), so `partial()` decodes what was
said so far there (at most MAX_PARTIALS times an utterance); if that already completes a phrase the
utterance ends early, and `final()` reuses the decode when nothing but silence came after it. A
caller who stops waits early_end_s plus one decode, and no less than end_of_speech_s when the pause
did not complete a phrase. `bench/speech.py` measures it.

Menus: the node's phrases go in as Whisper's `initial_prompt`, which biases the decoder towards
the operator's vocabulary (measured on synthetic Mandarin: character errors 103% free-form, 7%
with the menu as prompt); the text is then matched against the intents like any recogniser's.
Scoring each phrase as the whole transcript (CTranslate2 `align`) was measured too and rejected:
callers say sentences ("我想查一下这个月的话费"), not menu words, and a phrase scored as the
whole utterance loses to whichever phrase is shortest.

The confidence is the decoder's mean token probability (exp of avg_logprob), lowered when Whisper
thinks there was no speech; a looping transcript (high compression ratio, Whisper's known failure
on noise) is dropped as nothing heard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.language.intent_matching import Hypothesis
from engine.speech.endpointing import MIN_VOICE_DB
from engine.speech.recognition import SAMPLE_RATE, Recognition, TimedWord
from engine.speech.utterance import frame_level_db

MAX_AUDIO_S = 30.0
"""Whisper's window: audio beyond it in one utterance is not kept (the endpointer caps speech at 15 s)."""
MAX_NEW_TOKENS = 96
"""A menu answer or a transcript line is short; a cap stops a hallucinated loop from costing seconds."""
LOOPING_COMPRESSION = 2.4
"""Whisper's own threshold for a repetitive (hallucinated) segment."""
NO_SPEECH_DROP = 0.6
"""Above this no-speech probability, with a weak transcript, nothing was said."""
WEAK_LOGPROB = -1.0
PROMPT_SEPARATOR = {"zh": "，", "ko": ", ", "en": ", "}
PROMPT_END = {"zh": "。", "ko": ".", "en": "."}
MAX_PARTIALS = 2
"""Decodes at pauses per utterance; later pauses wait for the end of speech."""
PARTIAL_AFTER_S = 0.5
"""New voice needed since the last decode before a pause is worth another."""
MAX_PROMPT_PHRASES = 40
"""Whisper's prompt holds 224 tokens; a menu's phrases fit well within this many."""


class WhisperSpeechModel:
    """One language's view of a shared Whisper model: the model loads once for every language."""

    def __init__(self, shared: SharedWhisper, language: str) -> None:
        self._shared = shared
        self._language = language

    @property
    def language(self) -> str:
        return self._language

    @property
    def description(self) -> str:
        return f"whisper {self._shared.folder}"

    def vocabulary(self) -> frozenset[str] | None:
        return None  # byte-level tokens: every word can be written

    @property
    def cuts_unsure_words(self) -> bool:
        return False  # free-form words: a low-probability character is still the best reading

    def recognizer(self, phrases: Sequence[str], spotting: bool = False) -> WhisperRecognizer:
        # Spotting (transcripts) gets the phrases too: they steer Mandarin to simplified characters
        # and to the QA files' words, which the checks compare literally.
        prompt = menu_prompt(phrases, self._language) if phrases else None
        return WhisperRecognizer(self._shared, self._language, prompt, timed_words=spotting or not phrases)


def menu_prompt(phrases: Sequence[str], language: str) -> str:
    """The node's phrases as one sentence Whisper reads as what came before the caller spoke."""
    unique = list(dict.fromkeys(p.strip() for p in phrases if p.strip()))[:MAX_PROMPT_PHRASES]
    return PROMPT_SEPARATOR.get(language, ", ").join(unique) + PROMPT_END.get(language, ".")


class SharedWhisper:
    """The loaded model. CTranslate2 runs decodes from several threads side by side only with as
    many workers (model replicas, about 80 MB each in int8); with one they queue. So it gets one
    worker per decode-pool thread, each on one core (cpu_threads=1)."""

    def __init__(self, folder: Path, workers: int = 1) -> None:
        from faster_whisper import WhisperModel

        self.folder = folder
        self.model: Any = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=1, num_workers=max(1, workers), local_files_only=True)

    def transcribe(self, audio: np.ndarray, language: str, prompt: str | None, timed_words: bool) -> Recognition:
        if audio.size < SAMPLE_RATE // 10:
            return Recognition(())
        segments, _info = self.model.transcribe(
            audio,
            language=language,
            beam_size=1,
            temperature=0.0,
            initial_prompt=prompt,
            condition_on_previous_text=False,
            without_timestamps=not timed_words,
            word_timestamps=timed_words,
            vad_filter=False,
            max_new_tokens=MAX_NEW_TOKENS,
        )
        kept = [s for s in segments if s.compression_ratio <= LOOPING_COMPRESSION and s.text.strip()]
        kept = [s for s in kept if not (s.no_speech_prob > NO_SPEECH_DROP and s.avg_logprob < WEAK_LOGPROB)]
        if not kept:
            return Recognition(())
        text = "".join(s.text for s in kept).strip() if language == "zh" else " ".join(s.text.strip() for s in kept)
        logprob = sum(s.avg_logprob for s in kept) / len(kept)
        speech = 1.0 - max(s.no_speech_prob for s in kept)
        confidence = round(calibrated(math.exp(logprob) * (0.5 + 0.5 * speech)), 4)
        timed = tuple(
            TimedWord(w.word.strip(), float(w.start), float(w.end), float(w.probability))
            for s in kept for w in (s.words or ()) if w.word.strip()
        )
        return Recognition((Hypothesis(text, confidence),), timed)


CALIBRATION = ((0.0, 0.0), (0.3, 0.45), (0.6, 0.75), (1.0, 1.0))
"""Mean token probability -> confidence, so the flows' default band (accept 0.75, confirm 0.45)
means for Whisper what it means for Vosk. Fitted on the tuning bank (tests/speech/support_zh_menu.tsv):
every Whisper transcript at 0.6 or above named the right intent, and below 0.3 none did."""


def calibrated(probability: float) -> float:
    clamped = max(0.0, min(1.0, probability))
    for (x0, y0), (x1, y1) in zip(CALIBRATION, CALIBRATION[1:]):
        if clamped <= x1:
            return y0 + (clamped - x0) * (y1 - y0) / (x1 - x0)
    return 1.0


class WhisperRecognizer:
    """Keeps the utterance; decodes it at a pause (partial) and at the end, once if nothing was said between."""

    def __init__(self, shared: SharedWhisper, language: str, prompt: str | None, timed_words: bool) -> None:
        self._shared = shared
        self._language = language
        self._prompt = prompt
        self._timed_words = timed_words
        self._audio = bytearray()
        self._decoded: Recognition | None = None
        """The last partial's result, while only silence has come since."""
        self._voiced_since_decode = 0
        """Bytes of voiced audio since the last decode."""
        self._partials = 0
        self._last_partial = ""

    def accept(self, pcm16: bytes) -> None:
        room = int(MAX_AUDIO_S * SAMPLE_RATE * 2) - len(self._audio)
        if room > 0:
            self._audio += pcm16[:room]
        if _voiced(pcm16):
            self._voiced_since_decode += len(pcm16)
            self._decoded = None

    def partial(self) -> str:
        """A decode at a pause, at most MAX_PARTIALS per utterance and only after PARTIAL_AFTER_S of
        new voice: a caller who pauses every few syllables must not cost a decode per pause."""
        if self._partials >= MAX_PARTIALS or self._voiced_since_decode < PARTIAL_AFTER_S * SAMPLE_RATE * 2:
            return self._last_partial
        self._partials += 1
        self._voiced_since_decode = 0
        self._decoded = self._decode()
        self._last_partial = self._decoded.text
        return self._last_partial

    def final(self) -> Recognition:
        heard = self._decoded if self._decoded is not None else self._decode()
        self._audio, self._decoded, self._voiced_since_decode, self._partials, self._last_partial = bytearray(), None, 0, 0, ""
        return heard

    def _decode(self) -> Recognition:
        samples = np.frombuffer(bytes(self._audio), dtype="<i2").astype(np.float32) / 32768.0
        return self._shared.transcribe(samples, self._language, self._prompt, self._timed_words)


def _voiced(pcm16: bytes) -> bool:
    """Anything louder than the quietest voice the endpointer accepts (MIN_VOICE_DB) is new speech."""
    return frame_level_db(pcm16[: len(pcm16) - len(pcm16) % 2]) > MIN_VOICE_DB
