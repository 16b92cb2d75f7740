"""A supervisor listening to, whispering to or barging into an agent's live call: the pure core.

The supervisor's phone is rung into our app and put in a mixing bridge with a snoop channel on the
AGENT's leg (never the caller's: the caller's channel is commanded only by its CallSession). The
snoop's spy and whisper directions decide who hears whom; they are relative to the snooped (agent)
channel: `in` is what the agent's phone sends, `out` is what is sent to the agent's phone. Measured
on Asterisk 22 (tests/integration/test_call_monitoring.py):

- listen: spy both, whisper none: the supervisor hears caller and agent; nobody hears the supervisor.
- whisper: spy both, whisper out: the agent hears the supervisor, the caller does not.
- barge: spy both, whisper both: agent and caller hear the supervisor.

Measured with three tones at 0.24 of full scale (G.711): the supervisor heard caller and agent at
0.20-0.24 in every mode and never their own voice (0.001); the supervisor's tone reached the agent at
0.24 in whisper and barge and 0.0004 in listen, and the caller at 0.24 in barge and 0.0000 in listen
and whisper.

ARI cannot change a snoop's directions, so a mode change replaces the snoop while the supervisor's
leg stays in its bridge. Pure: facts in, commands out; time comes in as `now`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol


class Mode(Enum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


MODES = tuple(mode.value for mode in Mode)


@dataclass(frozen=True)
class SnoopDirections:
    spy: str
    whisper: str


SNOOP_FOR: dict[Mode, SnoopDirections] = {
    Mode.LISTEN: SnoopDirections(spy="both", whisper="none"),
    Mode.WHISPER: SnoopDirections(spy="both", whisper="out"),
    Mode.BARGE: SnoopDirections(spy="both", whisper="both"),
}


def snoop_for(mode: Mode) -> SnoopDirections:
    """The snoop on the agent's leg that gives `mode`."""
    return SNOOP_FOR[mode]


def parse_mode(raw: object) -> Mode:
    """A mode from a page; ValueError names the field and the allowed values."""
    if isinstance(raw, str):
        for mode in Mode:
            if mode.value == raw:
                return mode
    shown = repr(raw)[:40]
    raise ValueError(f"mode: one of {', '.join(MODES)} (got {shown})")


class Phase(Enum):
    RINGING = "ringing"
    """The supervisor's phone rings."""
    CONNECTING = "connecting"
    """The supervisor answered; the snoop on the agent's leg is being made and bridged."""
    ACTIVE = "active"
    SWITCHING = "switching"
    """A new snoop replaces the old one; the supervisor's leg stays."""
    ENDED = "ended"


# -- facts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisorAnswered:
    pass


@dataclass(frozen=True)
class SnoopBridged:
    snoop_id: str


@dataclass(frozen=True)
class ModeWanted:
    mode: Mode


@dataclass(frozen=True)
class Ended:
    """The supervisor hung up (`supervisor_hung_up`), pressed Stop (`stopped`), the call ended
    (`call_ended`), the phone was not answered (`not_answered`), a step failed (`failed`) or the
    engine stopped (`engine_stopped`): one of END_REASONS, which the supervisor page has words for."""

    reason: str

    def __post_init__(self) -> None:
        if self.reason not in END_REASONS:
            raise ValueError(f"reason: one of {', '.join(END_REASONS)} (got {self.reason!r})")


END_REASONS = ("supervisor_hung_up", "stopped", "call_ended", "not_answered", "failed", "engine_stopped")


@dataclass(frozen=True)
class SnoopFailed:
    """A snoop could not be made or bridged. While switching modes the old snoop still works: the
    session stays in the mode it had; the first snoop failing ends the session (`failed`)."""

    snoop_id: str


Fact = SupervisorAnswered | SnoopBridged | ModeWanted | Ended | SnoopFailed


# -- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RingSupervisor:
    leg: str


@dataclass(frozen=True)
class MakeSnoop:
    """Snoop the agent's leg with these directions and bridge it with the supervisor's leg."""

    snoop_id: str
    directions: SnoopDirections


@dataclass(frozen=True)
class DropSnoop:
    snoop_id: str


@dataclass(frozen=True)
class TearDown:
    """Hang up the supervisor's leg and the snoop, delete the bridge."""


@dataclass(frozen=True)
class Audit:
    """One row of the audit: `started`, `mode` (each mode in force, the first included) or `ended`."""

    action: str
    mode: str
    at: float
    reason: str = ""


Command = RingSupervisor | MakeSnoop | DropSnoop | TearDown | Audit


