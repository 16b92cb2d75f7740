"""Engine-wide speech: one model per flow language, loaded once and shared; the decode threads; kept audio.

Models load when flows (re)load, in a thread, never during a call. A language with no model is not
an error for the engine: its callers use keys (every menu has them), and the reason is logged and
shown on /status. Decoding runs in a dedicated thread pool; Vosk releases the GIL while decoding.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import wave
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.asterisk.caller_audio import TapRegistry
from engine.settings import SpeechSettings
from engine.speech.model_resolution import ModelNotFound, ResolvedModel, resolve_model
from engine.speech.recognition import SAMPLE_RATE, SpeechModel

if TYPE_CHECKING:
    from engine.speech.whisper_engine import SharedWhisper

log = logging.getLogger(__name__)
T = TypeVar("T")


DEFAULT_RECOGNISERS = {"ko": "vosk", "en": "whisper", "zh": "whisper"}
"""What each language listens with unless speech.recognisers says otherwise, chosen by measurement
(README, speech): Vosk's Korean beat Whisper's; on English, Whisper took the right intent nearly
twice as often as PocketSphinx's grammars, with fewer wrong accepts, for four times the CPU
(PocketSphinx stays a setting for boxes that need the streams); only Whisper knows Mandarin offline."""

_shared_whisper: dict[Path, SharedWhisper] = {}
_whisper_lock = threading.Lock()


def recogniser_for(settings: SpeechSettings, language: str) -> str:
    """speech.recognisers' choice; else Vosk where speech.models names a Vosk folder for the
    language (the operator installed one for it); else the measured default."""
    if language in settings.recognisers:
        return settings.recognisers[language]
    return "vosk" if language in settings.models else DEFAULT_RECOGNISERS.get(language, "vosk")


def load_language_model(settings: SpeechSettings, language: str) -> SpeechModel:
    """The language's recogniser as live calls get it (for the speech test, the simulator and benchmarks)."""
    return load_speech_model(find_model(settings, language), second_opinion_for(settings, language))


def second_opinion_for(settings: SpeechSettings, language: str) -> ResolvedModel | None:
    """Whisper's folder when the language's recogniser is a pair (`vosk+whisper`), else None."""
    if not recogniser_for(settings, language).endswith("+whisper"):
        return None
    return find_whisper(settings, language)


def find_whisper(settings: SpeechSettings, language: str) -> ResolvedModel:
    from engine.speech.whisper_model import WhisperModelMissing, find_whisper_folder

    try:
        folder, how = find_whisper_folder(settings.whisper_model)
    except (WhisperModelMissing, OSError) as exc:
        raise ModelNotFound(f"no Whisper model for `{language}` (speech.recognisers {language} = {recogniser_for(settings, language)}): {exc}") from None
    return ResolvedModel(language, folder, how, "whisper")


def find_model(settings: SpeechSettings, language: str) -> ResolvedModel:
    """The model folder the language's recogniser reads; ModelNotFound names the setting or package to fix.
    For a pair ("vosk+whisper"), the fast one's folder: load_speech_model finds Whisper's itself."""
    backend = recogniser_for(settings, language).split("+")[0]
    if backend == "whisper":
        try:
            return find_whisper(settings, language)
        except ModelNotFound as missing:
            if language not in settings.recognisers:  # only the default chose Whisper: a Vosk model, if any, still serves
                try:
                    return resolve_model(language, settings.models, settings.search_dirs)
                except ModelNotFound:
                    pass
            raise missing from None
    if backend == "pocketsphinx":
        from engine.speech.sphinx_engine import packaged_model_folder

        packaged = packaged_model_folder(language)
        if packaged is None:
            raise ModelNotFound(f"no PocketSphinx model for `{language}` (it ships en-us only); install `pocketsphinx==5.1.1`, or set speech.recognisers {language} to vosk or whisper")
        return ResolvedModel(language, packaged, "package pocketsphinx", "pocketsphinx")
    return resolve_model(language, settings.models, settings.search_dirs)


