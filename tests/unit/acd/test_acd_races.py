"""The ACD adapter under races and a failing Asterisk: an agent is never left out of routing, a call
is never left without its end, and clean-up goes on when Asterisk stops answering.

Found by review of the one-caller-one-owner redesign; each failed before its fix."""
from __future__ import annotations

import asyncio
from typing import Any

from test_call_distributor import CallerSession, MemoryBridges, agent_leg, config, queued_with_agent, settle, started

from engine.acd import queued_call_facts as acd
from engine.acd.acd_ports import CallSnapshot
from engine.acd.agent_state import Status
from engine.acd.call_distributor import CallDistributor
from engine.asterisk.ari_events import ChannelDestroyed, EndpointStateChanged
from engine.asterisk.errors import AriUnavailable
from engine.config.acd_config import AcdConfig, AgentSettings, MaxWait, Overflow, QueueSettings
from engine.task_owner import TaskOwnerClosed

SNAP = CallSnapshot("0212345678", "", {}, [], {}, "en")


class SlowAri(MemoryBridges):
    """`unavailable` makes one operation time out the way AriClient reports it (AriUnavailable)."""

    def __init__(self) -> None:
        super().__init__()
        self.unavailable: set[str] = set()

    async def _do(self, name: str, *args: Any) -> None:
        await super()._do(name, *args)
        if name in self.unavailable:
            raise AriUnavailable(f"{name}: no answer in time")


def two_agents() -> AcdConfig:
    return AcdConfig({"billing": QueueSettings(skills={"billing": 1}, wrap_up_s=0)},
                     {"minsu": AgentSettings(name="Minsu", extension="2001", skills={"billing": 3}),
                      "jiwoo": AgentSettings(name="Jiwoo", extension="2002", skills={"billing": 3})}, {})


async def test_an_offer_racing_the_caller_leaving_gives_the_agent_back_to_routing() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    d = CallDistributor(ari)
    d.configure(config())
    d.enqueue("c1", "billing", (), 5, SNAP, lambda k, v: journey.append((k, v)), caller)
    await settle()  # c1 waits; no agent registered yet
    d._calls["c1"].post(acd.CallerLeft())  # what caller_left posts; not yet handled by c1's task
    d.on_event(EndpointStateChanged("PJSIP", "2001", "online"))  # minsu free: offered c1 (still in line)
    await settle()
    assert d.agents.state("minsu").status is Status.AVAILABLE
    d.enqueue("c2", "billing", (), 5, SNAP, lambda k, v: None, CallerSession())
    await settle()
    assert ari.named("originate"), "minsu is AVAILABLE on her ledger but the router never offers her c2"


async def test_a_transfer_to_an_agent_dropped_by_the_caller_leaving_gives_the_target_back() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    d = CallDistributor(ari)
    d.configure(two_agents())
    d.on_event(EndpointStateChanged("PJSIP", "2001", "online"))
    d.on_event(EndpointStateChanged("PJSIP", "2002", "online"))
    d.enqueue("c1", "billing", (), 5, SNAP, lambda k, v: journey.append((k, v)), caller)
    await settle()
    d.on_event(started(agent_leg(ari)))
    await settle()
    talking_to = d._calls["c1"].core.agent_id
    other = "jiwoo" if talking_to == "minsu" else "minsu"
    d._calls["c1"].post(acd.CallerLeft())  # the caller hangs up as the agent clicks transfer
    assert await d.transfer(talking_to, "c1", f"agent:{other}") is None
    await settle()
    assert d.agents.state(other).status is Status.AVAILABLE
    d.agents.action(talking_to, "paused", "break")  # only the transfer's target is free now
    rung = len(ari.named("originate"))
    d.enqueue("c2", "billing", (), 5, SNAP, lambda k, v: None, CallerSession())
    await settle()
    assert len(ari.named("originate")) > rung, f"{other} is AVAILABLE but the router never offers them c2"


async def test_an_agent_leg_hang_up_asterisk_does_not_answer_still_ends_the_call_for_the_agent() -> None:
    ari, caller, journey = SlowAri(), CallerSession(), []
    d = await queued_with_agent(ari, journey, caller)
    d.on_event(started(agent_leg(ari)))
    await settle()
    bridge = ari.named("add_to_bridge")[-1][0]
    ari.unavailable.add("hangup")
    await d.caller_left("c1")
    await settle()
    assert d.agents.state("minsu").status is not Status.ON_CALL, "minsu stays ON_CALL for ever"
    assert (bridge,) in ari.named("delete_bridge"), "the call's bridge stays in Asterisk"


async def test_an_overflow_to_a_flow_goes_on_when_leaving_the_holding_bridge_times_out() -> None:
    ari, caller, journey = SlowAri(), CallerSession(), []
    now = [1000.0]
    d = CallDistributor(ari, clock=lambda: now[0])
    d.configure(AcdConfig({"billing": QueueSettings(skills={"billing": 1}, max_wait=MaxWait(seconds=10, overflow=Overflow(flow="sales")))}, {}, {}))
    d.enqueue("c1", "billing", (), 5, SNAP, lambda k, v: journey.append((k, v)), caller)
    await settle()
    ari.unavailable.add("remove_from_bridge")
    now[0] += 11
    d._tick()
    await settle()
    assert "c1" not in d._calls
    assert any(isinstance(c, (acd.ContinueFlow, acd.HangUpCaller)) for c in caller.commands), \
        f"the ACD let c1 go but its session only got {[type(c).__name__ for c in caller.commands]}: music/silence for ever"


async def test_a_call_in_a_queue_a_reload_removed_still_ends_properly() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    d = await queued_with_agent(ari, journey, caller)
    leg = agent_leg(ari)
    d.on_event(started(leg))
    await settle()
    d.configure(AcdConfig({"sales": QueueSettings(skills={"sales": 1})},
                          {"minsu": AgentSettings(name="Minsu", extension="2001", skills={"billing": 3})}, {}))
    d.on_event(ChannelDestroyed(leg, 16, "Normal Clearing"))  # the agent hangs up
    await settle()
    await d.caller_left("c1")
    await settle()
    assert "c1" not in d._calls, "the call never ends for the ACD"
    assert d.agents.state("minsu").status is not Status.ON_CALL, "minsu stays ON_CALL"
    assert any(k == "call_ended" for k, _ in journey), "no call_ended in the journey"


async def test_an_agent_answering_after_shutdown_never_raises_into_the_event_stream() -> None:
    d = CallDistributor(MemoryBridges())
    d.configure(config())
    await d.aclose()
    try:
        d.on_event(started("tl-agent-deadbeef0000"))
    except TaskOwnerClosed as exc:
        raise AssertionError(f"on_event raised into the ARI websocket reader: {exc}") from None
