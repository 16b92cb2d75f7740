"""Reconciling recordings with their folders, on SQLite and PostgreSQL: what a crash leaves behind
(a raw file Asterisk finished, a kept file without a row, a row whose file was deleted) is put right
at the next start, and nothing is lost."""

from __future__ import annotations

import asyncio
import json
import os
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from engine.asterisk.ari_client import AriClient
from engine.recording.call_recorder import CallRecorder
from engine.recording.recording_files import sha256_of
from engine.store.database import create_engine, upgrade_database
from engine.store.qa_store import CallFilter, QaStore, Score, StoredTranscript
from engine.store.recording_store import Recording, RecordingStore


class _NoAsterisk:
    """The sweep never talks to Asterisk; any use of it here is a bug."""

    async def action(self, fields: dict[str, str], timeout_s: float = 5.0) -> dict[str, str]:
        raise AssertionError(f"the sweep sent {fields}")


def _prepare(spool: Path, folder: Path) -> None:
    spool.mkdir(parents=True)
    raw = spool / "1700000000.42--20261124T101500000000--minsu.raw"
    raw.write_bytes(b"\x10\x00\x20\x00" * 8000 * 3 + b"\x01")  # 3 s of stereo, and half a frame cut by a crash
    (spool / f"{raw.stem}.json").write_text(json.dumps({"call_id": "1700000000.42", "agent_id": "minsu", "queue": "billing",
                                                       "started_at": "2026-11-24T10:15:00+00:00", "pauses": [[1.0, 1.5]]}))
    old = time.time() - 120
    os.utime(raw, (old, old))
    kept = folder / "2026/11/20/1699999999.7--20261120T090000000000--alex.wav"
    kept.parent.mkdir(parents=True)
    with wave.open(str(kept), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 2 * 8000)


async def test_a_crash_leaves_nothing_unfiled_and_nothing_unmarked(database_url: str, tmp_path: Path) -> None:
    await upgrade_database(database_url)
    database = create_engine(database_url)
    spool, folder = tmp_path / "spool", tmp_path / "recordings"
    await asyncio.to_thread(_prepare, spool, folder)
    store = RecordingStore(database)
    gone = Recording(0, "1699999998.1", "2026/11/19/gone.wav", "wav", 2, 8000, 5.0, 80044, "0" * 64, "jiyeon", "general",
                     datetime(2026, 11, 19, 9, tzinfo=UTC), None, "ok", ())
    await store.add(gone)
    recorder = CallRecorder(_NoAsterisk(), cast(AriClient, None), store, folder, spool, "/srv/spool")
    try:
        done = await recorder.sweep(at_start=True)
        assert done == {"filed": 1, "rows_added": 1, "marked_missing": 1}

        (filed,) = await store.for_call("1700000000.42")
        assert (filed.status, filed.agent_id, filed.queue, filed.channels, filed.duration_s) == ("recovered", "minsu", "billing", 2, 3.0)
        assert filed.pauses == ((1.0, 1.5),)
        assert filed.started_at == datetime(2026, 11, 24, 10, 15, tzinfo=UTC), "timestamps come back aware, in UTC, on every database"
        assert filed.sha256 == await asyncio.to_thread(sha256_of, folder / filed.path)
        assert await asyncio.to_thread(lambda: sorted(p.name for p in spool.iterdir())) == [], "raw file and sidecar removed"

        (adopted,) = await store.for_call("1699999999.7")
        assert (adopted.status, adopted.duration_s, adopted.agent_id) == ("recovered", 1.0, "alex")
        assert adopted.started_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
        (missing,) = await store.for_call("1699999998.1")
        assert missing.status == "missing"

        again: dict[str, Any] = await recorder.sweep(at_start=True)
        assert again == {"filed": 0, "rows_added": 0, "marked_missing": 0}, "a second start changes nothing"
    finally:
        await database.dispose()


async def test_transcripts_are_searched_by_word_prefix_and_filters(database_url: str) -> None:
    """Full-text search on SQLite FTS5 and PostgreSQL: a word finds its call (요금 also finds 요금이),
    every word must match, filters combine, a re-run replaces the transcript; scores are kept per version."""
    await upgrade_database(database_url)
    database = create_engine(database_url)
    recordings, qa = RecordingStore(database), QaStore(database)
    try:
        at = datetime(2026, 11, 24, 10, tzinfo=UTC)
        ids = []
        for n, (agent, queue) in enumerate([("minsu", "billing"), ("jiyeon", "technical")]):
            ids.append(await recordings.add(Recording(0, f"call-{n}", f"2026/11/24/call-{n}.wav", "wav", 2, 8000, 30.0, 480044, "a" * 64, agent, queue,
                                                      at + timedelta(minutes=n), None, "ok", (), "ko")))
        texts = ["안녕하세요 상담원 김민수 입니다 요금이 너무 많이 나왔어요", "인터넷 이 안 돼요 환불 해 주세요"]
        for recording_id, words, flags in zip(ids, texts, (["repeated_question"], ["keyword:환불"])):
            await qa.save_transcript(StoredTranscript(recording_id, "", "ko", "vosk", at, 30.0, 6.0, words, [{"speaker": "agent", "text": words}], {}, flags, 0.0))
        assert len(await qa.untranscribed()) == 0

        async def found(**wanted: Any) -> list[str]:
            return [r.call_id for r, _ in await qa.search(CallFilter(**wanted))]

        assert await found(words="요금") == ["call-0"], "a prefix: 요금 finds 요금이"
        assert await found(words="김민수 요금") == ["call-0"]
        assert await found(words="김민수 환불") == [], "every word must match"
        assert await found(words="환불") == ["call-1"]
        assert await found() == ["call-1", "call-0"], "newest first"
        assert await found(agent="minsu") == ["call-0"]
        assert await found(queue="technical", words="인터넷") == ["call-1"]
        assert await found(flag="keyword") == ["call-1"] and await found(flag="repeated_question") == ["call-0"]
        assert await found(since=at + timedelta(seconds=30)) == ["call-1"]
        assert await found(words="\"'; DROP TABLE transcripts; --") == [], "quotes and operators are words, never syntax"

        await qa.save_transcript(StoredTranscript(ids[0], "", "ko", "vosk", at, 30.0, 6.0, "다른 내용", [], {}, [], 0.0))
        assert await found(words="요금") == [] and await found(words="다른") == ["call-0"], "a re-run replaces the searchable text"

        await qa.add_score(Score(0, "call-0", ids[0], "minsu", "standard", "51c1ae5ed4f9", "sora", at, {"greeting": "yes"}, 80.0))
        (score,) = await qa.scores(agent_id="minsu")
        assert (score.reviewer, score.version, score.total, score.at) == ("sora", "51c1ae5ed4f9", 80.0, at)
        assert await qa.scores(agent_id="jiyeon") == []
    finally:
        await database.dispose()
