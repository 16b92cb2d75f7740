"""Transcripts, the call search QA staff use, and scorecard scores.

Transcript words are searched with SQLite FTS5 (prefix queries, so 요금 finds 요금이) or with
PostgreSQL's full-text search over to_tsvector('simple', text) (no stemming: it suits Korean and
Chinese as well as English, at the price of exact word forms; prefix queries again).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from engine.store.models import QaScoreRow, RecordingRow, TranscriptRow
from engine.store.recording_store import Recording, recording_from_row

SEARCH_LIMIT = 200
IDS_PER_QUERY = 500
"""Call ids per IN (...) query: well under SQLite's and PostgreSQL's bound-parameter limits."""
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class StoredTranscript:
    recording_id: int
    call_id: str
    language: str
    engine: str
    created_at: datetime
    audio_s: float
    decode_s: float
    text: str
    segments: list[dict[str, Any]]
    findings: dict[str, Any]
    flags: list[str]
    sentiment: float


@dataclass(frozen=True)
class CallFilter:
    since: datetime | None = None
    until: datetime | None = None
    queue: str = ""
    agent: str = ""
    words: str = ""
    flag: str = ""


@dataclass(frozen=True)
class Score:
    id: int
    call_id: str
    recording_id: int | None
    agent_id: str
    scorecard: str
    version: str
    reviewer: str
    at: datetime
    answers: dict[str, Any]
    total: float


class QaStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def untranscribed(self, limit: int = 1000) -> list[Recording]:
        """Recordings with a file and no transcript yet, oldest first: the workers' backlog."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(RecordingRow)
                .outerjoin(TranscriptRow, TranscriptRow.recording_id == RecordingRow.id)
                .where(TranscriptRow.id.is_(None), RecordingRow.status.in_(["ok", "recovered"]))
                .order_by(RecordingRow.id)
                .limit(limit)
            )
            return [recording_from_row(row) for row in rows]

    async def save_transcript(self, transcript: StoredTranscript) -> None:
        """Insert, or replace the recording's earlier transcript (a re-run)."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(TranscriptRow).where(TranscriptRow.recording_id == transcript.recording_id))
            if row is None:
                row = TranscriptRow(recording_id=transcript.recording_id)
                session.add(row)
            row.call_id, row.language, row.engine, row.created_at = transcript.call_id, transcript.language, transcript.engine[:200], transcript.created_at
            row.audio_s, row.decode_s, row.text, row.segments = transcript.audio_s, transcript.decode_s, transcript.text, transcript.segments
            row.findings, row.flags, row.sentiment = transcript.findings, transcript.flags, transcript.sentiment

    async def transcript(self, recording_id: int) -> StoredTranscript | None:
        async with self._sessions() as session:
            row = await session.scalar(select(TranscriptRow).where(TranscriptRow.recording_id == recording_id))
            return _transcript(row) if row is not None else None

    async def search(self, wanted: CallFilter) -> list[tuple[Recording, StoredTranscript | None]]:
        """Recordings matching every given filter, newest first, with their transcripts."""
        conditions: list[ColumnElement[bool]] = []
        if wanted.since is not None:
            conditions.append(RecordingRow.started_at >= wanted.since)
        if wanted.until is not None:
            conditions.append(RecordingRow.started_at < wanted.until)
        if wanted.queue:
            conditions.append(RecordingRow.queue == wanted.queue)
        if wanted.agent:
            conditions.append(RecordingRow.agent_id == wanted.agent)
        words = WORD.findall(wanted.words)
        if words:
            conditions.append(TranscriptRow.id.in_(self._matching(words)))
        query = (
            select(RecordingRow, TranscriptRow)
            .outerjoin(TranscriptRow, TranscriptRow.recording_id == RecordingRow.id)
            .where(and_(*conditions) if conditions else text("1=1"))
            .order_by(RecordingRow.started_at.desc())
            .limit(SEARCH_LIMIT)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        found: list[tuple[Recording, StoredTranscript | None]] = [
            (recording_from_row(recording), _transcript(transcript) if transcript is not None else None) for recording, transcript in rows
        ]
        if wanted.flag:
            found = [(r, t) for r, t in found if t is not None and any(f == wanted.flag or f.startswith(wanted.flag + ":") for f in t.flags)]
        return found

    async def repeated_question_results(self, call_ids: Sequence[str]) -> dict[str, bool]:
        """Call id -> whether the repeated-question check found a question asked again on any of its
        transcribed recordings; calls without a transcript (or without that check) are absent."""
        found: dict[str, bool] = {}
        async with self._sessions() as session:
            for first in range(0, len(call_ids), IDS_PER_QUERY):
                rows = await session.execute(select(TranscriptRow.call_id, TranscriptRow.findings).where(TranscriptRow.call_id.in_(list(call_ids[first:first + IDS_PER_QUERY]))))
                for call_id, findings in rows.all():
                    check = findings.get("no_repeated_question") if isinstance(findings, dict) else None
                    if isinstance(check, dict) and "passed" in check:
                        found[call_id] = found.get(call_id, False) or not check["passed"]
        return found

    def _matching(self, words: list[str]) -> Any:
        """Transcript ids whose text has every word (as a prefix)."""
        if self._engine.dialect.name == "sqlite":
            query = " AND ".join('"' + word.replace('"', "") + '"*' for word in words)
            return select(literal_column("rowid")).select_from(text("transcripts_fts")).where(text("transcripts_fts MATCH :query").bindparams(query=query))
        tsquery = " & ".join(word.replace("'", "") + ":*" for word in words)
        return select(TranscriptRow.id).where(func.to_tsvector(literal_column("'simple'"), TranscriptRow.text).op("@@")(func.to_tsquery(literal_column("'simple'"), tsquery)))

    async def add_score(self, score: Score) -> int:
        async with self._sessions() as session, session.begin():
            row = QaScoreRow(call_id=score.call_id, recording_id=score.recording_id, agent_id=score.agent_id, scorecard=score.scorecard, version=score.version,
                             reviewer=score.reviewer, at=score.at, answers=score.answers, total=score.total)
            session.add(row)
            await session.flush()
            return row.id

    async def scores(self, call_id: str = "", agent_id: str = "", limit: int = 500) -> list[Score]:
        query = select(QaScoreRow).order_by(QaScoreRow.id.desc()).limit(limit)
        if call_id:
            query = query.where(QaScoreRow.call_id == call_id)
        if agent_id:
            query = query.where(QaScoreRow.agent_id == agent_id)
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [Score(r.id, r.call_id, r.recording_id, r.agent_id, r.scorecard, r.version, r.reviewer, r.at, dict(r.answers), r.total) for r in rows]


def _transcript(row: TranscriptRow) -> StoredTranscript:
    return StoredTranscript(row.recording_id, row.call_id, row.language, row.engine, row.created_at, row.audio_s, row.decode_s, row.text,
                            list(row.segments), dict(row.findings), list(row.flags), row.sentiment)
