"""Synthetic callers for tuning and tests: espeak-ng sentences made to sound like a phone line.

Each sentence is spoken in several voices and speeds, some with line noise, then squeezed through
an 8 kHz mu-law round trip as on a real trunk, with silence before and after. This is no substitute
for recordings of real callers (`threadline speech test` takes those too), but it lets an operator
check a grammar before the first call, and lets the tests hold accuracy to a measured floor.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.speech.prompt_audio import EspeakNg

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Variant:
    name: str
    voice_suffix: str
    """An espeak-ng voice variant (+f2, +m3), or empty."""
    words_per_minute: int
    noise_db: float | None
    """Pink noise level in dBFS mixed under the voice, or None for a clean line."""


VARIANTS: tuple[Variant, ...] = (
    Variant("plain", "", 150, None),
    Variant("fast-f2", "+f2", 185, None),
    Variant("slow-m3-noise", "+m3", 125, -38.0),
)


@dataclass(frozen=True)
class Sentence:
    intent: str
    text: str


def read_sentences(path: Path) -> list[Sentence]:
    """Lines of `intent<TAB>sentence`; # starts a comment."""
    sentences = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        intent, tab, text = line.partition("\t")
        if not tab or not intent.strip() or not text.strip():
            raise ValueError(f"{path}:{number}: expected `intent<TAB>sentence`")
        sentences.append(Sentence(intent.strip(), text.strip()))
    return sentences


def synthesize(sentences: Iterable[Sentence], language: str, out_dir: Path, variants: Sequence[Variant] = VARIANTS) -> Path:
    """Write one WAV per sentence and variant, and `expected.tsv` naming each file's intent; returns that file.

    Files already present (same text, voice and variant: the name is a hash of them) are kept.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tts = EspeakNg()
    rows = []
    for index, sentence in enumerate(sentences):
        voice, spoken = tts.spoken(sentence.text, language)  # Mandarin as pinyin, as prompts are
        for variant in variants:
            # What is spoken names the file: a new reading (Mandarin's pinyin) never reuses an old render.
            digest = hashlib.sha256(f"{language}|{spoken}|{variant}".encode()).hexdigest()[:10]
            name = f"{sentence.intent}-{index:03d}-{variant.name}-{digest}.wav"
            if not (out_dir / name).is_file():
                _speak(spoken, voice + variant.voice_suffix, variant, out_dir / name)
            rows.append((name, sentence.intent))
    expected = out_dir / "expected.tsv"
    with expected.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter="\t", lineterminator="\n").writerows(rows)
    return expected


def _speak(text: str, voice: str, variant: Variant, destination: Path) -> None:
    spoken = subprocess.run(["espeak-ng", "-v", voice, "-s", str(variant.words_per_minute), "--stdout", text], capture_output=True, timeout=TIMEOUT_S, check=True).stdout
    clean = destination.with_suffix(".clean.wav")
    subprocess.run(["sox", "-q", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", str(clean), "pad", "0.5", "1.0"], input=spoken, capture_output=True, timeout=TIMEOUT_S, check=True)
    line = clean
    if variant.noise_db is not None:
        noisy = destination.with_suffix(".noisy.wav")
        gain = 10 ** (variant.noise_db / 20)
        subprocess.run(
            ["sox", "-q", "-m", str(clean), "-t", "wav", "-r", "8000", "-c", "1", "-b", "16", "|sox -q -n -r 8000 -c 1 -b 16 -t wav - synth 30 pinknoise vol %.4f" % gain, str(noisy), "trim", "0", _duration(clean)],
            capture_output=True, timeout=TIMEOUT_S, check=True,
        )
        line = noisy
    subprocess.run(["sox", "-q", str(line), "-r", "8000", "-c", "1", "-e", "mu-law", str(destination)], capture_output=True, timeout=TIMEOUT_S, check=True)
    for scratch in (destination.with_suffix(".clean.wav"), destination.with_suffix(".noisy.wav")):
        scratch.unlink(missing_ok=True)


def _duration(path: Path) -> str:
    return subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, timeout=TIMEOUT_S, check=True).stdout.strip()
