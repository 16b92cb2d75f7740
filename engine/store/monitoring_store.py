"""The monitoring audit in the database: who listened to, whispered to or barged into which call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from engine.store.field_limits import bounded_text
from engine.store.models import MonitoringRow


@dataclass(frozen=True)
class MonitoringStep:
    session_id: str
    seq: int
    at: datetime
    action: str
    """started, mode or ended."""
    supervisor: str
    agent: str
    call_id: str
    mode: str
    reason: str = ""


class MonitoringStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def add(self, steps: Sequence[MonitoringStep]) -> None:
        """One transaction for the batch; if a retry finds some already stored (the earlier commit
        went through but its answer was lost), each is added alone and the duplicates skipped."""
        try:
            await self._add(steps)
        except IntegrityError:
            if len(steps) == 1:
                return  # stored already
            for step in steps:
                try:
                    await self._add([step])
                except IntegrityError:
                    pass

    async def _add(self, steps: Sequence[MonitoringStep]) -> None:
        async with self._sessions() as session, session.begin():
            session.add_all(
                MonitoringRow(
                    session_id=bounded_text(s.session_id, 32), seq=s.seq, at=s.at, action=bounded_text(s.action, 16),
                    supervisor=bounded_text(s.supervisor, 64), agent=bounded_text(s.agent, 64), call_id=bounded_text(s.call_id, 64),
                    mode=bounded_text(s.mode, 16), reason=bounded_text(s.reason, 32),
                )
                for s in steps
            )

    async def since(self, start: datetime, limit: int = 1000) -> list[MonitoringStep]:
        """The newest `limit` steps from `start` on, oldest first (a page wants the latest sessions)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(MonitoringRow).where(MonitoringRow.at >= start).order_by(MonitoringRow.at.desc(), MonitoringRow.id.desc()).limit(limit)
            )
            return [MonitoringStep(r.session_id, r.seq, r.at, r.action, r.supervisor, r.agent, r.call_id, r.mode, r.reason) for r in reversed(list(rows))]