def load_speech_model(resolved: ResolvedModel, second_opinion: ResolvedModel | None = None, workers: int = 1) -> SpeechModel:
    """Loads the resolved model; Whisper loads once per folder and is shared by every language.
    With `second_opinion` (Whisper), the pair: the fast model decides, Whisper rechecks when it is unsure."""
    if second_opinion is not None:
        from engine.speech.second_opinion import SecondOpinionModel

        return SecondOpinionModel(load_speech_model(resolved, workers=workers), load_speech_model(second_opinion, workers=workers))
    if resolved.backend == "whisper":
        from engine.speech.whisper_engine import SharedWhisper, WhisperSpeechModel

        with _whisper_lock:
            shared = _shared_whisper.get(resolved.path)
            if shared is None:
                shared = _shared_whisper[resolved.path] = SharedWhisper(resolved.path, workers)
        return WhisperSpeechModel(shared, resolved.language)
    if resolved.backend == "pocketsphinx":
        from engine.speech.sphinx_engine import SphinxSpeechModel

        return SphinxSpeechModel(resolved.path, resolved.language)
    from engine.speech.vosk_engine import VoskSpeechModel

    return VoskSpeechModel(resolved.path, resolved.language)


class SpeechService:
    def __init__(self, settings: SpeechSettings, taps: TapRegistry | None = None) -> None:
        self.settings = settings
        self.taps = taps
        self._models: dict[str, SpeechModel] = {}
        self.unavailable: dict[str, str] = {}
        """Languages with no model, and why (for /status and the logs)."""
        self._threads = settings.decode_threads or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="speech-decode")

    async def prepare(self, languages: Iterable[str]) -> None:
        """Load the model of every language not loaded yet, off the loop."""
        if not self.settings.enabled:
            return
        for language in sorted(set(languages) - set(self._models)):
            try:
                resolved = await asyncio.to_thread(find_model, self.settings, language)  # may join Whisper's files (145 MB) once
            except ModelNotFound as exc:
                self.unavailable[language] = str(exc)
                log.warning("speech for %s calls is off, keys still work: %s", language, exc)
                continue
            except Exception as exc:  # a broken recogniser install must not stop the engine; callers still have keys
                self.unavailable[language] = f"{recogniser_for(self.settings, language)}: {exc}"
                log.error("speech for %s calls is off (%s: %s); keys still work", language, type(exc).__name__, exc)
                continue
            started = time.perf_counter()
            try:
                second = await asyncio.to_thread(second_opinion_for, self.settings, language)
                self._models[language] = await self.decode(load_speech_model, resolved, second, self._threads)
            except Exception as exc:  # a broken model folder must not stop the engine; callers still have keys
                self.unavailable[language] = f"{resolved.path}: {exc}"
                log.error("speech model for %s at %s failed to load: %s; keys still work", language, resolved.path, exc)
                continue
            self.unavailable.pop(language, None)
            log.info("speech model for %s loaded from %s (%s) in %.1f s", language, resolved.path, resolved.how, time.perf_counter() - started)

    async def vocabularies(self) -> dict[str, frozenset[str]]:
        """Each loaded model's words (read once per model, off the loop), for validating phrases."""
        found: dict[str, frozenset[str]] = {}
        for language, model in self._models.items():
            words = await self.decode(model.vocabulary)
            if words is not None:
                found[language] = words
        return found

    def model(self, language: str) -> SpeechModel | None:
        return self._models.get(language)

    async def decode(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def keep_utterance(self, channel_id: str, audio: bytes) -> str | None:
        """Write an utterance for tuning, if audio is kept; returns the file name for the journey."""
        folder = self.settings.keep_audio_dir
        if folder is None:
            return None
        now = datetime.now(UTC)
        path = folder / now.strftime("%Y-%m-%d") / f"{now.strftime('%H%M%S%f')}-{channel_id}.wav"
        await self.decode(_write_wav, path, audio)
        return str(path)

    async def purge_kept_audio(self) -> int:
        folder = self.settings.keep_audio_dir
        if folder is None:
            return 0
        return await self.decode(_purge_older_than, folder, time.time() - self.settings.keep_audio_days * 86400)

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.enabled,
            "models": {language: model.description for language, model in self._models.items()},
            "unavailable": dict(self.unavailable),
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _write_wav(path: Path, audio: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(audio)
    partial.rename(path)


def _purge_older_than(folder: Path, cutoff: float) -> int:
    removed = 0
    for path in folder.glob("*/*.wav"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    for day in folder.glob("*"):
        if day.is_dir() and not any(day.iterdir()):
            day.rmdir()
    return removed
