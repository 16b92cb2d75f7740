"""Text prompts as Asterisk-ready audio: rendered once by a TTS engine, then cached by content.

Operators edit text, not audio. A prompt's file name is a hash of the engine, voice, language and
text, so an edited prompt gets a new file and an unchanged one is never rendered twice. Static
prompts are rendered when flows are (re)loaded, never during a call; prompts with {variables} are
rendered per call, in a worker thread. Every file is 8 kHz, mono, 16-bit WAV: Asterisk plays it on
a phone line without transcoding.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SAMPLE_RATE = 8000
RENDER_TIMEOUT_S = 30.0
MAX_TEXT_CHARS = 2000


class PromptRenderFailed(Exception):
    """The TTS engine is missing or failed; the message says what to install or fix."""


class TextToSpeech(Protocol):
    """The small interface another TTS plugs in behind: text in, an 8 kHz mono 16-bit WAV file out."""

    @property
    def name(self) -> str: ...

    def render(self, text: str, language: str, destination: Path) -> None: ...


@dataclass(frozen=True)
class EspeakNg:
    """espeak-ng (Debian package espeak-ng) for Korean, English and Mandarin, resampled by sox."""

    name: str = "espeak-ng"
    words_per_minute: int = 150
    voices: tuple[tuple[str, str], ...] = (("ko", "ko"), ("en", "en-us"), ("zh", "cmn"))

    def render(self, text: str, language: str, destination: Path) -> None:
        voice = dict(self.voices).get(language)
        if voice is None:
            raise PromptRenderFailed(f"espeak-ng has no voice configured for language `{language}` (known: {', '.join(dict(self.voices))})")
        for tool, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
            if shutil.which(tool) is None:
                raise PromptRenderFailed(f"{tool} is not installed; run `apt-get install {package}` (text prompts are rendered with it)")
        speak = ["espeak-ng", "-v", voice, "-s", str(self.words_per_minute), "--stdout", text]
        resample = ["sox", "-q", "-t", "wav", "-", "-t", "wav", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(destination)]
        try:
            spoken = subprocess.run(speak, capture_output=True, timeout=RENDER_TIMEOUT_S, check=True).stdout
            subprocess.run(resample, input=spoken, capture_output=True, timeout=RENDER_TIMEOUT_S, check=True)
        except subprocess.CalledProcessError as exc:
            raise PromptRenderFailed(f"{exc.cmd[0]} failed ({exc.returncode}): {exc.stderr.decode(errors='replace')[-300:]}") from None
        except subprocess.TimeoutExpired as exc:
            raise PromptRenderFailed(f"{exc.cmd[0]} did not finish within {RENDER_TIMEOUT_S:.0f} s") from None


@dataclass(frozen=True)
class CacheReport:
    rendered: int
    reused: int


class PromptCache:
    """Rendered prompts in one folder, named by content. Blocking: call it from a worker thread."""

    def __init__(self, folder: Path, tts: TextToSpeech) -> None:
        self.folder = folder
        self.tts = tts

    def path_for(self, text: str, language: str) -> Path:
        key = hashlib.sha256(f"{self.tts.name}\0{language}\0{text}".encode()).hexdigest()[:32]
        return self.folder / f"{language}-{key}.wav"

    def ensure(self, text: str, language: str) -> Path:
        """The prompt's file, rendered now if it is not cached yet. Written atomically: a call never plays half a file."""
        if not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise PromptRenderFailed(f"a text prompt must have 1-{MAX_TEXT_CHARS} characters (got {len(text)})")
        target = self.path_for(text, language)
        if target.is_file() and target.stat().st_size > 44:
            return target
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=self.folder, suffix=".partial")
        os.close(handle)
        try:
            self.tts.render(text, language, Path(partial))
            os.chmod(partial, 0o644)  # Asterisk runs as its own user
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        return target

    def ensure_all(self, prompts: Iterable[tuple[str, str]]) -> CacheReport:
        """Render every (text, language) not cached yet; returns how many were rendered and reused."""
        rendered = reused = 0
        for text, language in dict.fromkeys(prompts):
            if self.path_for(text, language).is_file():
                reused += 1
            else:
                self.ensure(text, language)
                rendered += 1
        return CacheReport(rendered, reused)
