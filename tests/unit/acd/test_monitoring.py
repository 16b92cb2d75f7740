"""The monitoring core: which snoop gives which mode, the session's steps, and the audit's sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.acd import monitoring as core
from engine.acd.monitoring import Mode
from engine.store.monitoring_store import MonitoringStep


def session(mode: Mode = Mode.LISTEN) -> core.MonitorSession:
    return core.MonitorSession("abc", "sora", "minsu", "caller-1", "tl-agent-1", "tl-mon-sup-abc", "tl-mon-bridge-abc", mode)


def connected(mode: Mode = Mode.LISTEN) -> tuple[core.MonitorSession, str]:
    s = session(mode)
    s.start(0.0)
    (snoop,) = s.handle(core.SupervisorAnswered(), 1.0)
    assert isinstance(snoop, core.MakeSnoop)
    s.handle(core.SnoopBridged(snoop.snoop_id), 1.1)
    return s, snoop.snoop_id


@pytest.mark.parametrize(("mode", "spy", "whisper"), [(Mode.LISTEN, "both", "none"), (Mode.WHISPER, "both", "out"), (Mode.BARGE, "both", "both")])
def test_each_mode_is_one_snoop_on_the_agents_leg(mode: Mode, spy: str, whisper: str) -> None:
    assert core.snoop_for(mode) == core.SnoopDirections(spy, whisper)


@pytest.mark.parametrize("raw", ["LISTEN", "spy", "", None, 3, ["listen"]])
def test_a_bad_mode_is_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(ValueError, match=r"^mode: one of listen, whisper, barge"):
        core.parse_mode(raw)


def test_a_session_rings_the_supervisor_then_snoops_in_its_mode_and_audits_each_step() -> None:
    s = session(Mode.WHISPER)
    assert s.start(10.0) == [core.Audit("started", "whisper", 10.0), core.RingSupervisor("tl-mon-sup-abc")]
    assert s.phase is core.Phase.RINGING
    (snoop,) = s.handle(core.SupervisorAnswered(), 12.0)
    assert snoop == core.MakeSnoop("tl-mon-snoop-abc-1", core.SnoopDirections("both", "out"))
    assert s.handle(core.SnoopBridged(snoop.snoop_id), 12.2) == [core.Audit("mode", "whisper", 12.2)]
    assert s.phase is core.Phase.ACTIVE
    assert s.shown(13.0) == {"session_id": "abc", "supervisor": "sora", "agent": "minsu", "call_id": "caller-1", "mode": "whisper", "phase": "active", "for_s": 3.0}


def test_a_mode_change_replaces_the_snoop_and_keeps_the_supervisors_leg() -> None:
    s, first = connected()
    (make,) = s.handle(core.ModeWanted(Mode.BARGE), 5.0)
    assert make == core.MakeSnoop("tl-mon-snoop-abc-2", core.SnoopDirections("both", "both"))
    assert s.phase is core.Phase.SWITCHING
    assert s.handle(core.SnoopBridged(make.snoop_id), 5.1) == [core.DropSnoop(first), core.Audit("mode", "barge", 5.1)]
    assert s.snoop_id == make.snoop_id and s.phase is core.Phase.ACTIVE
    assert s.handle(core.ModeWanted(Mode.BARGE), 6.0) == [], "the same mode again changes nothing"


def test_a_mode_asked_for_while_switching_follows_once_the_snoop_is_bridged() -> None:
    s, _ = connected()
    (to_whisper,) = s.handle(core.ModeWanted(Mode.WHISPER), 5.0)
    assert s.handle(core.ModeWanted(Mode.BARGE), 5.05) == []
    after = s.handle(core.SnoopBridged(to_whisper.snoop_id), 5.1)
    assert after[:2] == [core.DropSnoop("tl-mon-snoop-abc-1"), core.Audit("mode", "whisper", 5.1)]
    assert after[2] == core.MakeSnoop("tl-mon-snoop-abc-3", core.SnoopDirections("both", "both"))
    assert s.mode is Mode.BARGE


def test_a_mode_chosen_while_the_phone_rings_is_the_first_snoops() -> None:
    s = session()
    s.start(0.0)
    assert s.handle(core.ModeWanted(Mode.BARGE), 1.0) == []
    (snoop,) = s.handle(core.SupervisorAnswered(), 2.0)
    assert isinstance(snoop, core.MakeSnoop) and snoop.directions.whisper == "both"


@pytest.mark.parametrize("reason", ["stopped", "call_ended", "supervisor_hung_up", "not_answered", "failed"])
def test_every_end_tears_down_once_and_is_audited_with_why(reason: str) -> None:
    s, _ = connected()
    assert s.handle(core.Ended(reason), 9.0) == [core.Audit("ended", "listen", 9.0, reason), core.TearDown()]
    assert s.phase is core.Phase.ENDED and s.shown(9.5)["end_reason"] == reason
    assert s.handle(core.Ended("call_ended"), 9.1) == [] and s.handle(core.ModeWanted(Mode.BARGE), 9.2) == []
    assert s.handle(core.SupervisorAnswered(), 9.3) == []


def test_the_audit_rows_make_sessions_with_their_modes_and_end() -> None:
    t0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    steps = [
        MonitoringStep("a", 1, t0, "started", "sora", "minsu", "c1", "listen"),
        MonitoringStep("a", 2, t0 + timedelta(seconds=2), "mode", "sora", "minsu", "c1", "listen"),
        MonitoringStep("b", 1, t0 + timedelta(seconds=3), "started", "yuna", "jiyeon", "c2", "barge"),
        MonitoringStep("a", 3, t0 + timedelta(seconds=5), "mode", "sora", "minsu", "c1", "whisper"),
        MonitoringStep("a", 4, t0 + timedelta(seconds=9), "ended", "sora", "minsu", "c1", "whisper", "stopped"),
    ]
    first, second = core.audit_sessions(reversed(steps))
    assert first == {
        "session_id": "a", "supervisor": "sora", "agent": "minsu", "call_id": "c1", "started_at": t0.isoformat(),
        "ended_at": (t0 + timedelta(seconds=9)).isoformat(), "end_reason": "stopped",
        "modes": [{"mode": "listen", "at": (t0 + timedelta(seconds=2)).isoformat()}, {"mode": "whisper", "at": (t0 + timedelta(seconds=5)).isoformat()}],
    }
    assert second["agent"] == "jiyeon" and second["ended_at"] is None and second["modes"] == []


def test_a_failed_switch_keeps_the_old_snoop_and_mode_and_a_failed_first_snoop_ends_the_session() -> None:
    s, first = connected()
    (switch,) = s.handle(core.ModeWanted(Mode.BARGE), 2.0)
    assert isinstance(switch, core.MakeSnoop) and s.phase is core.Phase.SWITCHING
    assert s.handle(core.SnoopFailed(switch.snoop_id), 2.5) == []
    assert (s.phase, s.mode, s.snoop_id) == (core.Phase.ACTIVE, Mode.LISTEN, first)
    fresh = session(Mode.LISTEN)
    fresh.start(0.0)
    (snoop,) = fresh.handle(core.SupervisorAnswered(), 1.0)
    assert isinstance(snoop, core.MakeSnoop)
    assert fresh.handle(core.SnoopFailed(snoop.snoop_id), 1.5) == [core.Audit("ended", "listen", 1.5, "failed"), core.TearDown()]