@dataclass
class MonitorSession:
    """One supervisor monitoring one agent's call; the ids of its Asterisk resources are given."""

    session_id: str
    supervisor: str
    agent: str
    call_id: str
    agent_leg: str
    supervisor_leg: str
    bridge: str
    mode: Mode
    phase: Phase = Phase.RINGING
    snoop_id: str = ""
    wanted: Mode | None = None
    """A mode asked for while a snoop was being made: applied once it is bridged."""
    started_at: float = 0.0
    snoops_made: int = field(default=0)
    end_reason: str = ""
    bridged_mode: Mode | None = None
    """The mode of the snoop in the bridge now: kept when a switch fails."""

    def start(self, now: float) -> list[Command]:
        self.started_at = now
        return [Audit("started", self.mode.value, now), RingSupervisor(self.supervisor_leg)]

    def handle(self, fact: Fact, now: float) -> list[Command]:
        if self.phase is Phase.ENDED:
            return []
        if isinstance(fact, Ended):
            self.phase, self.end_reason = Phase.ENDED, fact.reason
            return [Audit("ended", self.mode.value, now, fact.reason), TearDown()]
        if isinstance(fact, SupervisorAnswered):
            if self.phase is not Phase.RINGING:
                return []
            self.phase = Phase.CONNECTING
            return [self._new_snoop()]
        if isinstance(fact, SnoopBridged):
            return self._bridged(fact, now)
        if isinstance(fact, SnoopFailed):
            return self._snoop_failed(now)
        return self._mode_wanted(fact.mode, now)

    def _snoop_failed(self, now: float) -> list[Command]:
        if self.phase is Phase.SWITCHING and self.bridged_mode is not None and self.snoop_id:
            self.mode, self.phase, self.wanted = self.bridged_mode, Phase.ACTIVE, None
            return []
        return self.handle(Ended("failed"), now)

    def _bridged(self, fact: SnoopBridged, now: float) -> list[Command]:
        old, self.snoop_id = self.snoop_id, fact.snoop_id
        self.phase, self.bridged_mode = Phase.ACTIVE, self.mode
        commands: list[Command] = [DropSnoop(old)] if old and old != fact.snoop_id else []
        commands.append(Audit("mode", self.mode.value, now))
        if self.wanted is not None and self.wanted is not self.mode:
            commands += self._mode_wanted(self.wanted, now)
        self.wanted = None
        return commands

    def _mode_wanted(self, mode: Mode, now: float) -> list[Command]:
        if self.phase is Phase.RINGING:
            self.mode = mode  # not bridged yet: the first snoop is made in this mode
            return []
        if self.phase in (Phase.CONNECTING, Phase.SWITCHING):
            self.wanted = mode
            return []
        if mode is self.mode:
            return []
        self.mode = mode
        self.phase = Phase.SWITCHING
        return [self._new_snoop()]

    def _new_snoop(self) -> MakeSnoop:
        self.snoops_made += 1
        return MakeSnoop(f"{self.bridge.replace('bridge', 'snoop')}-{self.snoops_made}", snoop_for(self.mode))

    def shown(self, now: float) -> dict[str, object]:
        """What supervisor pages see of the session (an ended one says why)."""
        view: dict[str, object] = {
            "session_id": self.session_id, "supervisor": self.supervisor, "agent": self.agent, "call_id": self.call_id,
            "mode": self.mode.value, "phase": self.phase.value, "for_s": round(max(0.0, now - self.started_at), 1),
        }
        if self.phase is Phase.ENDED:
            view["end_reason"] = self.end_reason
        return view


class AuditStep(Protocol):
    """One stored audit row (engine/store/monitoring_store.py's MonitoringStep)."""

    @property
    def session_id(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def at(self) -> datetime: ...

    @property
    def action(self) -> str: ...

    @property
    def supervisor(self) -> str: ...

    @property
    def agent(self) -> str: ...

    @property
    def call_id(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def reason(self) -> str: ...


def audit_sessions(steps: Iterable[AuditStep]) -> list[dict[str, object]]:
    """The audit's rows grouped into sessions, oldest first: who monitored which agent and call,
    when it started and ended (None while it runs) and why, and each mode with when it began."""
    sessions: dict[str, dict[str, object]] = {}
    modes: dict[str, list[dict[str, str]]] = {}
    for step in sorted(steps, key=lambda s: (s.at, s.session_id, s.seq)):
        entry = sessions.setdefault(step.session_id, {
            "session_id": step.session_id, "supervisor": step.supervisor, "agent": step.agent, "call_id": step.call_id,
            "started_at": None, "ended_at": None, "end_reason": "", "modes": modes.setdefault(step.session_id, []),
        })
        if step.action == "started":
            entry["started_at"] = step.at.isoformat()
        elif step.action == "mode":
            modes[step.session_id].append({"mode": step.mode, "at": step.at.isoformat()})
        elif step.action == "ended":
            entry["ended_at"], entry["end_reason"] = step.at.isoformat(), step.reason
    return list(sessions.values())
