"""The CallDistributor's callback arranging and start-up sweep, driven through its public entry
points with an in-memory ARI and caller session (nothing here touches a socket): keys pressed
after a callback is arranged never arrange it twice, and a restarted watch_agents never sweeps the
bridges of live calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

from engine.config.acd_config import AcdConfig, CallbackOffer, QueueSettings
from engine.acd import queued_call as acd
from engine.acd.call_distributor import CallDistributor, CallSnapshot
from engine.acd.journey_marks import CALLBACK_REQUESTED

NUMBER = "0212345678"


class MemoryAri:
    """The ARI requests the distributor makes here, answered from memory and remembered."""

    def __init__(self, bridges: dict[str, list[str]] | None = None) -> None:
        self.bridges = bridges or {}
        self.requests: list[tuple[str, str]] = []

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None:
        self.requests.append(("create_bridge", bridge_id))

    async def start_bridge_music(self, bridge_id: str, moh_class: str = "default") -> None:
        self.requests.append(("start_bridge_music", bridge_id))

    async def add_to_bridge(self, bridge_id: str, channels: list[str]) -> None:
        self.requests.append(("add_to_bridge", bridge_id))

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        self.requests.append(("remove_from_bridge", bridge_id))

    async def stop_bridge_music(self, bridge_id: str) -> None:
        self.requests.append(("stop_bridge_music", bridge_id))

    async def originate(self, endpoint: str, channel_id: str, caller_id: str, timeout_s: int, app_args: str) -> None:
        self.requests.append(("originate", endpoint))

    async def delete_bridge(self, bridge_id: str) -> None:
        self.requests.append(("delete_bridge", bridge_id))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.requests.append(("hangup", channel_id))

    async def list_bridges(self) -> dict[str, list[str]]:
        self.requests.append(("list_bridges", ""))
        return dict(self.bridges)

    async def subscribe_endpoint(self, tech: str, resource: str) -> None:
        self.requests.append(("subscribe_endpoint", resource))

    async def endpoint_state(self, tech: str, resource: str) -> str:
        return "online"


class CallerSession:
    """The caller's session as the ACD sees it: what it was asked to do to the caller, in order."""

    def __init__(self) -> None:
        self.commands: list[acd.CallerCommand] = []

    def for_caller(self, commands: Any, done: asyncio.Future[None] | None = None) -> None:
        self.commands.extend(commands)
        if done is not None:
            done.set_result(None)


def billing() -> AcdConfig:
    return AcdConfig({"billing": QueueSettings(skills={"billing": 1}, callback=CallbackOffer(offer_after_s=0))}, {}, {})


async def settle(distributor: CallDistributor) -> None:
    """Let the call's task handle every fact posted so far."""
    for _ in range(200):
        await asyncio.sleep(0)


async def test_keys_after_the_callback_is_arranged_do_not_arrange_it_twice(caplog: pytest.LogCaptureFixture) -> None:
    journey: list[tuple[str, dict[str, Any]]] = []

    async def save_after_hang_up(channel: str, kind: str, detail: dict[str, Any]) -> bool:
        journey.append((kind, detail))
        return True

    distributor = CallDistributor(MemoryAri(), save=save_after_hang_up)
    distributor.configure(billing())
    caller = CallerSession()
    snapshot = CallSnapshot("anonymous", "", {}, [], {}, "en")
    distributor.enqueue("c1", "billing", (), 5, snapshot, lambda kind, detail: journey.append((kind, detail)), caller)
    for digit in ("1", *NUMBER, "#", "#", "1"):  # the offer's key, a number, #, then # and the key again at once
        distributor.caller_fact("c1", acd.KeyPressed(digit))
    await settle(distributor)

    requested = [detail for kind, detail in journey if kind == CALLBACK_REQUESTED]
    assert [d["number"] for d in requested] == [NUMBER], journey
    assert [kind for kind, _ in journey].count("callback_offer_taken") == 1, journey
    goodbyes = [c for c in caller.commands if isinstance(c, acd.Say) and c.hang_up_after is not None]
    assert [g.hang_up_after for g in goodbyes] == ["callback arranged"], caller.commands
    assert "will call you back" in goodbyes[0].text
    assert distributor.call_phase("c1") is None, "a caller who hung up for a callback is not waiting on the line"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR], "an ACD step failed"
    await distributor.aclose()


async def test_the_start_up_sweep_runs_once_and_a_restarted_watch_agents_never_sweeps() -> None:
    ari = MemoryAri({"tl-call-abc": ["tl-agent-1"], "tl-hold-billing": [], "tl-call-live": ["tl-agent-2", "caller-1"], "other": []})
    distributor = CallDistributor(ari)
    distributor.configure(billing())
    await distributor.sweep_at_start()
    assert ("hangup", "tl-agent-1") in ari.requests and ("delete_bridge", "tl-call-abc") in ari.requests
    assert ("delete_bridge", "tl-hold-billing") in ari.requests
    assert ("hangup", "tl-agent-2") not in ari.requests and ("delete_bridge", "other") not in ari.requests

    ari.requests.clear()
    ari.bridges = {"tl-call-secure": ["tl-agent-3"]}  # an agent hearing music while the caller keys its card
    for _ in range(2):  # the supervisor starts it, then restarts it after a failure
        watching = asyncio.create_task(distributor.watch_agents())
        await asyncio.sleep(0.05)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert ari.requests == [], "watch_agents swept bridges after the start-up sweep"
    await distributor.sweep_at_start()
    assert ari.requests == [], "the start-up sweep is done once per process"
    await distributor.aclose()


async def test_without_an_explicit_start_up_sweep_only_the_first_watch_agents_run_sweeps() -> None:
    ari = MemoryAri({"tl-call-left": ["tl-agent-1"]})
    distributor = CallDistributor(ari)
    distributor.configure(billing())
    for _ in range(3):
        watching = asyncio.create_task(distributor.watch_agents())
        await asyncio.sleep(0.05)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert [r for r in ari.requests if r[0] == "list_bridges"] == [("list_bridges", "")]
    await distributor.aclose()
