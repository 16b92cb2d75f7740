"""Agents' state changes in the database: what occupancy and agent reports are computed from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from engine.store.field_limits import bounded_text
from engine.store.models import AgentStateRow


@dataclass(frozen=True)
class AgentStateChange:
    agent_id: str
    at: datetime
    status: str
    reason: str = ""
    call_id: str = ""


class AgentStateStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def add(self, changes: Sequence[AgentStateChange]) -> None:
        """One transaction for a batch: the writer drains its queue in batches under load."""
        async with self._sessions() as session, session.begin():
            session.add_all(
                AgentStateRow(
                    agent_id=bounded_text(c.agent_id, 64), at=c.at, status=bounded_text(c.status, 16),
                    reason=bounded_text(c.reason, 80), call_id=bounded_text(c.call_id, 64),
                )
                for c in changes
            )

    async def changes_between(self, start: datetime, end: datetime) -> list[AgentStateChange]:
        """Every change in [start, end), plus each agent's last state before `start` (dated `start`),
        so an interval that began before the window is counted from the window's start."""
        async with self._sessions() as session:
            latest = (
                select(AgentStateRow.agent_id, func.max(AgentStateRow.id).label("last_id"))
                .where(AgentStateRow.at < start)
                .group_by(AgentStateRow.agent_id)
                .subquery()
            )
            before = await session.scalars(select(AgentStateRow).join(latest, AgentStateRow.id == latest.c.last_id))
            inside = await session.scalars(
                select(AgentStateRow).where(AgentStateRow.at >= start, AgentStateRow.at < end).order_by(AgentStateRow.at, AgentStateRow.id)
            )
            carried = [AgentStateChange(row.agent_id, start, row.status, row.reason, row.call_id) for row in before]
            return carried + [AgentStateChange(row.agent_id, row.at, row.status, row.reason, row.call_id) for row in inside]
