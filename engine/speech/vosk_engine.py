"""Vosk (Kaldi) behind the Recognizer interface: one model per language, one recogniser per utterance.

Grammar mode: the listening node's phrases become the grammar, reduced to words the model knows
(Vosk would drop unknown words silently; `threadline validate` reports them), with "[unk]" so that
speech outside the grammar is absorbed instead of forced onto a phrase. Confidence is the mean of
Vosk's word posteriors over the words that were recognised.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.language.intent_matching import Hypothesis, words
from engine.speech.filler_words import FILLER_WORDS
from engine.speech.recognition import SAMPLE_RATE, Recognition, TimedWord
from engine.language.vocabulary import known_form, model_vocabulary

UNKNOWN = "[unk]"


class VoskSpeechModel:
    """Loads once (about a second for the Korean model); thread-safe to make recognisers from."""

    def __init__(self, path: Path, language: str) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self._model = vosk.Model(str(path))
        self._path = path
        self._language = language
        self._vocabulary: frozenset[str] | None = None
        self._vocabulary_read = False
        self._lock = threading.Lock()

    @property
    def language(self) -> str:
        return self._language

    @property
    def description(self) -> str:
        return f"vosk {self._path}"

    @property
    def cuts_unsure_words(self) -> bool:
        return True

    def vocabulary(self) -> frozenset[str] | None:
        with self._lock:
            if not self._vocabulary_read:
                self._vocabulary = model_vocabulary(self._path)
                self._vocabulary_read = True
            return self._vocabulary

    def recognizer(self, phrases: Sequence[str], spotting: bool = False) -> VoskRecognizer:
        if not phrases:
            return VoskRecognizer(self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE))
        vocabulary = self.vocabulary()
        fillers = () if spotting else FILLER_WORDS.get(self._language, ())
        grammar = grammar_phrases([*phrases, *fillers], vocabulary) or ["[unk]"]
        absorb = [UNKNOWN] if vocabulary is None or UNKNOWN in vocabulary else []
        return VoskRecognizer(self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE, json.dumps([*grammar, *absorb], ensure_ascii=False)))


def grammar_phrases(phrases: Sequence[str], vocabulary: frozenset[str] | None) -> list[str]:
    """Each phrase in words the model knows: an unknown word becomes its longest known stem, or is left out."""
    if vocabulary is None:
        return list(dict.fromkeys(" ".join(words(p)) for p in phrases if words(p)))
    kept: dict[str, None] = {}
    for phrase in phrases:
        known = [w for w in (known_form(word, vocabulary) for word in words(phrase)) if w]
        if known:
            kept[" ".join(known)] = None
    return list(kept)


class VoskRecognizer:
    def __init__(self, recognizer: Any) -> None:
        self._recognizer = recognizer
        self._recognizer.SetWords(True)

    def accept(self, pcm16: bytes) -> None:
        self._recognizer.AcceptWaveform(pcm16)

    def partial(self) -> str:
        return _without_unknown(str(json.loads(self._recognizer.PartialResult()).get("partial", "")))

    def final(self) -> Recognition:
        result = json.loads(self._recognizer.FinalResult())
        heard = [item for item in result.get("result", []) if item.get("word") != UNKNOWN]
        text = " ".join(str(item["word"]) for item in heard)
        if not text:
            return Recognition(())
        confidence = sum(float(item.get("conf", 0.0)) for item in heard) / len(heard)
        timed = tuple(TimedWord(str(item["word"]), float(item.get("start", 0.0)), float(item.get("end", 0.0)), float(item.get("conf", 0.0))) for item in heard)
        return Recognition((Hypothesis(text, round(confidence, 4)),), timed)


def _without_unknown(text: str) -> str:
    return " ".join(word for word in text.split() if word != UNKNOWN)
