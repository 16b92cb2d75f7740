"""The small recogniser interface: feed 16 kHz frames, read partial and final results.

Vosk is the default engine; another offline engine plugs in by providing a SpeechModel (loaded
once, shared by every call) whose recognisers (one per utterance) follow this protocol. Nothing
here is asynchronous: recognisers are CPU work and run in the decode pool, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.language.intent_matching import Hypothesis

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2
"""One 20 ms frame of 16-bit mono audio at 16 kHz: what chan_websocket sends with format=slin16."""


@dataclass(frozen=True)
class TimedWord:
    """A word of the best alternative, with its place in the audio fed (seconds) and confidence."""

    word: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class Recognition:
    """A final result: alternatives best first (empty when nothing usable was heard); `words`
    times the best one's words where the engine can (transcripts need them, menus do not)."""

    alternatives: tuple[Hypothesis, ...]
    words: tuple[TimedWord, ...] = ()

    @property
    def text(self) -> str:
        return self.alternatives[0].text if self.alternatives else ""

    @property
    def confidence(self) -> float:
        return self.alternatives[0].confidence if self.alternatives else 0.0


class Recognizer(Protocol):
    """One utterance's decoder. Not thread-safe: one caller feeds it, in order."""

    def accept(self, pcm16: bytes) -> None: ...

    def partial(self) -> str:
        """The best guess so far, without ending the utterance."""
        ...

    def final(self) -> Recognition:
        """End the utterance and return what was heard."""
        ...


class SpeechModel(Protocol):
    """A loaded model for one language, shared by all calls."""

    @property
    def language(self) -> str: ...

    @property
    def description(self) -> str: ...

    def vocabulary(self) -> frozenset[str] | None:
        """The words the model can recognise, or None when it cannot tell."""
        ...

    @property
    def cuts_unsure_words(self) -> bool:
        """Whether transcripts drop its low-confidence spotted words: a grammar forces speech onto
        its phrases, so an unsure word there is usually a false spot; free-form words are not."""
        ...

    def recognizer(self, phrases: Sequence[str], spotting: bool = False) -> Recognizer:
        """A recogniser limited to these phrases (a grammar); no phrases means free-form. With
        `spotting`, the phrases are what to find in running speech (transcripts), so the filler
        words a menu answer may carry are not added."""
        ...
