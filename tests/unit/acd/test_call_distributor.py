"""The ACD adapter without Asterisk: an in-memory BridgeControl and a caller session double.

What these prove about the adapter (the decisions themselves are test_queued_call.py's): the
router's offer rings the agent, an answer bridges caller and agent and sends the caller's session
its commands, a refused bridge becomes a hang-up by the caller's session (never silence), each
call's facts are handled in order even while a bridge request is slow, and the end of the call
is recorded before `caller_left` returns (so it is in the journey before the session closes it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.acd import queued_call_facts as acd
from engine.acd.acd_ports import CallSnapshot
from engine.acd.call_distributor import CallDistributor
from engine.asterisk.ari_events import Channel, ChannelDestroyed, EndpointStateChanged, StasisStarted
from engine.asterisk.errors import AriRequestFailed
from engine.config.acd_config import AcdConfig, AgentSettings, QueueSettings


class MemoryBridges:
    """BridgeControl answered from memory; `fail` makes one operation raise, `slow` makes it wait."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.fail: set[str] = set()
        self.slow: dict[str, asyncio.Event] = {}

    async def _do(self, name: str, *args: Any) -> None:
        self.requests.append((name, args))
        if name in self.slow:
            await self.slow[name].wait()
        if name in self.fail:
            raise AriRequestFailed("POST", f"/{name}", 422, "refused by the test")

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None:
        await self._do("create_bridge", bridge_id)

    async def delete_bridge(self, bridge_id: str) -> None:
        await self._do("delete_bridge", bridge_id)

    async def add_to_bridge(self, bridge_id: str, channels: list[str]) -> None:
        await self._do("add_to_bridge", bridge_id, tuple(channels))

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        await self._do("remove_from_bridge", bridge_id, channel_id)

    async def start_bridge_music(self, bridge_id: str, moh_class: str = "default") -> None:
        await self._do("start_bridge_music", bridge_id)

    async def stop_bridge_music(self, bridge_id: str) -> None:
        await self._do("stop_bridge_music", bridge_id)

    async def list_bridges(self) -> dict[str, list[str]]:
        return {}

    async def originate(self, endpoint: str, channel_id: str, caller_id: str, timeout_s: int, app_args: str) -> None:
        await self._do("originate", endpoint, channel_id)

    async def hangup(self, channel_id: str) -> None:
        await self._do("hangup", channel_id)

    async def subscribe_endpoint(self, technology: str, resource: str) -> None:
        pass

    async def endpoint_state(self, technology: str, resource: str) -> str:
        return "online"

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for request, args in self.requests if request == name]


class CallerSession:
    def __init__(self) -> None:
        self.commands: list[acd.CallerCommand] = []

    def for_caller(self, commands: Any, done: asyncio.Future[None] | None = None) -> None:
        self.commands.extend(commands)
        if done is not None:
            done.set_result(None)


def config() -> AcdConfig:
    return AcdConfig({"billing": QueueSettings(skills={"billing": 1}, wrap_up_s=0)},
                     {"minsu": AgentSettings(name="Minsu", extension="2001", skills={"billing": 3})}, {})


async def settle() -> None:
    for _ in range(100):
        await asyncio.sleep(0)


def agent_leg(ari: MemoryBridges) -> str:
    return str(ari.named("originate")[-1][1])


def started(channel_id: str) -> StasisStarted:
    return StasisStarted(Channel(channel_id, f"PJSIP/{channel_id}", "Up", "", "", "", "Stasis", ""), ())


async def queued_with_agent(ari: MemoryBridges, journey: list[tuple[str, dict[str, Any]]], caller: CallerSession) -> CallDistributor:
    distributor = CallDistributor(ari)
    distributor.configure(config())
    distributor.on_event(EndpointStateChanged("PJSIP", "2001", "online"))
    distributor.enqueue("c1", "billing", (), 5, CallSnapshot("0212345678", "", {}, [], {}, "en"), lambda k, d: journey.append((k, d)), caller)
    await settle()
    return distributor


async def test_an_offer_rings_the_agent_and_the_answer_bridges_them_and_tells_the_caller_s_session() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    distributor = await queued_with_agent(ari, journey, caller)
    assert ari.named("add_to_bridge")[0] == ("tl-hold-billing", ("c1",)), "the caller waits in the queue's holding bridge"
    assert ari.named("originate")[0][0] == "PJSIP/2001"
    leg = agent_leg(ari)
    distributor.on_event(started(leg))
    await settle()
    bridge, members = ari.named("add_to_bridge")[-1]
    assert bridge.startswith("tl-call-") and members == ("c1", leg)
    assert [type(c) for c in caller.commands] == [acd.StopListening, acd.Hush]
    assert [k for k, _ in journey] == ["queued", "agent_ringing", "agent_answered"]
    assert distributor.call_phase("c1") == "talking"

    distributor.on_event(ChannelDestroyed(leg, 16, "Normal Clearing"))
    await settle()
    assert isinstance(caller.commands[-1], acd.HangUpCaller) and caller.commands[-1].reason == "the agent ended the call"
    assert journey[-1][0] == "call_ended" and journey[-1][1]["by"] == "agent"
    assert ("delete_bridge", (bridge,)) in ari.requests
    await distributor.aclose()


