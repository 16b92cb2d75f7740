"""Stopping the transcriber (the engine's shutdown cancels `run`): its workers are cancelled and
awaited before `run` ends, so none is left running its cleanup after the engine moved on."""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from engine.config.qa_config import QualityConfig
from engine.recording.transcriber import Transcriber
from engine.settings import SpeechSettings, TranscriptSettings
from engine.store.journey_store import JourneyStore
from engine.store.qa_store import QaStore, StoredTranscript
from engine.store.recording_store import Recording


class NoBacklog:
    async def untranscribed(self, limit: int) -> list[Recording]:
        return []


def a_recording(recording_id: int) -> Recording:
    at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    return Recording(recording_id, f"call-{recording_id}", f"{recording_id}.wav", "wav", 2, 8000, 1.0, 16000, "0" * 64, "minsu", "sales", at, at, "ok", ())


class StuckTranscriber(Transcriber):
    """Each transcription hangs until cancelled; its cleanup takes a moment (it awaits)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(TranscriptSettings(workers=2), SpeechSettings(), cast(QaStore, NoBacklog()), cast(JourneyStore, object()), folder,
                         lambda: cast(QualityConfig, None), lambda: {})
        self.started = 0
        self.cleaned = 0

    async def transcribe(self, recording: Recording, pool: ProcessPoolExecutor) -> StoredTranscript | None:
        self.started += 1
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)
            self.cleaned += 1
        return None


async def test_cancelling_run_awaits_the_workers(tmp_path: Path) -> None:
    transcriber = StuckTranscriber(tmp_path)
    transcriber.submit(a_recording(1))
    transcriber.submit(a_recording(2))
    running = asyncio.create_task(transcriber.run())
    while transcriber.started < 2:
        await asyncio.sleep(0.01)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert transcriber.cleaned == 2
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("transcriber-")]
