"""The agents' open pages: state and screen-pops pushed over websockets, kept for reconnects.

The ACD tells the hub (AcdListener); the hub sends typed, versioned JSON to every page the agent
has open. The last state and the current pop are kept, so a page that reconnects (a dropped
websocket, a reload) shows them again at once: nothing is lost by a network blip.
Each send is a short task owned by one TaskOwner, so `close` cancels and awaits them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from engine.task_owner import TaskOwner
from engine.web.desktop_protocol import PROTOCOL_VERSION

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 2.0


class DesktopHub:
    def __init__(self) -> None:
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self._pop: dict[str, dict[str, Any]] = {}
        self._supervisors: set[web.WebSocketResponse] = set()
        self._floor: dict[str, Any] | None = None
        self._queues: dict[str, Any] | None = None
        """The latest supervisor snapshot, sent at once to a supervisor page that (re)connects."""
        self._history: Callable[[], dict[str, Any]] | None = None
        """Today's floor history, minute by minute (engine/acd/floor_history.py), for a page that attaches."""
        self._sends = TaskOwner("desktop-hub")

    # -- AcdListener -----------------------------------------------------------------------

    def agent_changed(self, agent_id: str, state: dict[str, Any]) -> None:
        message = {"v": PROTOCOL_VERSION, "type": "state", "agent": agent_id, **state}
        self._state[agent_id] = message
        if state.get("status") == "available":
            self._pop.pop(agent_id, None)  # ready for the next caller: the last one's pop is done
        self._send(agent_id, message)

    def call_offered(self, agent_id: str, pop: dict[str, Any]) -> None:
        self._pop[agent_id] = pop
        self._send(agent_id, pop)

    def call_cleared(self, agent_id: str, call_id: str) -> None:
        current = self._pop.get(agent_id)
        if current is not None and current.get("call_id") == call_id:
            del self._pop[agent_id]
        self._send(agent_id, {"v": PROTOCOL_VERSION, "type": "pop_cleared", "call_id": call_id})

    # -- supervisors ------------------------------------------------------------------------

    def floor_changed(self, snapshot: dict[str, Any]) -> None:
        """A new live view of queues, agents and today's KPIs: to every supervisor page."""
        message = {"v": PROTOCOL_VERSION, "type": "floor", **snapshot}
        self._floor = message
        text = json.dumps(message)  # once, not once per page
        for socket in list(self._supervisors):
            self._spawn("desktop-floor", self._deliver(socket, text))

    def floor_history_changed(self, history: Callable[[], dict[str, Any]], latest: dict[str, Any] | None) -> None:
        """The day's wallboard series changed: `latest` is the minute that changed, or None when the
        whole day did (a new day, a backfill from the database), which every page then gets again."""
        self._history = history
        body, replace = (latest, False) if latest is not None else (history(), True)
        text = json.dumps({"v": PROTOCOL_VERSION, "type": "floor_history", "replace": replace, **body})
        for socket in list(self._supervisors):
            self._spawn("desktop-floor-history", self._deliver(socket, text))

    def queues_changed(self, queues: dict[str, dict[str, Any]]) -> None:
        """Each queue's waiting count and longest wait (no caller details) to every agent page."""
        message = {"v": PROTOCOL_VERSION, "type": "queues", "queues": queues}
        if message == self._queues:
            return
        self._queues = message
        text = json.dumps(message)
        for socket in {s for sockets in self._sockets.values() for s in sockets}:
            self._spawn("desktop-queues", self._deliver(socket, text))

    def broadcast(self, message: dict[str, Any]) -> None:
        """One message to every open page, agents' and supervisors' (a notice to the whole floor)."""
        text = json.dumps(message)  # once, not once per page: 500 pages cost 500 encodings otherwise
        for socket in {*self._supervisors, *(s for sockets in self._sockets.values() for s in sockets)}:
            self._spawn("desktop-broadcast", self._deliver(socket, text))

    async def attach_supervisor(self, socket: web.WebSocketResponse) -> None:
        if self._sends.closed:  # the engine is stopping: the page reconnects to the next one
            await socket.close()
            return
        self._supervisors.add(socket)
        if self._floor is not None:
            await self._deliver(socket, self._floor)
        if self._history is not None:
            await self._deliver(socket, {"v": PROTOCOL_VERSION, "type": "floor_history", "replace": True, **self._history()})

    def detach_supervisor(self, socket: web.WebSocketResponse) -> None:
        self._supervisors.discard(socket)

    # -- pages -----------------------------------------------------------------------------

    async def attach(self, agent_id: str, socket: web.WebSocketResponse) -> None:
        if self._sends.closed:  # the engine is stopping: the page reconnects to the next one
            await socket.close()
            return
        self._sockets.setdefault(agent_id, set()).add(socket)
        for message in (self._state.get(agent_id), self._pop.get(agent_id), self._queues):
            if message is not None:
                await self._deliver(socket, message)

    def detach(self, agent_id: str, socket: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(agent_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[agent_id]

    @property
    def connected(self) -> int:
        return sum(len(sockets) for sockets in self._sockets.values()) + len(self._supervisors)

    async def close(self) -> None:
        """The engine stops: sends in flight are cancelled (and awaited), then every page is closed,
        all at once and each within SEND_TIMEOUT_S, so a slow page cannot hold the shutdown."""
        await self._sends.aclose()
        pages = [*self._supervisors, *(s for sockets in self._sockets.values() for s in sockets)]
        await asyncio.gather(*(self._close_page(socket) for socket in pages))

    def _send(self, agent_id: str, message: dict[str, Any]) -> None:
        for socket in list(self._sockets.get(agent_id, ())):
            self._spawn(f"desktop-send-{agent_id}", self._deliver(socket, message))

    def _spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        if self._sends.closed:  # the engine is stopping and the pages are closed: nobody to tell
            work.close()
            return
        self._sends.spawn(name, work)

    @staticmethod
    async def _close_page(socket: web.WebSocketResponse) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await socket.close()
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            log.info("agent page dropped while closing: %s", exc or type(exc).__name__)

    async def _deliver(self, socket: web.WebSocketResponse, message: dict[str, Any] | str) -> None:
        """A slow or dead page is dropped, never waited on."""
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await socket.send_str(message if isinstance(message, str) else json.dumps(message))
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            log.info("agent page dropped: %s", exc or type(exc).__name__)
            await socket.close()