async def test_a_bridge_asterisk_refuses_hangs_the_caller_up_through_its_session() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    distributor = await queued_with_agent(ari, journey, caller)
    ari.fail.add("create_bridge")
    distributor.on_event(started(agent_leg(ari)))
    await settle()
    assert isinstance(caller.commands[-1], acd.HangUpCaller), caller.commands
    assert "ConnectAgent failed" in caller.commands[-1].reason
    await distributor.aclose()


async def test_the_caller_leaving_while_the_bridge_is_made_is_handled_after_it_in_order() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    distributor = await queued_with_agent(ari, journey, caller)
    leg = agent_leg(ari)
    ari.slow["create_bridge"] = asyncio.Event()
    distributor.on_event(started(leg))
    await settle()
    leaving = asyncio.create_task(distributor.caller_left("c1"))
    await settle()
    assert not leaving.done(), "caller_left waits until the ACD has recorded the end"
    assert "call_ended" not in [k for k, _ in journey], "the end waits for the answer being handled"
    ari.slow.pop("create_bridge").set()
    async with asyncio.timeout(2):
        await leaving
    assert [k for k, _ in journey][-2:] == ["agent_answered", "call_ended"]
    assert journey[-1][1]["by"] == "caller"
    assert ("hangup", (leg,)) in ari.requests, "the agent's leg is hung up"
    assert distributor.call_phase("c1") is None
    await distributor.aclose()


async def test_a_late_answer_after_the_caller_left_only_hangs_the_agent_leg_up() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    distributor = await queued_with_agent(ari, journey, caller)
    leg = agent_leg(ari)
    await distributor.caller_left("c1")
    assert journey[-1][0] == "abandoned" and journey[-1][1]["while"] == "agent ringing"
    distributor.on_event(started(leg))
    await settle()
    assert ari.named("hangup").count((leg,)) >= 1
    assert not [b for b, _ in ari.named("add_to_bridge") if str(b).startswith("tl-call-")], "nothing is bridged"
    await distributor.aclose()


async def test_an_unexpected_failure_in_a_step_never_leaves_the_call_without_its_owner() -> None:
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    distributor = await queued_with_agent(ari, journey, caller)

    async def broken(bridge_id: str, kind: str = "mixing") -> None:
        raise RuntimeError("a bug")

    ari.create_bridge = broken  # type: ignore[method-assign]
    distributor.on_event(started(agent_leg(ari)))
    await settle()
    assert isinstance(caller.commands[-1], acd.HangUpCaller), "the caller is hung up rather than left in silence"
    await distributor.caller_left("c1")
    assert journey[-1][0] == "call_ended", "the call's task still handles its facts"
    await distributor.aclose()


async def test_the_browser_phone_alone_keeps_the_agent_registered_and_is_the_one_rung() -> None:
    """Either phone registered makes the agent routable; while the page's phone is online it rings."""
    ari, caller, journey = MemoryBridges(), CallerSession(), []
    distributor = CallDistributor(ari)
    distributor.configure(config())
    assert distributor.on_event(EndpointStateChanged("PJSIP", "web2001", "online")), "the browser phone's endpoint is the agent's"
    assert distributor.agents.routable("minsu")
    distributor.on_event(EndpointStateChanged("PJSIP", "2001", "online"))
    distributor.on_event(EndpointStateChanged("PJSIP", "2001", "offline"))
    assert distributor.agents.routable("minsu"), "the softphone leaving does not unregister an agent at the page"
    distributor.enqueue("c1", "billing", (), 5, CallSnapshot("0212345678", "", {}, [], {}, "en"), lambda k, d: journey.append((k, d)), caller)
    await settle()
    assert ari.named("originate")[0][0] == "PJSIP/web2001"
    assert journey[-1][0] == "agent_ringing" and journey[-1][1]["extension"] == "2001", "the journey keeps the agent's extension"
    distributor.on_event(EndpointStateChanged("PJSIP", "web2001", "offline"))
    shown = distributor.agents.shown_state("minsu")
    assert shown is not None and not shown["registered"], "no phone left: unregistered"
    assert not distributor.on_event(EndpointStateChanged("PJSIP", "web9999", "online")), "no agent's endpoint"
