"""Logged-in people: agents, supervisors, QA and admins, by an opaque session token in a cookie."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "tl_session"
SESSION_TTL_S = 12 * 3600
"""A shift; the agent logs in again after that."""
MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class Principal:
    agent_id: str
    roles: frozenset[str]
    expires_at: float


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, Principal] = {}

    def open(self, agent_id: str, roles: frozenset[str]) -> str:
        self._expire()
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions, key=lambda token: self._sessions[token].expires_at)
            del self._sessions[oldest]
        token = secrets.token_urlsafe(32)
        self._sessions[token] = Principal(agent_id, roles, self._clock() + SESSION_TTL_S)
        return token

    def get(self, token: str | None) -> Principal | None:
        if not token:
            return None
        principal = self._sessions.get(token)
        if principal is None or principal.expires_at < self._clock():
            self._sessions.pop(token, None)
            return None
        return principal

    def close(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    def _expire(self) -> None:
        now = self._clock()
        for token in [t for t, p in self._sessions.items() if p.expires_at < now]:
            del self._sessions[token]
