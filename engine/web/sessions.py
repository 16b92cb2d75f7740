"""Logged-in people: agents, supervisors, QA and admins, by an opaque session token in a cookie.

A session remembers the roles and the password version (a fingerprint of the stored hash) it was
opened with; the web layer ends it as soon as either changes in the agents' files (`threadline
agents passwd`, a role removed and reloaded), and closes the session's open pages. Each person has
at most MAX_SESSIONS_PER_PERSON sessions: a new login ends that person's oldest, never anyone
else's. Pure bookkeeping: no sockets are closed here, the caller is told which tokens ended.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

SESSION_COOKIE = "tl_session"
SESSION_TTL_S = 12 * 3600
"""A shift; the agent logs in again after that."""
MAX_SESSIONS_PER_PERSON = 5
"""Browsers and machines one person may be logged in on at once; a sixth login ends their oldest."""
MAX_SOCKETS_PER_SESSION = 8
"""Open pages (websockets) of one session; a ninth closes that session's oldest page."""
S = TypeVar("S")


@dataclass(frozen=True)
class Principal:
    agent_id: str
    roles: frozenset[str]
    expires_at: float
    password_version: str = ""
    """Fingerprint of the password hash at login: a new password ends the session."""
    opened_at: float = 0.0


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, Principal] = {}

    def open(self, agent_id: str, roles: frozenset[str], password_version: str = "") -> str:
        """A new session's token (a session of this person beyond the cap ends; see open_session)."""
        return self.open_session(agent_id, roles, password_version)[0]

    def open_session(self, agent_id: str, roles: frozenset[str], password_version: str = "") -> tuple[str, list[str]]:
        """A new session; returns its token and the tokens of this person's sessions it ended (over the cap)."""
        now = self._clock()
        self._expire(now)
        theirs = [token for token, p in self._sessions.items() if p.agent_id == agent_id]  # oldest first: dicts keep insertion order
        ended = theirs[: max(0, len(theirs) - MAX_SESSIONS_PER_PERSON + 1)]
        for token in ended:
            del self._sessions[token]
        token = secrets.token_urlsafe(32)
        self._sessions[token] = Principal(agent_id, roles, now + SESSION_TTL_S, password_version, now)
        return token, ended

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

    def sweep(self, still_valid: Callable[[Principal], bool]) -> list[str]:
        """End every expired session and every one `still_valid` refuses; returns their tokens."""
        now = self._clock()
        ended = [token for token, p in self._sessions.items() if p.expires_at < now or not still_valid(p)]
        for token in ended:
            del self._sessions[token]
        return ended

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, token: object) -> bool:
        return token in self._sessions

    def _expire(self, now: float) -> None:
        for token in [t for t, p in self._sessions.items() if p.expires_at < now]:
            del self._sessions[token]


class SessionSockets(Generic[S]):
    """The open pages (websockets) of each session, so a session that ends closes them."""

    def __init__(self) -> None:
        self._open: dict[str, list[S]] = {}

    def attach(self, token: str, socket: S) -> list[S]:
        """Registers a page; returns the session's oldest pages beyond MAX_SOCKETS_PER_SESSION, to close."""
        pages = self._open.setdefault(token, [])
        pages.append(socket)
        excess = pages[: max(0, len(pages) - MAX_SOCKETS_PER_SESSION)]
        del pages[: len(excess)]
        return excess

    def detach(self, token: str, socket: S) -> None:
        pages = self._open.get(token)
        if pages is not None and socket in pages:
            pages.remove(socket)
            if not pages:
                del self._open[token]

    def pop(self, tokens: Iterable[str]) -> list[S]:
        """The pages of sessions that ended, forgotten here; the caller closes them."""
        return [socket for token in tokens for socket in self._open.pop(token, [])]

    def count(self, token: str) -> int:
        return len(self._open.get(token, ()))
