"""The agents' open pages: state and screen-pops pushed over websockets, kept for reconnects.

The ACD tells the hub (AcdListener); the hub sends typed, versioned JSON to every page the agent
has open. The last state and the current pop are kept, so a page that reconnects (a dropped
websocket, a reload) shows them again at once: nothing is lost by a network blip.
Agent pages also get the transfer directory (every colleague's name and state): the whole list on
attach, then the entries that changed (engine/web/desktop_directory.py), one text for every page, at
most once per DIRECTORY_EVERY_S however many agents change state (a busy floor changes many times a
second), and when the team is reloaded (`team_changed`).
Each page has one sender and a bounded outbox (PageOutboxes): messages are encoded once, reach each
page in order, and a page that does not keep up is dropped; `close` cancels and awaits the senders.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from engine.task_owner import TaskOwner
from engine.web.desktop_directory import Directory
from engine.web.desktop_protocol import PROTOCOL_VERSION
from engine.web.page_outbox import PageOutboxes, close_page

DIRECTORY_EVERY_S = 1.0


class DesktopHub:
    def __init__(self, agent_names: Callable[[], Mapping[str, str]] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """`agent_names`: {agent id: display name} of the configured agents, read when the directory is sent."""
        self._agent_names = agent_names or dict
        self._clock = clock
        self._directory = Directory()
        self._team_changed = False
        self._directory_started = False
        """Whether the directory has read the team once (the first page or change does)."""
        self._directory_sent_at = float("-inf")
        self._directory_due = False
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self._pop: dict[str, dict[str, Any]] = {}
        self._supervisors: set[web.WebSocketResponse] = set()
        self._floor: str | None = None
        """The latest supervisor snapshot, encoded, sent at once to a supervisor page that (re)connects."""
        self._queues: dict[str, Any] | None = None
        self._outboxes = PageOutboxes("desktop-hub")
        self._timers = TaskOwner("desktop-directory")
        """The directory's wait for its next turn (at most one at a time)."""
        self._history: Callable[[], dict[str, Any]] | None = None
        """Today's floor history, minute by minute (engine/acd/floor_history.py), for a page that attaches."""
        self._history_text: str | None = None
        """The whole day's `replace` message, encoded once per version of the history: a busy day is
        0.4-1.7 MB and 20-100 ms to encode, too much to repeat for every page that attaches."""

    # -- AcdListener -----------------------------------------------------------------------

    def agent_changed(self, agent_id: str, state: dict[str, Any]) -> None:
        message = {"v": PROTOCOL_VERSION, "type": "state", "agent": agent_id, **state}
        previous = self._state.get(agent_id)
        self._state[agent_id] = message
        if previous is None or previous.get("status") != message.get("status"):
            self._directory.mark(agent_id)
            self._directory_changed()
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
        text = json.dumps({"v": PROTOCOL_VERSION, "type": "floor", **snapshot})  # once, not once per page
        self._floor = text
        for socket in self._supervisors:
            self._outboxes.post(socket, text)

    def floor_history_changed(self, history: Callable[[], dict[str, Any]], latest: dict[str, Any] | None) -> None:
        """The day's wallboard series changed: `latest` is the minute that changed, or None when the
        whole day did (a new day, a backfill from the database), which every page then gets again."""
        self._history = history
        self._history_text = None
        if latest is None:
            text = self._whole_history_text(history)
        else:
            text = json.dumps({"v": PROTOCOL_VERSION, "type": "floor_history", "replace": False, **latest})
        for socket in self._supervisors:
            self._outboxes.post(socket, text)

    def queues_changed(self, queues: dict[str, dict[str, Any]]) -> None:
        """Each queue's waiting count and longest wait (no caller details) to every agent page."""
        message = {"v": PROTOCOL_VERSION, "type": "queues", "queues": queues}
        if message == self._queues:
            return
        self._queues = message
        text = json.dumps(message)
        for sockets in self._sockets.values():
            for socket in sockets:
                self._outboxes.post(socket, text)

    def broadcast(self, message: dict[str, Any]) -> None:
        """One message to every open page, agents' and supervisors' (a notice to the whole floor)."""
        text = json.dumps(message)  # once, not once per page: 500 pages cost 500 encodings otherwise
        for socket in {*self._supervisors, *(s for sockets in self._sockets.values() for s in sockets)}:
            self._outboxes.post(socket, text)

    async def attach_supervisor(self, socket: web.WebSocketResponse) -> None:
        if self._outboxes.closed:  # the engine is stopping: the page reconnects to the next one
            await close_page(socket)
            return
        self._supervisors.add(socket)
        self._outboxes.open(socket)
        if self._floor is not None:
            self._outboxes.post(socket, self._floor)
        if self._history is not None:
            self._outboxes.post(socket, self._whole_history_text(self._history))

    def _whole_history_text(self, history: Callable[[], dict[str, Any]]) -> str:
        """The day's `replace` message, encoded at most once until the history changes again."""
        if self._history_text is None:
            self._history_text = json.dumps({"v": PROTOCOL_VERSION, "type": "floor_history", "replace": True, **history()})
        return self._history_text

    def detach_supervisor(self, socket: web.WebSocketResponse) -> None:
        self._supervisors.discard(socket)
        self._outboxes.shut(socket)

    # -- pages -----------------------------------------------------------------------------

    async def attach(self, agent_id: str, socket: web.WebSocketResponse) -> None:
        if self._outboxes.closed:  # the engine is stopping: the page reconnects to the next one
            await close_page(socket)
            return
        self._sockets.setdefault(agent_id, set()).add(socket)
        self._outboxes.open(socket)
        # The pop, or that there is none: one cleared while the page was away must not stay on it.
        pop = self._pop.get(agent_id) or {"v": PROTOCOL_VERSION, "type": "pop_cleared", "call_id": None}
        for message in (self._state.get(agent_id), pop, self._queues):
            if message is not None:
                self._outboxes.post(socket, json.dumps(message))
        if not self._directory_started:  # the first page: the team as configured now
            self._directory_started = True
            self._directory.refresh(self._agent_names(), self._state, team_changed=True)
        directory = self._directory.full(agent_id)  # as last sent to open pages; what changed since follows
        if directory is not None:
            self._outboxes.post(socket, directory)

    def detach(self, agent_id: str, socket: web.WebSocketResponse) -> None:
        self._outboxes.shut(socket)
        sockets = self._sockets.get(agent_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[agent_id]

    @property
    def connected(self) -> int:
        return sum(len(sockets) for sockets in self._sockets.values()) + len(self._supervisors)

    async def close(self) -> None:
        """The engine stops: the senders are cancelled (and awaited), then every page is closed,
        all at once and each within SEND_TIMEOUT_S, so a slow page cannot hold the shutdown."""
        await self._timers.aclose()
        await self._outboxes.aclose()
        pages = [*self._supervisors, *(s for sockets in self._sockets.values() for s in sockets)]
        await asyncio.gather(*(close_page(socket) for socket in pages))

    def team_changed(self) -> None:
        """The agents' file was reloaded (names, agents added or removed): pages get the changes."""
        self._team_changed = True
        self._directory_changed()

    def _directory_changed(self) -> None:
        """An agent's state changed: the directory goes out now, or once the last one is a second old.
        Also with no page open: the cache then stays true, and a page that attaches gets it whole."""
        if self._directory_due or self._timers.closed:
            return  # already on its way
        self._directory_due = True
        self._timers.spawn("desktop-directory", self._send_directory(max(0.0, self._directory_sent_at + DIRECTORY_EVERY_S - self._clock())))

    async def _send_directory(self, after_s: float) -> None:
        try:
            if after_s > 0:
                await asyncio.sleep(after_s)
        finally:
            self._directory_due = False
        self._directory_sent_at = self._clock()
        team_changed, self._team_changed = self._team_changed, False
        self._directory_started = True
        text = self._directory.refresh(self._agent_names(), self._state, team_changed)
        if text is None:
            return
        for sockets in self._sockets.values():  # one text, encoded once, for every agent page
            for socket in sockets:
                self._outboxes.post(socket, text)

    def _send(self, agent_id: str, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        for socket in self._sockets.get(agent_id, ()):
            self._outboxes.post(socket, text)
