"""The PocketSphinx backend on its bundled en-us model, fed espeak-ng speech through a phone line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.speech.audio_files import read_as_slin16
from engine.speech.recognition import FRAME_BYTES, Recognition, SpeechModel
from engine.speech.synthetic_callers import VARIANTS, Sentence, synthesize

pytest.importorskip("pocketsphinx", reason="pocketsphinx is a dependency: pip install -e .")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng and sox are installed by `make test`")

MENU = ["billing", "my bill", "invoice", "internet", "technical support", "not working", "new service", "sign up", "sales", "agent", "operator", "a person"]
PLAIN = VARIANTS[:1]


@pytest.fixture(scope="module")
def model() -> SpeechModel:
    from engine.speech.sphinx_engine import SphinxSpeechModel

    return SphinxSpeechModel()


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Each sentence spoken once, 8 kHz mu-law round trip, back as 16 kHz slin."""
    folder = tmp_path_factory.mktemp("sphinx-audio")
    sentences = ["billing", "technical support", "operator", "the weather is really nice today", "hold on a second"]
    synthesize([Sentence("x", text) for text in sentences], "en", folder, PLAIN)
    files = sorted(folder.glob("*.wav"), key=lambda path: int(path.name.split("-")[1]))
    return {text: read_as_slin16(path) for text, path in zip(sentences, files, strict=True)}


def hear(model: SpeechModel, phrases: list[str], pcm: bytes) -> Recognition:
    recognizer = model.recognizer(phrases)
    for offset in range(0, len(pcm), FRAME_BYTES):
        recognizer.accept(pcm[offset : offset + FRAME_BYTES])
    return recognizer.final()


@pytest.mark.parametrize("said", ["billing", "technical support", "operator"])
def test_the_grammar_hears_the_phrase_said(model: SpeechModel, audio: dict[str, bytes], said: str) -> None:
    heard = hear(model, MENU, audio[said])
    assert said in heard.text, heard
    assert heard.confidence >= 0.45, f"in-grammar speech should reach at least the confirm band: {heard}"


@pytest.mark.parametrize("said", ["the weather is really nice today", "hold on a second"])
def test_speech_outside_the_grammar_gets_low_confidence(model: SpeechModel, audio: dict[str, bytes], said: str) -> None:
    heard = hear(model, MENU, audio[said])
    assert heard.confidence < 0.45, heard


def test_free_form_returns_words_and_the_recogniser_serves_a_second_utterance(model: SpeechModel, audio: dict[str, bytes]) -> None:
    recognizer = model.recognizer([])
    for said in ("the weather is really nice today", "hold on a second"):
        pcm = audio[said]
        for offset in range(0, len(pcm), FRAME_BYTES):
            recognizer.accept(pcm[offset : offset + FRAME_BYTES])
        assert recognizer.final().text


def test_words_are_timed_within_the_audio(model: SpeechModel, audio: dict[str, bytes]) -> None:
    pcm = audio["technical support"]
    heard = hear(model, MENU, pcm)
    assert heard.words and [w.word for w in heard.words if w.word in ("technical", "support")] == ["technical", "support"]
    duration = len(pcm) / 32000
    for earlier, later in zip(heard.words, heard.words[1:]):
        assert earlier.end_s <= later.start_s
    assert all(0 <= w.start_s < w.end_s <= duration + 0.05 for w in heard.words)
    assert heard.words[0].start_s >= 0.3, "the line's half second of silence comes first"


def test_vocabulary_and_grammar_words(model: SpeechModel) -> None:
    from engine.speech.sphinx_engine import sphinx_phrases

    vocabulary = model.vocabulary()
    assert vocabulary is not None and "billing" in vocabulary and "don't" in vocabulary
    assert not any("(" in word for word in vocabulary), "alternate pronunciations are folded"
    assert sphinx_phrases(["My bill, please!", "zzqxv", "don't zzqxv know"], vocabulary) == ["my bill please", "don't know"]
    assert model.description.startswith("pocketsphinx en-us ")
