"""A streaming recogniser that decides fast, and Whisper for a second opinion when it is unsure.

The streaming grammar (Vosk, PocketSphinx) keeps its speed where it is sure: its partial results
drive the early end, and a final result at or above SURE is the answer with no extra cost. Below
that (the middle band and below, where a caller would be asked to confirm or to press a key) the
utterance, which Whisper has been keeping, is decoded once more with the menu as Whisper's prompt,
and both results go on as alternatives: the intent scoring takes the best-supported one.
`bench/speech.py --recogniser vosk+whisper` measures what that buys.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.speech.recognition import Recognition, Recognizer, SpeechModel

SURE = 0.75
"""The flows' default accept level: a streaming result this confident needs no second opinion."""


class SecondOpinionModel:
    def __init__(self, fast: SpeechModel, second: SpeechModel) -> None:
        self._fast = fast
        self._second = second

    @property
    def language(self) -> str:
        return self._fast.language

    @property
    def description(self) -> str:
        return f"{self._fast.description}, second opinion: {self._second.description}"

    def vocabulary(self) -> frozenset[str] | None:
        return self._fast.vocabulary()

    @property
    def cuts_unsure_words(self) -> bool:
        return False  # spotting goes to Whisper

    def recognizer(self, phrases: Sequence[str], spotting: bool = False) -> Recognizer:
        if spotting or not phrases:
            return self._second.recognizer(phrases, spotting)  # free text: Whisper writes it far better
        return SecondOpinionRecognizer(self._fast.recognizer(phrases), self._second.recognizer(phrases))


class SecondOpinionRecognizer:
    def __init__(self, fast: Recognizer, second: Recognizer) -> None:
        self._fast = fast
        self._second = second

    def accept(self, pcm16: bytes) -> None:
        self._fast.accept(pcm16)
        self._second.accept(pcm16)  # Whisper only keeps the audio here

    def partial(self) -> str:
        return self._fast.partial()

    def final(self) -> Recognition:
        first = self._fast.final()
        if first.confidence >= SURE:
            return first
        other = self._second.final()
        alternatives = sorted((*first.alternatives, *other.alternatives), key=lambda h: -h.confidence)
        return Recognition(tuple(alternatives), first.words)
