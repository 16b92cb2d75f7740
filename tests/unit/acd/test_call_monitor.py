"""CallMonitor's bookkeeping with a fake ARI (the real Asterisk is in
tests/integration/test_call_monitoring.py): sweeps after a reconnect, shutdown, failed removals,
late channels, failed snoops, and a supervisor who is also an agent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from engine.acd.acd_ports import CallSnapshot
from engine.acd.call_distributor import CallDistributor
from engine.acd.call_monitor import CallMonitor, MonitoringAudit
from engine.acd.agent_state import Status
from engine.acd.queued_call_facts import Phase
from engine.asterisk.ari_events import Channel, EndpointStateChanged, StasisStarted
from engine.asterisk.errors import AriRequestFailed, AriUnavailable
from engine.config.acd_config import AcdConfig, AgentSettings, QueueSettings
from test_call_distributor import CallerSession, MemoryBridges, agent_leg, settle, started


def channel(channel_id: str) -> Channel:
    return Channel(channel_id, "PJSIP/x", "Up", "", "", "", "Stasis", "threadline")


class FakeAri:
    """Asterisk's channels and bridges in memory; each flag makes one kind of request fail."""

    def __init__(self) -> None:
        self.channels: set[str] = {"tl-agent-1"}
        self.bridges: set[str] = set()
        self.originated: list[tuple[str, str]] = []
        self.monitor: CallMonitor | None = None
        self.fail_hangup = False
        self.create_bridge_times_out = False
        self.snoop_fails: int | None = None
        self.page_phone = "offline"
        self.during_list_bridges: Callable[[], Awaitable[None]] | None = None

    async def originate(self, endpoint: str, channel_id: str, caller_id: str, timeout_s: int, app_args: str) -> None:
        self.originated.append((endpoint, caller_id))
        self.channels.add(channel_id)

    async def snoop_leg(self, leg_id: str, snoop_id: str, spy: str, whisper: str) -> None:
        if self.snoop_fails is not None:
            raise AriRequestFailed("POST", f"/channels/{leg_id}/snoop", self.snoop_fails, "refused")
        self.channels.add(snoop_id)
        assert self.monitor is not None
        asyncio.get_running_loop().call_soon(self.monitor.on_event, StasisStarted(channel(snoop_id), ()))

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing") -> None:
        self.bridges.add(bridge_id)
        if self.create_bridge_times_out:
            raise AriUnavailable("no answer")

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        if bridge_id not in self.bridges:
            raise AriRequestFailed("POST", bridge_id, 404, "Bridge not found")

    async def delete_bridge(self, bridge_id: str) -> None:
        self.bridges.discard(bridge_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        if self.fail_hangup:
            raise AriUnavailable("no answer")
        if channel_id not in self.channels:
            raise AriRequestFailed("DELETE", channel_id, 404, "Channel not found")
        self.channels.discard(channel_id)

    async def list_bridge_ids(self) -> list[str]:
        if self.during_list_bridges is not None:
            await self.during_list_bridges()
        return sorted(self.bridges)

    async def endpoint_state(self, technology: str, resource: str) -> str:
        return self.page_phone


def distributor() -> Any:
    call = SimpleNamespace(phase=Phase.TALKING, agent_id="minsu", agent_leg="tl-agent-1", caller_id="caller-1", queue="sales", answered_at=0.0)
    agents = SimpleNamespace(agent=lambda a: SimpleNamespace(extension="2009"), state=lambda a: None, set_monitoring=lambda a, on: None)
    return SimpleNamespace(config=None, clock=lambda: 1.0, calls=lambda: [(call, SimpleNamespace(caller_number="0101234"))], agents=agents)


async def active(monitor: CallMonitor, supervisor: str = "sora") -> Any:
    await monitor.monitor(supervisor, "minsu", "listen")
    live = monitor._by_supervisor[supervisor]
    monitor.on_event(StasisStarted(channel(live.session.supervisor_leg), ("monitor",)))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if live.session.phase.value == "active":
            break
    assert live.session.phase.value == "active"
    return live


@pytest.fixture
def setup() -> tuple[FakeAri, CallMonitor]:
    ari = FakeAri()
    monitor = CallMonitor(ari, distributor(), MonitoringAudit(None))
    ari.monitor = monitor
    return ari, monitor


async def test_the_supervisor_page_phone_is_rung_with_the_session_in_the_caller_id(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    ari.page_phone = "online"
    live = await active(monitor)
    assert ari.originated == [("PJSIP/mon2009", f'"Monitor minsu" <monitor-{live.session.session_id}>')]
    await monitor.stop("sora")
    ari.page_phone = "offline"
    await monitor.monitor("sora", "minsu", "listen")
    assert ari.originated[-1][0] == "PJSIP/2009"  # the page is closed: the softphone


async def test_a_sweep_keeps_the_bridge_of_a_session_started_during_it(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup

    async def start_meanwhile() -> None:
        ari.during_list_bridges = None
        await active(monitor)

    ari.during_list_bridges = start_meanwhile
    await monitor.sweep(set())
    assert monitor._by_supervisor["sora"].session.bridge in ari.bridges


@pytest.mark.parametrize(("gone", "reason"), [("tl-agent-1", "call_ended"), ("supervisor", "supervisor_hung_up"), ("snoop", "call_ended")])
async def test_a_session_whose_channel_vanished_during_a_reconnect_ends(setup: tuple[FakeAri, CallMonitor], gone: str, reason: str) -> None:
    ari, monitor = setup
    live = await active(monitor)
    before = monitor.snapshot()
    vanished = {"supervisor": live.session.supervisor_leg, "snoop": live.session.snoop_id}.get(gone, gone)
    ari.channels.discard(vanished)
    await monitor.sweep(set(ari.channels), before)
    assert "sora" not in monitor._by_supervisor
    assert [s["end_reason"] for s in monitor.sessions()] == [reason]
    assert not ari.bridges and not any(c.startswith("tl-mon-") for c in ari.channels)


async def test_after_aclose_no_session_starts_and_a_late_channel_raises_nothing(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    await monitor.aclose()
    with pytest.raises(ValueError, match="supervisor: the engine is stopping"):
        await monitor.monitor("sora", "minsu", "listen")
    assert monitor.on_event(StasisStarted(channel("tl-mon-sup-late"), ("monitor",))) is True


async def test_aclose_ends_every_session_within_its_time_when_asterisk_hangs(setup: tuple[FakeAri, CallMonitor], monkeypatch: pytest.MonkeyPatch) -> None:
    ari, monitor = setup
    monkeypatch.setattr("engine.acd.call_monitor.CLOSE_S", 0.2)
    await active(monitor)

    async def hangs(channel_id: str, reason: str = "normal") -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(ari, "hangup", hangs)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await monitor.aclose()
    assert loop.time() - began < 1.0
    assert monitor.sessions()[0]["end_reason"] == "engine_stopped"


async def test_a_bridge_whose_create_timed_out_is_deleted(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    ari.create_bridge_times_out = True
    await monitor.monitor("sora", "minsu", "listen")
    live = monitor._by_supervisor["sora"]
    monitor.on_event(StasisStarted(channel(live.session.supervisor_leg), ("monitor",)))
    await asyncio.sleep(0.1)
    assert "sora" not in monitor._by_supervisor
    assert not ari.bridges


async def test_channels_a_failed_tear_down_left_are_removed_later(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    live = await active(monitor)
    ari.fail_hangup = True
    await monitor.stop("sora")
    assert ("channel", live.session.supervisor_leg) in monitor.leftovers
    ari.fail_hangup = False
    await monitor.sweep(set(ari.channels))
    assert not monitor.leftovers
    assert not any(c.startswith("tl-mon-") for c in ari.channels)


async def test_an_unowned_monitoring_channel_entering_late_is_hung_up(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    ari.channels.add("tl-mon-snoop-old-1")
    assert monitor.on_event(StasisStarted(channel("tl-mon-snoop-old-1"), ())) is True
    await asyncio.sleep(0.05)
    assert "tl-mon-snoop-old-1" not in ari.channels


async def test_a_failed_mode_switch_keeps_the_old_mode(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    live = await active(monitor)
    old_snoop = live.session.snoop_id
    ari.snoop_fails = 500
    with pytest.raises(ValueError, match="mode: barge could not be set"):
        await monitor.monitor("sora", "minsu", "barge")
    shown = monitor.session_of("sora")
    assert shown is not None and (shown["phase"], shown["mode"], live.session.snoop_id) == ("active", "listen", old_snoop)
    assert old_snoop in ari.channels


async def test_a_404_on_the_agent_s_leg_ends_the_session_as_call_ended(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    ari.snoop_fails = 404
    await monitor.monitor("sora", "minsu", "listen")
    monitor.on_event(StasisStarted(channel(monitor._by_supervisor["sora"].session.supervisor_leg), ("monitor",)))
    await asyncio.sleep(0.05)
    assert monitor.sessions()[0]["end_reason"] == "call_ended"


class SnoopingBridges(MemoryBridges):
    """The ACD's fake ARI with what monitoring needs."""

    monitor: CallMonitor

    async def snoop_leg(self, leg_id: str, snoop_id: str, spy: str, whisper: str) -> None:
        await self._do("snoop_leg", leg_id, snoop_id)
        asyncio.get_running_loop().call_soon(self.monitor.on_event, started(snoop_id))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._do("hangup", channel_id)

    async def list_bridge_ids(self) -> list[str]:
        return []


async def test_a_supervisor_who_is_an_agent_is_offered_no_queue_call_while_monitoring() -> None:
    ari, journey = SnoopingBridges(), []
    distributor = CallDistributor(ari, login_by_phone=True)
    distributor.configure(AcdConfig({"billing": QueueSettings(skills={"billing": 1}, wrap_up_s=0)}, {
        "minsu": AgentSettings(name="Minsu", extension="2001", skills={"billing": 3}),
        "sora": AgentSettings(name="Sora", extension="2009", skills={"billing": 1}, roles=["agent", "supervisor"]),
    }, {}))
    monitor = ari.monitor = CallMonitor(ari, distributor, MonitoringAudit(None))
    distributor.on_event(EndpointStateChanged("PJSIP", "2001", "online"))
    snapshot = CallSnapshot("0212345678", "", {}, [], {}, "en")
    distributor.enqueue("c1", "billing", (), 5, snapshot, lambda k, d: journey.append((k, d)), CallerSession())
    await settle()
    distributor.on_event(started(agent_leg(ari)))
    await settle()
    # the supervisor page's phone is no agent phone: registering it logs nobody in
    assert distributor.on_event(EndpointStateChanged("PJSIP", "mon2009", "online")) is False
    assert not distributor.agents.routable("sora")
    distributor.on_event(EndpointStateChanged("PJSIP", "web2009", "online"))  # she also has the agent page open
    assert distributor.agents.routable("sora")
    await monitor.monitor("sora", "minsu", "listen")
    assert not distributor.agents.routable("sora")
    monitor.on_event(started(monitor._by_supervisor["sora"].session.supervisor_leg))
    await asyncio.sleep(0.05)
    distributor.enqueue("c2", "billing", (), 5, CallSnapshot("0299999999", "", {}, [], {}, "en"), lambda k, d: journey.append((k, d)), CallerSession())
    await settle()
    assert not [args for args in ari.named("originate") if str(args[0]).endswith("2009") and not str(args[1]).startswith("tl-mon-")]
    await monitor.stop("sora")
    await settle()
    assert [args[0] for args in ari.named("originate") if not str(args[1]).startswith("tl-mon-")][-1] == "PJSIP/web2009"  # offered again


async def test_a_supervisor_whose_own_acd_call_rings_or_talks_cannot_start_monitoring(setup: tuple[FakeAri, CallMonitor]) -> None:
    ari, monitor = setup
    monitor._distributor.agents.state = lambda agent: SimpleNamespace(status=Status.RESERVED)
    with pytest.raises(ValueError, match="supervisor: an ACD call rings your phone"):
        await monitor.monitor("sora", "minsu", "listen")
    assert not ari.originated and monitor.sessions() == []
