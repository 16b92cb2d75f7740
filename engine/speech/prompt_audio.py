"""Text prompts as Asterisk-ready audio: rendered once by a TTS engine, then cached by content.

Operators edit text, not audio. A prompt's file name is a hash of the engine, voice, language and
text, so an edited prompt gets a new file and an unchanged one is never rendered twice. Static
prompts are rendered when flows are (re)loaded, never during a call; prompts with {variables} are
rendered per call, in a worker thread. Every file is 8 kHz, mono, 16-bit WAV: Asterisk plays it on
a phone line without transcoding.

A per-call prompt can speak a caller's number, name or balance: it is never shared or cached. It
goes to a file named for its call (`call-<call hash>-...`), removed when the call ends
(`remove_call_prompts`), and any left by a crash are removed at the next start.

Asterisk runs as its own user: files are 0640 and the folder 0750 (setgid), in the group of the
folder the prompt folder sits in (the Asterisk instance's), so Asterisk reads them and nobody else
does. Where the engine may not give files that group, they stay readable by all, with a warning:
a caller must never hear silence.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)
SAMPLE_RATE = 8000
FILE_MODE = 0o640
FOLDER_MODE = 0o2750
"""rwxr-s---: the folder's group passes on to every file made in it."""
OPEN_FILE_MODE = 0o644
CALL_PREFIX = "call-"
RENDER_TIMEOUT_S = 30.0
MAX_TEXT_CHARS = 2000
PINYIN_VOICE = "cmn-latn-pinyin"
MANDARIN_READING = "pypinyin-tone3-sandhi-1"
"""Bump when mandarin_reading reads text differently: cached Mandarin prompts are then rendered again."""


class PromptRenderFailed(Exception):
    """The TTS engine is missing or failed; the message says what to install or fix."""


class TextToSpeech(Protocol):
    """The small interface another TTS plugs in behind: text in, an 8 kHz mono 16-bit WAV file out."""

    @property
    def name(self) -> str: ...

    def voice_for(self, language: str) -> str:
        """What speaks the language, reading rules included: part of the cache key, so a new voice re-renders."""
        ...

    def render(self, text: str, language: str, destination: Path) -> None: ...


