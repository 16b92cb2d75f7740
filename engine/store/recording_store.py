"""Recording rows and the audit log of access to recorded data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from engine.store.field_limits import bounded_detail, bounded_text
from engine.store.models import AuditRow, RecordingRow, TranscriptRow


@dataclass(frozen=True)
class Recording:
    id: int
    call_id: str
    path: str
    format: str
    channels: int
    sample_rate: int
    duration_s: float
    size_bytes: int
    sha256: str
    agent_id: str
    queue: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    pauses: tuple[tuple[float, float], ...]
    language: str = ""


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class RecordingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def add(self, recording: Recording) -> int:
        async with self._sessions() as session, session.begin():
            row = RecordingRow(
                call_id=bounded_text(recording.call_id, 64), path=recording.path, format=recording.format,
                channels=recording.channels, sample_rate=recording.sample_rate, duration_s=recording.duration_s,
                size_bytes=recording.size_bytes, sha256=recording.sha256, agent_id=bounded_text(recording.agent_id, 64),
                queue=bounded_text(recording.queue, 64), started_at=recording.started_at, ended_at=recording.ended_at,
                status=recording.status, pauses=[list(p) for p in recording.pauses], language=recording.language,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def get(self, recording_id: int) -> Recording | None:
        async with self._sessions() as session:
            row = await session.get(RecordingRow, recording_id)
            return recording_from_row(row) if row is not None else None

    async def for_call(self, call_id: str) -> list[Recording]:
        async with self._sessions() as session:
            rows = await session.scalars(select(RecordingRow).where(RecordingRow.call_id == call_id).order_by(RecordingRow.id))
            return [recording_from_row(row) for row in rows]

    async def all_recordings(self) -> list[Recording]:
        async with self._sessions() as session:
            return [recording_from_row(row) for row in await session.scalars(select(RecordingRow).order_by(RecordingRow.id))]

    async def statuses_by_path(self) -> dict[str, tuple[int, str]]:
        """Every recording's path -> (id, status): what reconciling with the folder compares."""
        async with self._sessions() as session:
            rows = await session.execute(select(RecordingRow.path, RecordingRow.id, RecordingRow.status))
            return {path: (row_id, status) for path, row_id, status in rows.all()}

    async def set_status(self, recording_ids: list[int], status: str) -> None:
        if not recording_ids:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(update(RecordingRow).where(RecordingRow.id.in_(recording_ids)).values(status=status))

    async def transcript_dates(self) -> dict[int, tuple[str, datetime]]:
        """Recording id -> (queue, when its transcript was made), for transcripts that exist."""
        async with self._sessions() as session:
            rows = await session.execute(select(TranscriptRow.recording_id, RecordingRow.queue, RecordingRow.started_at).join(RecordingRow, RecordingRow.id == TranscriptRow.recording_id))
            return {recording_id: (queue, started) for recording_id, queue, started in rows.all()}

    async def delete_transcripts(self, recording_ids: list[int]) -> None:
        if recording_ids:
            async with self._sessions() as session, session.begin():
                await session.execute(delete(TranscriptRow).where(TranscriptRow.recording_id.in_(recording_ids)))

    async def delete_recordings(self, recording_ids: list[int]) -> None:
        """Rows and their transcripts (erasure: nothing of the call's audio or words is kept)."""
        if recording_ids:
            async with self._sessions() as session, session.begin():
                await session.execute(delete(TranscriptRow).where(TranscriptRow.recording_id.in_(recording_ids)))
                await session.execute(delete(RecordingRow).where(RecordingRow.id.in_(recording_ids)))

    async def audit(self, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        async with self._sessions() as session, session.begin():
            session.add(AuditRow(at=at, actor=bounded_text(actor, 64), action=action, target=bounded_text(target, 255), detail=bounded_detail(detail or {})))

    async def audit_entries(self, since: datetime | None = None, limit: int = 500) -> list[AuditEntry]:
        async with self._sessions() as session:
            query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if since is not None:
                query = query.where(AuditRow.at >= since)
            rows = await session.scalars(query)
            return [AuditEntry(r.at, r.actor, r.action, r.target, dict(r.detail)) for r in rows]


def recording_from_row(row: RecordingRow) -> Recording:
    return Recording(
        row.id, row.call_id, row.path, row.format, row.channels, row.sample_rate, row.duration_s, row.size_bytes, row.sha256,
        row.agent_id, row.queue, row.started_at, row.ended_at, row.status, tuple((float(a), float(b)) for a, b in row.pauses), row.language,
    )
