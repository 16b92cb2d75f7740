"""The Whisper recogniser with the real Whisper base model and espeak-ng Mandarin through a phone line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.speech.audio_files import read_as_slin16
from engine.speech.recognition import FRAME_BYTES
from engine.speech.synthetic_callers import VARIANTS, Sentence, synthesize
from engine.speech.whisper_engine import CALIBRATION, calibrated, menu_prompt

REPO = Path(__file__).resolve().parents[3]
pytest.importorskip("faster_whisper", reason="Whisper is installed by `make install` (the whisper extra)")
needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng and sox are installed by `make test`")


def test_the_calibration_maps_the_flows_band_onto_whisper_probabilities() -> None:
    assert [calibrated(x) for x, _ in CALIBRATION] == pytest.approx([y for _, y in CALIBRATION])
    assert calibrated(-1) == 0.0 and calibrated(2) == 1.0
    assert calibrated(0.45) == pytest.approx(0.6)
    values = [calibrated(x / 100) for x in range(101)]
    assert values == sorted(values), "more probable is never less confident"


def test_the_menu_prompt_lists_each_phrase_once_in_the_languages_punctuation() -> None:
    assert menu_prompt(["话费", "账单", "话费", " "], "zh") == "话费，账单。"
    assert menu_prompt(["billing", "my bill"], "en") == "billing, my bill."


@pytest.fixture(scope="module")
def mandarin() -> object:
    from engine.settings import SpeechSettings
    from engine.speech.speech_service import find_model, load_speech_model

    resolved = find_model(SpeechSettings(), "zh")
    assert resolved.backend == "whisper"
    model = load_speech_model(resolved)
    assert load_speech_model(find_model(SpeechSettings(), "zh")) is not model
    return model


@needs_tts
def test_a_mandarin_sentence_is_written_down_and_decoded_once_when_only_silence_follows_the_pause(mandarin: object, tmp_path: Path) -> None:
    from engine.speech.whisper_engine import WhisperSpeechModel

    assert isinstance(mandarin, WhisperSpeechModel)
    expected = synthesize([Sentence("billing", "我想查一下这个月的话费")], "zh", tmp_path, variants=VARIANTS[:1])
    pcm = read_as_slin16(tmp_path / expected.read_text().split("\t")[0])
    speech_end = len(pcm) - 16000 * 2  # synthetic callers end with a second of silence
    recognizer = mandarin.recognizer(["话费", "账单", "网络"])
    recognizer.accept(pcm[:speech_end])
    said = recognizer.partial()
    assert "话费" in said, said
    calls: list[int] = []
    shared = mandarin._shared
    original = shared.transcribe

    def counted(*args: object) -> object:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    shared.transcribe = counted  # type: ignore[method-assign,assignment]
    try:
        recognizer.accept(pcm[speech_end:])  # silence only
        heard = recognizer.final()
    finally:
        shared.transcribe = original  # type: ignore[method-assign]
    assert calls == [], "the pause's decode is the answer: no second decode"
    assert heard.text == said and 0.45 <= heard.confidence <= 1.0, heard


@needs_tts
def test_free_form_transcription_times_its_words_and_silence_is_nothing_heard(mandarin: object, tmp_path: Path) -> None:
    from engine.speech.whisper_engine import WhisperSpeechModel

    assert isinstance(mandarin, WhisperSpeechModel)
    expected = synthesize([Sentence("billing", "帮我查询一下话费")], "zh", tmp_path, variants=VARIANTS[:1])
    free = mandarin.recognizer([])
    free.accept(read_as_slin16(tmp_path / expected.read_text().split("\t")[0]))
    heard = free.final()
    assert heard.text and heard.words, heard
    starts = [w.start_s for w in heard.words]
    assert starts == sorted(starts) and all(w.end_s >= w.start_s for w in heard.words)
    silence = mandarin.recognizer([])
    for _ in range(50):
        silence.accept(b"\0" * FRAME_BYTES)
    assert silence.final().alternatives == ()
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype("<i2").tobytes()
    assert mandarin.recognizer([]).partial() == "", "nothing fed, nothing decoded"
    spotted = mandarin.recognizer(["话费"], spotting=True)
    spotted.accept(tone)
    assert spotted.final().text.count("话费") <= 1