@dataclass(frozen=True)
class EspeakNg:
    """espeak-ng (Debian package espeak-ng) for Korean, English and Mandarin, resampled by sox.

    Mandarin goes to the `cmn-latn-pinyin` voice as tone-numbered pinyin (mandarin_reading): the
    plain `cmn` voice reads pinyin letters as English, which no caller understands.
    """

    name: str = "espeak-ng"
    words_per_minute: int = 150
    voices: tuple[tuple[str, str], ...] = (("ko", "ko"), ("en", "en-us"), ("zh", "cmn-latn-pinyin"))

    def voice_for(self, language: str) -> str:
        voice = dict(self.voices).get(language)
        if voice is None:
            raise PromptRenderFailed(f"espeak-ng has no voice configured for language `{language}` (known: {', '.join(dict(self.voices))})")
        return f"{voice} {MANDARIN_READING}" if voice == PINYIN_VOICE else voice

    def spoken(self, text: str, language: str) -> tuple[str, str]:
        """(espeak-ng voice, the text as that voice must be given it)."""
        voice = self.voice_for(language).split()[0]
        if voice == PINYIN_VOICE:
            from engine.speech.mandarin_reading import pinyin_reading  # pypinyin loads its dictionaries on import

            return voice, pinyin_reading(text)
        return voice, text

    def render(self, text: str, language: str, destination: Path) -> None:
        voice, spoken = self.spoken(text, language)
        for tool, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
            if shutil.which(tool) is None:
                raise PromptRenderFailed(f"{tool} is not installed; run `apt-get install {package}` (text prompts are rendered with it)")
        if not spoken.strip():
            raise PromptRenderFailed(f"nothing to say in {text!r}: it has no words the {voice} voice can read")
        speak = ["espeak-ng", "-v", voice, "-s", str(self.words_per_minute), "--stdout", spoken]
        resample = ["sox", "-q", "-t", "wav", "-", "-t", "wav", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(destination)]
        try:
            spoken_audio = subprocess.run(speak, capture_output=True, timeout=RENDER_TIMEOUT_S, check=True).stdout
            subprocess.run(resample, input=spoken_audio, capture_output=True, timeout=RENDER_TIMEOUT_S, check=True)
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
        self._group: int | None = None
        self._shared = True
        """False once Asterisk's group cannot be given: files are then readable by all (and a warning says so)."""
        self._warned = False

    def path_for(self, text: str, language: str) -> Path:
        key = hashlib.sha256(f"{self.tts.name}\0{self.tts.voice_for(language)}\0{language}\0{text}".encode()).hexdigest()[:32]
        return self.folder / f"{language}-{key}.wav"

    def path_for_call(self, text: str, language: str, call_id: str) -> Path:
        """A per-call prompt's file: named for its call, so no other call ever plays or reuses it."""
        return self.folder / f"{CALL_PREFIX}{_call_key(call_id)}-{self.path_for(text, language).name}"

    def ensure(self, text: str, language: str) -> Path:
        """The prompt's file, rendered now if it is not cached yet. Written atomically: a call never plays half a file."""
        return self._ensure_at(text, language, self.path_for(text, language))

    def ensure_for_call(self, text: str, language: str, call_id: str) -> Path:
        """A prompt with this call's data in it: rendered for the call alone, removed with remove_call_prompts."""
        return self._ensure_at(text, language, self.path_for_call(text, language, call_id))

    def remove_call_prompts(self, call_id: str) -> int:
        """Delete the call's own prompts (the call ended); returns how many. A file Asterisk is still
        playing plays on: it was opened before it was unlinked."""
        removed = 0
        for path in self.folder.glob(f"{CALL_PREFIX}{_call_key(call_id)}-*.wav"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def remove_stale_call_prompts(self, older_than_s: float) -> int:
        """Per-call prompts an engine left behind (it crashed before the call ended)."""
        if not self.folder.is_dir():
            return 0
        return _remove_older_than(self.folder.glob(f"{CALL_PREFIX}*.wav"), time.time() - older_than_s)

    def remove_unlisted(self, keep: Iterable[tuple[str, str]], older_than_s: float) -> int:
        """Delete cached renders that are none of `keep` (text, language) and older than `older_than_s`:
        per-caller prompts an older version cached, or prompts no flow says any more. Run at engine
        start, when no call of this engine can be playing them."""
        if not self.folder.is_dir():
            return 0
        kept = {self.path_for(text, language).name for text, language in keep}
        unlisted = (path for path in self.folder.glob("*.wav") if path.name not in kept and _RENDERED.fullmatch(path.name))
        return _remove_older_than(unlisted, time.time() - older_than_s)

    def _ensure_at(self, text: str, language: str, target: Path) -> Path:
        if not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise PromptRenderFailed(f"a text prompt must have 1-{MAX_TEXT_CHARS} characters (got {len(text)})")
        if target.is_file() and target.stat().st_size > 44:
            return target
        self._ensure_folder()
        handle, partial = tempfile.mkstemp(dir=self.folder, suffix=".partial")
        os.close(handle)
        try:
            self.tts.render(text, language, Path(partial))
            self._share_with_asterisk(Path(partial))
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        return target

    def ensure_all(self, prompts: Iterable[tuple[str, str]]) -> CacheReport:
        """Render every (text, language) not cached yet; returns how many were rendered and reused."""
        rendered = reused = 0
        for text, language in dict.fromkeys(prompts):
            path = self.path_for(text, language)
            if path.is_file():
                self._ensure_folder()
                self._share_with_asterisk(path)  # rendered by an older version, perhaps 0644
                reused += 1
            else:
                self.ensure(text, language)
                rendered += 1
        return CacheReport(rendered, reused)

    def share_file(self, path: Path) -> None:
        """Give a file copied into the folder (a recorded prompt) the folder's group and mode."""
        self._ensure_folder()
        self._share_with_asterisk(path)

    def _ensure_folder(self) -> None:
        """The folder, 0750 setgid in the group of its parent (where Asterisk's instance lives)."""
        if self._group is not None:
            return
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        group = folder.parent.stat().st_gid
        # The root group is never Asterisk's (it drops root): a parent in it tells nothing, so stay open.
        self._shared = group != 0
        try:
            if self._shared:
                if folder.stat().st_gid != group:
                    os.chown(folder, -1, group)
                folder.chmod(FOLDER_MODE)
        except PermissionError:
            self._shared = False  # not ours to change: the files cannot be given Asterisk's group
        self._group = group

    def _share_with_asterisk(self, path: Path) -> None:
        group = self._group if self._group is not None else path.stat().st_gid
        try:
            if not self._shared:
                raise PermissionError(f"no group for Asterisk in {self.folder}")
            found = path.stat()
            if found.st_gid != group:
                os.chown(path, -1, group)
            if found.st_mode & 0o777 != FILE_MODE:
                os.chmod(path, FILE_MODE)
        except PermissionError:
            self._shared = False
            os.chmod(path, OPEN_FILE_MODE)  # Asterisk must still read it; the folder's group cannot be given
            if not self._warned:
                self._warned = True
                log.warning(
                    "prompts in %s are readable by all: the engine cannot give them a group that Asterisk reads with "
                    "(the folder above is in group %d); put the prompt folder in Asterisk's group and the engine's "
                    "user in it", self.folder, group,
                )


_RENDERED = re.compile(r"[A-Za-z_-]{2,16}-[0-9a-f]{32}\.wav")
"""A shared render's name (path_for); recorded prompt copies (file-...) and per-call prompts (call-...) differ."""


def _remove_older_than(paths: Iterable[Path], cutoff: float) -> int:
    """Delete the files last written before `cutoff` (a time.time() value); returns how many went."""
    removed = 0
    for path in paths:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _call_key(call_id: str) -> str:
    return hashlib.sha256(call_id.encode()).hexdigest()[:16]
