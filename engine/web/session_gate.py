"""Logins and live sessions for the web layer: a session is only as good as the agent record it was
opened against.

Every request and every websocket message asks `current(token)`: the session must exist, be within
its 12 h, and its roles and password version must still be the agent's now (a role removed and
reloaded, or `threadline agents passwd`, ends it at once). A sweep every SWEEP_S also ends idle
sessions that went stale and closes their pages, so an open page never outlives its session.
Logins: limited per id and per client address before any hashing, at most `hash_concurrency`
hashes at a time, off the loop, and the same work for an unknown id as for a known one.
The sweeps and the closing of pages are tasks of one TaskOwner: `close` cancels and awaits them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from engine.task_owner import TaskOwner
from engine.web.login_limiter import LoginLimiter
from engine.web.sessions import Principal, Sessions, SessionSockets

log = logging.getLogger(__name__)
SESSION_ENDED = 4401
"""Websocket close code: the session ended (logout, expiry, changed roles or password); the page goes to /login."""
CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class LoginOutcome:
    status: int
    """200 logged in, 401 wrong id or password, 429 too many failures, 503 too busy hashing."""
    token: str = ""
    roles: frozenset[str] = frozenset()


class SessionGate:
    def __init__(
        self, sessions: Sessions, roles_of: Callable[[str], frozenset[str] | None], check_password: Callable[[str, str], bool],
        password_versions: Callable[[], Mapping[str, str] | None] | None = None, hash_concurrency: int = 2, hash_wait_s: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.sockets: SessionSockets[web.WebSocketResponse] = SessionSockets()
        self._roles_of = roles_of
        self._check_password = check_password
        self._password_versions = password_versions
        self._versions: Mapping[str, str] | None = None
        self._limiter = LoginLimiter()
        self._hashing = asyncio.Semaphore(hash_concurrency)
        self._hash_wait_s = hash_wait_s
        self._background = TaskOwner("session-gate")

    # -- sessions -------------------------------------------------------------------------------

    def current(self, token: str | None) -> Principal | None:
        """The session's person, if the session still holds; otherwise it is ended (pages closed)."""
        principal = self.sessions.get(token)
        if principal is None:
            if token and self.sockets.count(token):
                self.end([token], "your session expired; log in again")
            return None
        if not self._still_valid(principal):
            assert token is not None
            log.info("session of %s ended: roles or password changed", principal.agent_id)
            self.end([token], "your roles or password changed; log in again")
            return None
        return principal

    def end(self, tokens: Iterable[str], reason: str) -> None:
        tokens = list(tokens)
        for token in tokens:
            self.sessions.close(token)
        for socket in self.sockets.pop(tokens):
            self._close_later(socket, SESSION_ENDED, reason)

    def attach(self, token: str, socket: web.WebSocketResponse) -> bool:
        """Registers an open page; False if its session ended since the request was let in (during the
        handshake): the caller closes the page with SESSION_ENDED. No await between the check and the
        registration, so a session cannot end in between and leave the page unseen by the sweeps."""
        if self.current(token) is None:
            return False
        for oldest in self.sockets.attach(token, socket):
            self._close_later(oldest, 1008, "too many open pages for this session")
        return True

    def detach(self, token: str, socket: web.WebSocketResponse) -> None:
        self.sockets.detach(token, socket)

    def start_sweeps(self, interval_s: float) -> None:
        """Sweeps every `interval_s` until `close`."""
        self._background.spawn("web-session-sweep", self.sweep_forever(interval_s))

    async def sweep_forever(self, interval_s: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a bug must not stop the sweeps: sessions would then outlive their changes
                log.exception("session sweep failed; trying again in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    async def sweep(self) -> None:
        """Re-read the password versions (off the loop) and end every session that no longer holds."""
        if self._password_versions is not None:
            fresh = await asyncio.to_thread(self._password_versions)
            if fresh is not None:  # unreadable now: keep the last known versions rather than log everyone out
                self._versions = fresh
        ended = self.sessions.sweep(self._still_valid)
        if ended:
            log.info("%d session(s) ended: expired, or roles or password changed", len(ended))
            self.end(ended, "your session ended; log in again")

    async def close(self) -> None:
        """Stops the sweeps and any page still closing; returns once they have ended."""
        await self._background.aclose()

    def _still_valid(self, principal: Principal) -> bool:
        if self._roles_of(principal.agent_id) != principal.roles:
            return False
        return self._versions is None or self._versions.get(principal.agent_id, "") == principal.password_version

    def _close_later(self, socket: web.WebSocketResponse, code: int, reason: str) -> None:
        if self._background.closed:  # the web server has stopped: its pages are closed already
            return
        self._background.spawn("web-session-page-close", self.close_page(socket, code, reason))

    @staticmethod
    async def close_page(socket: web.WebSocketResponse, code: int, reason: str) -> None:
        """Closes one page, within CLOSE_TIMEOUT_S; a page already gone is only logged."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await socket.close(code=code, message=reason.encode()[:120])
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            log.info("page of an ended session dropped: %s", exc or type(exc).__name__)

    # -- logins ---------------------------------------------------------------------------------

    async def log_in(self, agent_id: str, password: str, address: str) -> LoginOutcome:
        """Checks a login; a session of this person beyond the cap ends (its pages are closed)."""
        attempt = self._limiter.reserve(agent_id, address, time.monotonic(), known=self._roles_of(agent_id) is not None)
        if attempt is None:
            return LoginOutcome(429)
        try:
            async with asyncio.timeout(self._hash_wait_s):
                await self._hashing.acquire()
        except TimeoutError:
            self._limiter.succeeded(attempt)  # not a failure of theirs: the slot goes back
            return LoginOutcome(503)
        checked = asyncio.get_running_loop().run_in_executor(None, self._check_and_version, agent_id, password)
        checked.add_done_callback(lambda _: self._hashing.release())  # released when the hash ends, even if the client left
        ok, versions = await asyncio.shield(checked)
        roles = self._roles_of(agent_id)
        if not ok or not roles:
            return LoginOutcome(401)
        self._limiter.succeeded(attempt)
        if versions is not None:
            self._versions = versions
        token, ended = self.sessions.open_session(agent_id, roles, (versions or {}).get(agent_id, ""))
        self.end(ended, "you logged in on another page; this session ended")
        return LoginOutcome(200, token, roles)

    def _check_and_version(self, agent_id: str, password: str) -> tuple[bool, Mapping[str, str] | None]:
        """Blocking: the argon2 check (the same work for an unknown id), then the passwords' versions."""
        ok = self._check_password(agent_id, password)
        return ok, (self._password_versions() if ok and self._password_versions is not None else None)
