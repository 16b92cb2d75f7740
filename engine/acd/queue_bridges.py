"""The ACD's bridges in Asterisk: each queue's holding bridge (music for waiting callers) and the
start-up sweep of what an engine that stopped left behind.

`BridgeControl` is everything the ACD may ask of Asterisk. It has no operation on a caller's
channel (play, stop a playback, silence, answer, variables, hang up a caller): those belong to the
caller's CallSession, the only task that commands that channel. The ACD only moves channels
between bridges and dials and hangs up its own legs (agents, callbacks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from engine.asterisk.errors import AriRequestFailed, AsteriskError

log = logging.getLogger(__name__)
AGENT_LEG_PREFIX = "tl-agent-"
CALLBACK_LEG_PREFIX = "tl-cbk-"
HOLD_BRIDGE_PREFIX = "tl-hold-"
CALL_BRIDGE_PREFIX = "tl-call-"


class BridgeControl(Protocol):
    """The ARI operations the ACD uses (engine/asterisk/ari_client.py implements them)."""

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None: ...

    async def delete_bridge(self, bridge_id: str) -> None: ...

    async def add_to_bridge(self, bridge_id: str, channels: list[str]) -> None: ...

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None: ...

    async def start_bridge_music(self, bridge_id: str, moh_class: str = "default") -> None: ...

    async def stop_bridge_music(self, bridge_id: str) -> None: ...

    async def list_bridges(self) -> dict[str, list[str]]: ...

    async def originate(self, endpoint: str, channel_id: str, caller_id: str, timeout_s: int, app_args: str) -> None: ...

    async def hangup(self, channel_id: str) -> None:
        """Only ever an ACD leg (agent or callback), never a caller's channel."""

    async def subscribe_endpoint(self, technology: str, resource: str) -> None: ...

    async def endpoint_state(self, technology: str, resource: str) -> str: ...


def is_acd_resource(resource_id: str) -> bool:
    return resource_id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX, HOLD_BRIDGE_PREFIX, CALL_BRIDGE_PREFIX))


def hold_bridge_id(queue: str) -> str:
    return f"{HOLD_BRIDGE_PREFIX}{queue}"


class QueueBridges:
    def __init__(self, ari: BridgeControl) -> None:
        self._ari = ari
        self._holding: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        """Per queue: creating its holding bridge for a caller and removing it once empty never interleave."""
        self.swept = False

    async def hold(self, caller_id: str, queue: str, music: str, from_queue: str = "", from_bridge: str = "", adopted: bool = False) -> None:
        """The caller into the queue's holding bridge, out of where it was first (straight from one
        bridge to another stalls). An adopted caller may already be there."""
        for old in (hold_bridge_id(from_queue) if from_queue else "", from_bridge):
            if old:
                await self.leave(old, caller_id)
        async with self._lock(queue):
            bridge = hold_bridge_id(queue)
            if bridge not in self._holding:
                try:
                    await self._ari.create_bridge(bridge, "holding")
                except AriRequestFailed as exc:
                    if exc.status != 409:  # it exists already (left by an earlier engine): use it
                        raise
                await self._ari.start_bridge_music(bridge, music)
                self._holding.add(bridge)
            try:
                await self._ari.add_to_bridge(bridge, [caller_id])
            except AriRequestFailed as exc:
                if not adopted or exc.status not in (409, 422):
                    raise  # only an adopted caller may already be in its holding bridge

    async def leave(self, bridge: str, channel_id: str) -> None:
        try:
            await self._ari.remove_from_bridge(bridge, channel_id)
        except AriRequestFailed:
            pass  # not in that bridge any more: adding it elsewhere moves it anyway

    async def release(self, queue: str, still_waiting: Callable[[str], bool]) -> None:
        """The last caller left the queue's holding bridge: remove it, so Asterisk holds nothing idle."""
        async with self._lock(queue):
            bridge = hold_bridge_id(queue)
            if still_waiting(queue) or bridge not in self._holding:
                return
            self._holding.discard(bridge)
            try:
                await self._ari.delete_bridge(bridge)
            except AsteriskError as exc:
                log.debug("holding bridge %s not removed: %s", bridge, exc)

    async def drop(self, bridge: str, call_id: str) -> None:
        try:
            await self._ari.delete_bridge(bridge)
        except AsteriskError as exc:
            log.warning("call %s: bridge %s not removed: %s", call_id, bridge, exc)

    async def hang_up_leg(self, leg: str) -> None:
        try:
            await self._ari.hangup(leg)
        except AriRequestFailed:
            pass  # already gone

    async def sweep_at_start(self) -> None:
        """Once, when the engine starts, before any call is taken: conversations whose caller left
        while no engine ran (the agent alone in the bridge) are ended, and empty ACD bridges
        removed, so nothing lingers in Asterisk. Never later: in a running engine an agent alone in
        a bridge is a live call (the caller in secure entry, or a callback being dialled)."""
        if self.swept:
            return
        self.swept = True
        try:
            bridges = await self._ari.list_bridges()
        except AsteriskError as exc:
            log.warning("ACD bridges not swept: %s", exc)
            return
        for bridge, members in bridges.items():
            if not bridge.startswith((CALL_BRIDGE_PREFIX, HOLD_BRIDGE_PREFIX)) or not all(m.startswith(AGENT_LEG_PREFIX) for m in members):
                continue
            for member in members:
                try:
                    await self.hang_up_leg(member)
                except AsteriskError as exc:
                    log.debug("agent leg %s not hung up: %s", member, exc)
            try:
                await self._ari.delete_bridge(bridge)
            except AsteriskError as exc:
                log.debug("bridge %s not removed: %s", bridge, exc)

    async def find_conversation(self, caller_id: str) -> tuple[str, str] | None:
        """(bridge, agent leg) of the conversation the caller is in; None if there is none.
        Raises AsteriskError if Asterisk's bridges cannot be read."""
        bridges = await self._ari.list_bridges()
        found = next(((bridge, members) for bridge, members in bridges.items() if bridge.startswith(CALL_BRIDGE_PREFIX) and caller_id in members), None)
        if found is None:
            return None
        leg = next((member for member in found[1] if member.startswith(AGENT_LEG_PREFIX)), "")
        return found[0], leg

    def _lock(self, queue: str) -> asyncio.Lock:
        return self._locks.setdefault(queue, asyncio.Lock())
