"""Transcribes filed recordings in worker processes and stores each transcript with its review.

The engine hands every filed recording to `Transcriber.submit`; at start it queues the backlog
(recordings without a transcript, from a crash or a stop). `threadline transcribe --pending` runs
the same pool from the command line, with progress, and `--redo` transcribes again (a new model,
new QA phrases). Decoding runs in a ProcessPoolExecutor: it never holds the engine's loop or GIL.
After decoding, the parent reviews the transcript against the call's journey (auto-checks, flags,
sentiment: engine/recording/quality_checks.py) and stores it, full-text searchable.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.config.qa_config import QualityConfig
from engine.journey.events import AgentAnswered, CallbackAnswered, from_stored
from engine.recording.quality_checks import CallFacts, EarlierLeg, continued_legs, earlier_leg_fields, known_fields, review_call
from engine.recording.transcription import Transcript, TranscriptSegment, transcribe_wav
from engine.settings import SpeechSettings, TranscriptSettings
from engine.speech.model_resolution import ModelNotFound, ResolvedModel, resolve_model
from engine.speech.speech_service import find_model
from engine.speech.recognition import SpeechModel, TimedWord
from engine.store.journey_store import JourneyEvent, JourneyStore
from engine.store.qa_store import QaStore, StoredTranscript
from engine.store.recording_store import Recording

log = logging.getLogger(__name__)
BACKLOG_BATCH = 200
ANSWER_SLACK = timedelta(seconds=5)
"""A recording starts just after the answer it records is journaled (bridging takes a moment)."""
MAX_EARLIER_LEGS = 10
"""Earlier legs read back through `continued_from` for one call: a contact's chain is short; a loop or
a runaway chain stops here."""


@dataclass(frozen=True)
class TranscriptionJob:
    """Everything a worker process needs (picklable)."""

    path: str
    language: str
    model_path: str
    model_factory: str | None
    phrases: tuple[str, ...]
    backend: str = "vosk"


_worker_models: dict[tuple[str, str, str | None], SpeechModel] = {}


def transcribe_job(job: TranscriptionJob) -> Transcript:
    """In a worker process: load the language's model once per process, then decode the file."""
    key = (job.language, job.model_path, job.model_factory)
    model = _worker_models.get(key)
    if model is None:
        model = _worker_models[key] = load_transcript_model(job.language, Path(job.model_path), job.model_factory, job.backend)
    return transcribe_wav(Path(job.path), model, job.phrases)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Spawned, not forked: the engine has threads (database, decoders) a fork would copy mid-lock."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def load_transcript_model(language: str, path: Path, factory: str | None, backend: str = "vosk") -> SpeechModel:
    """The language's recogniser as live calls use it (Whisper for Mandarin), or another engine's factory."""
    if factory is None:
        from engine.speech.speech_service import load_speech_model

        return load_speech_model(ResolvedModel(language, path, "transcripts", backend))
    module_name, _, function = factory.partition(":")
    made: SpeechModel = getattr(importlib.import_module(module_name), function)(language, path)
    return made


def _waited_for_agent(events: Sequence[JourneyEvent], answered_by: datetime) -> float:
    """How long the caller waited for the agent who answered (by `answered_by`), from the journey."""
    for event in reversed(events):
        if event.at <= answered_by:
            answered = from_stored(event.kind, event.detail)
            if isinstance(answered, (AgentAnswered, CallbackAnswered)):
                return float(answered.waited_s)
    return 0.0


