"""AMI on panoramisk, with exponential back-off and an honest view of whether we are logged in.

panoramisk reconnects by itself after a lost connection, with a fixed delay; this adapter makes
that delay grow while Asterisk stays down, re-registers our event callbacks (they live on the
Manager and survive reconnects) and reports the state to the engine's health board.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager

from engine.asterisk.backoff import Backoff
from engine.asterisk.errors import AsteriskError

log = logging.getLogger(__name__)

StateCallback = Callable[[bool, str], None]
PING_EVERY_S = 5.0
PING_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AmiEndpoint:
    host: str
    port: int
    user: str
    secret: str


class AmiUnavailable(AsteriskError):
    """Not connected or not logged in to AMI right now."""


class AmiActionFailed(AsteriskError):
    """Asterisk refused an AMI action (its message says why)."""


class _BackoffManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager, whose reconnect delay grows from one failed attempt to the next."""

    def __init__(self, backoff: Backoff, on_failure: Callable[[str], None], **config: Any) -> None:
        super().__init__(**config)
        self.backoff = backoff
        self.closing = False
        self._on_failure = on_failure

    def connect(self, run_forever: bool = False, on_startup: Any = None, on_shutdown: Any = None) -> Any:
        if self.closing:  # a reconnect panoramisk scheduled before shutdown
            return None
        self.reconnect_timeout = self.backoff.next_delay()
        return super().connect(run_forever, on_startup, on_shutdown)

    def connection_made(self, future: Any) -> None:
        if not future.cancelled() and future.exception() is not None:
            host, port = self.config["host"], self.config["port"]
            self._on_failure(f"cannot connect to {host}:{port}: {future.exception()}")
        super().connection_made(future)

    def login(self, future: Any) -> bool:
        try:
            authenticated = bool(super().login(future))
        except Exception as exc:  # the connection dropped before Asterisk answered the login
            self._on_failure(f"login interrupted: {exc}")
            return False
        if not authenticated:
            self._on_failure("AMI login refused: the ami_user/ami_secret in the credentials file do not match manager.conf")
        return authenticated


class AmiConnection:
    """One AMI login for the engine's lifetime; `logged_in` is False while Asterisk is away."""

    EVENTS = ("FullyBooted", "Shutdown")

    def __init__(self, endpoint: AmiEndpoint, on_state: StateCallback, backoff: Backoff | None = None) -> None:
        self.endpoint = endpoint
        self._on_state = on_state
        self.logged_in = False
        self._last_failure = ""
        self._backoff = backoff or Backoff()
        self._manager = self._new_manager()

    def _new_manager(self) -> _BackoffManager:
        manager = _BackoffManager(
            self._backoff,
            self._failed,
            host=self.endpoint.host,
            port=self.endpoint.port,
            username=self.endpoint.user,
            secret=self.endpoint.secret,
            events="system,call",
            ping_delay=5,
            ping_interval=5,
            on_login=self._logged_in,
            on_disconnect=self._disconnected,
        )
        manager.register_event("FullyBooted", self._asterisk_event)
        manager.register_event("Shutdown", self._asterisk_event)
        return manager

    async def run(self) -> None:
        """Hold the connection until cancelled, pinging so a hung Asterisk shows as degraded. A run after
        a failed one (the background supervisor restarts it) starts on a fresh connection: the old one
        was closed for good."""
        if self._manager.closing:
            self._manager = self._new_manager()
        self._manager.loop = asyncio.get_running_loop()
        self._manager.connect()
        try:
            await self._watch_pings()
        finally:
            self._manager.closing = True
            self._manager.close()
            self._manager.on_disconnect = lambda *_: None
            self._manager.connection_lost = lambda *_: None  # no reconnect after shutdown

    async def _watch_pings(self) -> None:
        unanswered = False
        while True:
            await asyncio.sleep(PING_EVERY_S)
            if not self.logged_in:
                continue
            try:
                async with asyncio.timeout(PING_TIMEOUT_S):
                    await self._manager.send_action({"Action": "Ping"})
            except Exception as exc:  # timeout, or the connection went away under the ping
                if self.logged_in:
                    unanswered = True
                    self._on_state(False, f"AMI not answering pings ({type(exc).__name__})")
            else:
                if unanswered:
                    unanswered = False
                    self._on_state(True, "logged in")

    async def command(self, cli_command: str, timeout_s: float = 5.0) -> str:
        """Run an Asterisk CLI command over AMI and return its output."""
        if not self.logged_in:
            raise AmiUnavailable("AMI not logged in")
        async with asyncio.timeout(timeout_s):
            response = await self._manager.send_command(cli_command)
        output = response.get("Output", "") if hasattr(response, "get") else ""
        return "\n".join(output) if isinstance(output, list) else str(output)

    async def action(self, fields: dict[str, str], timeout_s: float = 5.0) -> dict[str, str]:
        """Send one AMI action and return its response's fields; AmiActionFailed if Asterisk
        answers `Response: Error` (its Message says why)."""
        if not self.logged_in:
            raise AmiUnavailable("AMI not logged in")
        async with asyncio.timeout(timeout_s):
            response = await self._manager.send_action(dict(fields))
        answer = {str(key): str(value) for key, value in response.items()} if hasattr(response, "items") else {}
        if answer.get("Response", "").lower() == "error":
            raise AmiActionFailed(f"AMI {fields.get('Action')}: {answer.get('Message', 'error')}")
        return answer

    def _logged_in(self, manager: Manager) -> None:
        """panoramisk calls this only after a successful login; failures go through on_failure."""
        self.logged_in = True
        self._last_failure = ""
        manager.backoff.reset()
        manager.reconnect_timeout = manager.backoff.first_s
        log.info("AMI logged in at %s:%s", self.endpoint.host, self.endpoint.port)
        self._on_state(True, "logged in")

    def _failed(self, reason: str) -> None:
        self._last_failure = reason
        self._on_state(False, reason)

    def _disconnected(self, manager: Manager, exc: Exception | None) -> None:
        self.logged_in = False
        reason = f"connection lost: {exc}" if exc else "connection lost"
        if self._last_failure:
            reason += f" after: {self._last_failure}"  # keep the cause an operator can fix
        log.warning("AMI %s", reason)
        self._on_state(False, reason)

    def _asterisk_event(self, manager: Manager, event: Any) -> None:
        log.info("AMI event %s", event.event)
