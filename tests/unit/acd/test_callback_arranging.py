"""The CallDistributor's callback arranging and start-up sweep, driven through its public entry
points with an in-memory ARI and caller voice (nothing here touches a socket): a second # while a
callback is being confirmed never arranges it twice, and a restarted watch_agents never sweeps the
bridges of live calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

import pytest

from engine.acd.acd_config import AcdConfig, CallbackOffer, QueueSettings
from engine.acd.call_distributor import CALLBACK_REQUESTED, CallDistributor, CallSnapshot
from engine.asterisk.ari_client import AriClient

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


class HeldVoice:
    """A waiting caller's voice whose stop_listening waits until the test lets it go: the window in
    which the caller may press # again."""

    language = "en"

    def __init__(self) -> None:
        self.said: list[str] = []
        self.stopping = asyncio.Event()
        self.release = asyncio.Event()

    async def announce(self, text: str, wait: bool = False) -> None:
        self.said.append(text)

    async def hush(self) -> None:
        pass

    def continue_flow(self, target: str, reason: str = "queue overflow") -> None:
        raise AssertionError("not expected")

    def start_survey(self, target: str, queue: str, agent: str) -> None:
        raise AssertionError("not expected")

    def listen_for(self, phrases: Any) -> None:
        pass

    async def stop_listening(self) -> None:
        self.stopping.set()
        await self.release.wait()


def billing() -> AcdConfig:
    return AcdConfig({"billing": QueueSettings(skills={"billing": 1}, callback=CallbackOffer(offer_after_s=0))}, {}, {})


async def settle(distributor: CallDistributor) -> None:
    """Let every task the distributor started run to its end."""
    for _ in range(50):
        await asyncio.sleep(0)
    async with asyncio.timeout(2):
        while distributor._tasks:
            await asyncio.sleep(0.01)


async def test_a_second_hash_while_the_callback_is_confirmed_does_not_arrange_it_twice(caplog: pytest.LogCaptureFixture) -> None:
    journey: list[tuple[str, dict[str, Any]]] = []
    hang_ups: list[str] = []

    async def save_after_hang_up(channel: str, kind: str, detail: dict[str, Any]) -> bool:
        journey.append((kind, detail))
        return True

    distributor = CallDistributor(cast(AriClient, MemoryAri()), save=save_after_hang_up)
    distributor.configure(billing())
    voice = HeldVoice()

    async def hang_up(reason: str) -> None:
        hang_ups.append(reason)

    snapshot = CallSnapshot("anonymous", "", {}, [], {})
    await distributor.enqueue("c1", "billing", (), 5, snapshot, lambda kind, detail: journey.append((kind, detail)), hang_up, voice=voice)
    assert distributor.key_pressed("c1", "1"), "the callback offer's key"
    for digit in NUMBER:
        assert distributor.key_pressed("c1", digit)
    assert distributor.key_pressed("c1", "#")
    async with asyncio.timeout(2):
        await voice.stopping.wait()  # the number passed; the caller is about to be told
    distributor.key_pressed("c1", "#")  # pressed again inside that window
    distributor.key_pressed("c1", "1")  # and the callback key: no new offer either
    voice.release.set()
    await settle(distributor)

    requested = [detail for kind, detail in journey if kind == CALLBACK_REQUESTED]
    assert [d["number"] for d in requested] == [NUMBER], journey
    assert [kind for kind, _ in journey].count("callback_offer_taken") == 1, journey
    assert hang_ups == ["callback arranged"]
    assert sum("will call you back" in said for said in voice.said) == 1, voice.said
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR], "an ACD step failed"
    distributor.close()


async def test_the_start_up_sweep_runs_once_and_a_restarted_watch_agents_never_sweeps() -> None:
    ari = MemoryAri({"tl-call-abc": ["tl-agent-1"], "tl-hold-billing": [], "tl-call-live": ["tl-agent-2", "caller-1"], "other": []})
    distributor = CallDistributor(cast(AriClient, ari))
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
    distributor.close()


async def test_without_an_explicit_start_up_sweep_only_the_first_watch_agents_run_sweeps() -> None:
    ari = MemoryAri({"tl-call-left": ["tl-agent-1"]})
    distributor = CallDistributor(cast(AriClient, ari))
    distributor.configure(billing())
    for _ in range(3):
        watching = asyncio.create_task(distributor.watch_agents())
        await asyncio.sleep(0.05)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert [r for r in ari.requests if r[0] == "list_bridges"] == [("list_bridges", "")]
    distributor.close()
