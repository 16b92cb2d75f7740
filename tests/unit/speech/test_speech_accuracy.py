"""The speech test tool on the synthetic Korean callers, with the real espeak-ng, sox and Vosk model.

The figures were measured on this test set (natural sentences per intent, three voices and speeds,
one with line noise, through an 8 kHz mu-law round trip). Vosk's results vary a little from run to
run, so the floors sit a few points below what was measured: a regression shows, noise does not.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.speech.synthetic_callers import read_sentences, synthesize

REPO = Path(__file__).resolve().parents[3]
MEASURED = {"accuracy": 0.38, "wrong_accept": 0.024}
ACCURACY_FLOOR = 0.33
WRONG_ACCEPT_CEILING = 0.1

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng and sox are installed by `make test`")


@pytest.fixture(scope="module")
def korean_callers() -> Path:
    """Synthesised once per checkout (file names are content hashes, so edits to the sentences show)."""
    corpus = REPO / ".cache" / "speech-corpus" / "support_ko_menu"
    synthesize(read_sentences(REPO / "tests" / "speech" / "support_ko_menu.tsv"), "ko", corpus)
    return corpus


def test_speech_test_prints_its_figures_and_accuracy_does_not_regress(korean_callers: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["speech", "test", "support_ko", "menu", str(korean_callers), "--expected", str(korean_callers / "expected.tsv")]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    figures = re.fullmatch(r"speech-test accuracy=([0-9.]+) wrong_accept=([0-9.]+) confirm=([0-9.]+) n=(\d+)", last)
    assert figures, last
    accuracy, wrong_accept, confirm, n = float(figures[1]), float(figures[2]), float(figures[3]), int(figures[4])
    assert n == 3 * len(read_sentences(REPO / "tests" / "speech" / "support_ko_menu.tsv"))
    assert accuracy >= ACCURACY_FLOOR, f"accuracy {accuracy} fell below {ACCURACY_FLOOR} (measured {MEASURED['accuracy']})\n{out}"
    assert wrong_accept <= WRONG_ACCEPT_CEILING, f"wrong accepts {wrong_accept} rose above {WRONG_ACCEPT_CEILING}\n{out}"
    assert 0 <= confirm <= 1
    assert "confusion matrix" in out and "suggested: accept" in out
    assert re.search(r"^billing-\S+\.wav\s+(accept|confirm|no-match|global)\s", out, re.M), "one line per file with its band"


def test_speech_test_names_a_node_that_is_not_an_ask(korean_callers: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["speech", "test", "support_ko", "welcome", str(korean_callers)]) == 2
    assert "node `welcome` of flow `support_ko` is not an `ask` node" in capsys.readouterr().err


def test_the_simulator_hears_a_recording_through_the_real_pipeline(korean_callers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    recording = next(korean_callers.glob("agent-*-fast-f2-*.wav"))
    script = tmp_path / "caller.txt"
    script.write_text(f"@{recording}\n#0\n", encoding="utf-8")
    lookups = tmp_path / "lookups.json"
    lookups.write_text('{"crm": {"found": true}}', encoding="utf-8")
    main(["simulate", "support_ko", "--script", str(script), "--lookups", str(lookups)])
    out = capsys.readouterr().out
    assert "(heard: '" in out and "TRANSFER to queue" in out



WHISPER_LANGUAGES = {
    # language: (measured accuracy, wrong accepts) on the plain voice of the tuning bank, the floors a little below
    "zh": ({"accuracy": 0.63, "wrong_accept": 0.033}, 0.5, 0.1),
    "en": ({"accuracy": 0.62, "wrong_accept": 0.027}, 0.5, 0.1),
}


@pytest.mark.parametrize("language", sorted(WHISPER_LANGUAGES))
def test_mandarin_and_english_callers_through_whisper_do_not_regress(language: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """support_zh's and support_en's menus through their default recogniser (Whisper base, the menu as its prompt).

    One voice (the plain one) keeps each to about half a minute: Whisper decodes each utterance in
    about a second on one core."""
    pytest.importorskip("faster_whisper", reason="Whisper is installed by `make install` (the whisper extra)")
    from engine.speech.synthetic_callers import VARIANTS

    measured, floor, ceiling = WHISPER_LANGUAGES[language]
    monkeypatch.chdir(REPO)
    corpus = REPO / ".cache" / "speech-corpus" / f"support_{language}_menu_plain"
    synthesize(read_sentences(REPO / "tests" / "speech" / f"support_{language}_menu.tsv"), language, corpus, variants=VARIANTS[:1])
    assert main(["speech", "test", f"support_{language}", "menu", str(corpus)]) == 0
    out = capsys.readouterr().out
    figures = re.fullmatch(r"speech-test accuracy=([0-9.]+) wrong_accept=([0-9.]+) confirm=([0-9.]+) n=(\d+)", out.strip().splitlines()[-1])
    assert figures, out
    accuracy, wrong_accept = float(figures[1]), float(figures[2])
    assert accuracy >= floor, f"accuracy {accuracy} fell below {floor} (measured {measured['accuracy']})\n{out}"
    assert wrong_accept <= ceiling, f"wrong accepts {wrong_accept} rose above {ceiling}\n{out}"
    assert re.search(r"^billing-\S+\.wav\s+accept\s+billing\s", out, re.M), "at least one billing sentence is accepted as billing"