class Transcriber:
    def __init__(
        self,
        settings: TranscriptSettings,
        speech: SpeechSettings,
        qa: QaStore,
        journeys: JourneyStore,
        folder: Path,
        quality: Callable[[], QualityConfig],
        agent_names: Callable[[], Mapping[str, str]],
    ) -> None:
        self._settings = settings
        self._speech = speech
        self._qa = qa
        self._journeys = journeys
        self._folder = folder
        self._quality = quality
        self._agent_names = agent_names
        self._queue: asyncio.Queue[Recording] = asyncio.Queue()
        self._queued: set[int] = set()
        self._models: dict[str, ResolvedModel | None] = {}

    def submit(self, recording: Recording) -> None:
        if recording.id not in self._queued:
            self._queued.add(recording.id)
            self._queue.put_nowait(recording)

    async def run(self) -> None:
        """The engine's worker loop: the backlog first, then each recording as it is filed."""
        for recording in await self._qa.untranscribed(BACKLOG_BATCH):
            self.submit(recording)
        with worker_pool(self._settings.workers) as pool:
            try:
                async with asyncio.TaskGroup() as workers:  # on cancellation: the workers are cancelled and awaited
                    for n in range(self._settings.workers):
                        workers.create_task(self._work(pool), name=f"transcriber-{n}")
            finally:
                pool.shutdown(wait=False, cancel_futures=True)

    async def _work(self, pool: ProcessPoolExecutor) -> None:
        while True:
            recording = await self._queue.get()
            try:
                await self.transcribe(recording, pool)
            except Exception as exc:  # one bad file must not stop the workers; it stays in the backlog
                log.error("recording %s (%s) not transcribed: %s", recording.id, recording.path, exc, exc_info=exc)
            finally:
                self._queued.discard(recording.id)

    async def transcribe(self, recording: Recording, pool: ProcessPoolExecutor) -> StoredTranscript | None:
        language = recording.language or self._default_language()
        model = await self._model(language)
        if model is None:
            log.warning("recording %s not transcribed: no speech model for language `%s`", recording.id, language)
            return None
        quality = self._quality().for_language(language)
        agent_names = self._agent_names()
        phrases: tuple[str, ...] = ()
        if not self._settings.free_form:
            phrases = tuple(self._quality().phrases(language, sorted(set(agent_names.values()))))
        job = TranscriptionJob(str(self._folder / recording.path), language, str(model.path), self._settings.model_factory, phrases, model.backend)
        transcript: Transcript = await asyncio.get_running_loop().run_in_executor(pool, transcribe_job, job)
        findings: dict[str, Any] = {}
        flags: list[str] = []
        mood = 0.0
        if quality is not None:
            call = await self._journeys.get_call(recording.call_id)
            events = call.events if call is not None else ()
            waited = _waited_for_agent(events, recording.started_at + ANSWER_SLACK)
            earlier = earlier_leg_fields(await self.earlier_legs(recording.call_id, events), recording.started_at)
            facts = CallFacts(transcript.segments, transcript.audio_s, agent_names.get(recording.agent_id, ""), known_fields(events, recording.started_at), waited, recording.pauses,
                              earlier)
            review = review_call(quality, facts)
            findings = {check: asdict(finding) for check, finding in review.findings.items()}
            flags, mood = list(review.flags), review.sentiment
        stored = StoredTranscript(
            recording.id, recording.call_id, language, transcript.engine, datetime.now(UTC), transcript.audio_s, transcript.decode_s,
            transcript.text, [_segment(segment) for segment in transcript.segments], findings, flags, mood,
        )
        await self._qa.save_transcript(stored)
        log.info("recording %s transcribed: %d segments, RTF %.2f, flags %s", recording.id, len(transcript.segments), transcript.real_time_factor, flags or "none")
        return stored

    async def earlier_legs(self, call_id: str, events: Sequence[JourneyEvent]) -> dict[str, EarlierLeg]:
        """The legs this call goes on from (a chat it took over), and theirs, read back by call id."""
        found: dict[str, EarlierLeg] = {}
        todo = continued_legs(events)
        while todo and len(found) < MAX_EARLIER_LEGS:
            leg = todo.pop(0)
            if leg in found or leg == call_id:
                continue
            record = await self._journeys.get_call(leg)
            if record is not None:
                found[leg] = (record.channel, record.events)
                todo += continued_legs(record.events)
        return found

    async def _model(self, language: str) -> ResolvedModel | None:
        if language not in self._models:
            configured = {**self._speech.models, **self._settings.models}
            if self._settings.model_factory is not None and language in self._settings.models:  # another engine's model: its own layout
                self._models[language] = ResolvedModel(language, self._settings.models[language], "transcripts.models")
                return self._models[language]
            try:
                if language in self._settings.models or self._settings.model_factory is not None:  # a factory reads Vosk-style folders
                    self._models[language] = await asyncio.to_thread(resolve_model, language, configured, self._speech.search_dirs)
                else:
                    self._models[language] = await asyncio.to_thread(find_model, self._speech, language)
            except ModelNotFound:
                self._models[language] = None
            except Exception as exc:  # a broken recogniser install: no transcripts in this language, the engine goes on
                log.error("transcripts in %s are off: %s: %s", language, type(exc).__name__, exc)
                self._models[language] = None
        return self._models[language]

    def _default_language(self) -> str:
        languages = list(self._quality().by_language)
        return languages[0] if languages else "en"


def _segment(segment: TranscriptSegment) -> dict[str, Any]:
    return {"speaker": segment.speaker, "start_s": segment.start_s, "end_s": segment.end_s, "text": segment.text,
            "confidence": segment.confidence, "words": [_word(w) for w in segment.words]}


def _word(word: TimedWord) -> list[Any]:
    return [word.word, word.start_s, word.end_s, round(word.confidence, 3)]
