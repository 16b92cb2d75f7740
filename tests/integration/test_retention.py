"""Retention purge and customer erasure through the real commands, on SQLite and PostgreSQL, with
real files: only what expired is purged (a dry run removes nothing), and an erasure removes one
customer's recordings, transcripts, kept audio and journey personal data while its audit record
and the other customers' calls remain; journeys past calls.keep_personal_days lose their personal fields."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, JourneyStore
from engine.store.qa_store import QaStore, StoredTranscript
from engine.store.recording_store import Recording, RecordingStore
from tests.integration.test_agents import flows_copy, threadline

CUSTOMER = "01011112222"
NOW = datetime.now(UTC)


async def a_call(journeys: JourneyStore, recordings: RecordingStore, qa: QaStore, folder: Path, channel: str, number: str, queue: str, days_ago: int) -> int:
    at = NOW - timedelta(days=days_ago)
    opened = await journeys.open_call(CallerInfo(channel, number, "홍길동", "1588"), at, {"number": number})
    for kind, detail in [("collected", {"node": "ask_account", "into": "account", "value": "123456"}), ("speech_heard", {"text": "요금 문의요", "audio": str(folder.parent / "kept" / f"x-{channel}.wav")}),
                         ("queued", {"queue": queue}), ("agent_answered", {"agent": "minsu", "waited_s": 3}), ("call_ended", {"by": "caller", "agent": "minsu", "talk_s": 30}),
                         ("disposition", {"agent": "minsu", "disposition": "resolved", "notes": "홍길동 고객 카드 재발급"})]:
        await journeys.add_event(opened.call_id, kind, at, detail)
    path = f"{at:%Y/%m/%d}/{channel}--x--minsu.wav"
    kept = folder.parent / "kept" / at.strftime("%Y-%m-%d") / f"{at:%H%M%S%f}-{channel}.wav"
    await asyncio.to_thread(write_files, folder / path, kept)
    recording_id = await recordings.add(Recording(0, channel, path, "wav", 2, 8000, 30.0, 12, "0" * 64, "minsu", queue, at, at, "ok", (), "ko"))
    await qa.save_transcript(StoredTranscript(recording_id, channel, "ko", "vosk", at, 30.0, 5.0, "홍길동 고객 번호 알려 주세요", [], {}, [], 0.0))
    return recording_id


def write_files(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF....WAVE")


async def test_purge_removes_only_what_expired_and_erasure_removes_one_customer(database_url: str, tmp_path: Path) -> None:
    flows = await asyncio.to_thread(flows_copy, tmp_path)
    queues = flows / "queues" / "support.yaml"
    await asyncio.to_thread(lambda: queues.write_text(queues.read_text().replace("  sales:\n", "  sales:\n    retention: {recordings_days: 30}\n", 1)))
    folder = tmp_path / "recordings"
    env = {"THREADLINE_DATABASE__URL": database_url, "THREADLINE_FLOWS__FOLDER": str(flows), "THREADLINE_RECORDING__FOLDER": str(folder),
           "THREADLINE_SPEECH__KEEP_AUDIO_DIR": str(tmp_path / "kept")}
    await upgrade_database(database_url)
    database = create_engine(database_url)
    journeys, recordings, qa = JourneyStore(database), RecordingStore(database), QaStore(database)
    try:
        old_billing = await a_call(journeys, recordings, qa, folder, "c-old", "01099990000", "billing", 400)  # past the 365-day default
        await a_call(journeys, recordings, qa, folder, "c-recent", "01099990000", "billing", 100)
        old_sales = await a_call(journeys, recordings, qa, folder, "c-sales", "01088880000", "sales", 40)  # past sales' 30 days
        await a_call(journeys, recordings, qa, folder, "c-customer", CUSTOMER, "billing", 2)

        dry = await asyncio.to_thread(threadline, "purge", "--dry-run", env=env)
        assert dry.returncode == 0, dry.stderr
        assert "would remove 2 recordings and 0 transcripts" in dry.stdout, dry.stdout
        assert "would blank the personal fields of 1 journeys older than 365 days" in dry.stdout, dry.stdout
        still = await journeys.get_call("c-old")
        assert still is not None and still.caller_number == "01099990000", "a dry run blanks nothing"
        assert await asyncio.to_thread(lambda: len(list(folder.rglob("*.wav")))) == 4, "a dry run removes nothing"
        done = await asyncio.to_thread(threadline, "purge", env=env)
        assert done.returncode == 0 and "removed 2 recordings" in done.stdout, done.stdout + done.stderr
        left = sorted(p.name.split("--")[0] for p in await asyncio.to_thread(lambda: list(folder.rglob("*.wav"))))
        assert left == ["c-customer", "c-recent"]
        statuses = {r.call_id: r.status for r in await recordings.all_recordings()}
        assert statuses == {"c-old": "purged", "c-recent": "ok", "c-sales": "purged", "c-customer": "ok"}, "purged rows stay, marked"
        assert await qa.transcript(old_billing) is not None and await qa.transcript(old_sales) is not None, "transcripts keep their own (longer) retention"
        assert "blanked the personal fields of 1 journeys older than 365 days" in done.stdout, done.stdout
        expired = await journeys.get_call("c-old")  # past calls.keep_personal_days (365): its journey keeps steps and times only
        assert expired is not None and (expired.caller_number, expired.caller_name) == ("erased", "erased")
        expired_details = {e.kind: e.detail for e in expired.events}
        assert expired_details["collected"] == expired_details["disposition"] == expired_details["speech_heard"] == {"erased": True}
        assert expired_details["queued"] == {"queue": "billing"} and expired_details["call_ended"]["talk_s"] == 30
        assert "01099990000" not in json.dumps([e.detail for e in expired.events], ensure_ascii=False)
        recent = await journeys.get_call("c-recent")
        assert recent is not None and recent.caller_number == "01099990000", "a journey inside its retention keeps its personal fields"

        erased = await asyncio.to_thread(threadline, "erase", "--number", CUSTOMER, env=env)
        assert erased.returncode == 0 and "erased 1 calls: 1 recordings, 1 kept utterances" in erased.stdout, erased.stdout + erased.stderr
        assert await recordings.for_call("c-customer") == []
        assert await asyncio.to_thread(lambda: sorted(p.name.split("--")[0] for p in folder.rglob("*.wav"))) == ["c-recent"]
        assert await asyncio.to_thread(lambda: [p.name for p in (tmp_path / "kept").rglob("*c-customer*")]) == []
        call = await journeys.get_call("c-customer")
        assert call is not None and (call.caller_number, call.caller_name) == ("erased", "erased")
        details = {e.kind: e.detail for e in call.events}
        assert details["collected"] == details["speech_heard"] == details["disposition"] == details["arrived"] == {"erased": True}
        assert details["queued"] == {"queue": "billing"} and details["call_ended"]["talk_s"] == 30, "steps and times stay for the KPIs"
        everything = json.dumps([[e.detail for e in call.events]], ensure_ascii=False)
        assert CUSTOMER not in everything and "홍길동" not in everything and "123456" not in everything
        other = await journeys.get_call("c-recent")
        assert other is not None and other.caller_number == "01099990000" and await recordings.for_call("c-recent"), "other customers untouched"

        audit = await recordings.audit_entries()
        erasure = next(a for a in audit if a.action == "erase")
        assert erasure.detail["calls"] == ["c-customer"] and erasure.detail["recordings"] == 1
        assert CUSTOMER not in json.dumps([a.detail for a in audit]) + " ".join(a.target for a in audit), "the audit names no number"
        assert any(a.action == "purge" and a.detail == {"recordings": 2, "transcripts": 0} for a in audit)
        assert any(a.action == "purge" and a.detail == {"journeys": 1, "older_than_days": 365} for a in audit)

        by_account = await asyncio.to_thread(threadline, "erase", "--account", "123456", env=env)
        assert by_account.returncode == 0 and "erased 2 calls" in by_account.stdout, by_account.stdout  # c-recent and c-sales collected it; c-old's was purged
    finally:
        await database.dispose()
