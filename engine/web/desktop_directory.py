"""The agent page's transfer directory: every colleague with their name and state. Pure.

With 2,000 agents, 2,000 pages each getting their own copy of the whole list on every change is
O(N²): ~250 MB of text and 1-2 s of blocked loop per update (measured). So the directory keeps
each agent's entry encoded once, and every page gets the SAME text: the whole list when it
attaches, then only the entries that changed. A page leaves itself out by its own agent id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.web.desktop_protocol import PROTOCOL_VERSION

UNKNOWN_STATUS = "logged_out"
"""An agent the engine has not heard of since it started is not logged in."""


def _entry(agent_id: str, name: str, state: Mapping[str, Any] | None) -> str:
    status = str((state or {}).get("status") or UNKNOWN_STATUS)
    return json.dumps({"id": agent_id, "name": name or agent_id, "status": status}, ensure_ascii=False)


class Directory:
    """The encoded entries as last sent, and which agents changed since (`mark`). `refresh` brings
    the entries up to date and says what changed, as one message for every page."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._entries: dict[str, str] = {}
        """Agent id -> encoded {id, name, status}, in the order pages show them (name, then id)."""
        self._changed: set[str] = set()
        self._full: str | None = None
        """The entries joined, cached until they change: a page that attaches costs one copy."""

    def mark(self, agent_id: str) -> None:
        """This agent's state changed: their entry goes out with the next `refresh`."""
        self._changed.add(agent_id)

    @property
    def pending(self) -> bool:
        return bool(self._changed)

    def refresh(self, names: Mapping[str, str], states: Mapping[str, Mapping[str, Any]], team_changed: bool = False) -> str | None:
        """The `directory` delta (desktop_protocol.DirectoryMessage, replace: false) as JSON text,
        or None when nothing changed. `names` are the configured agents now: a new name, a new or
        removed agent (or `team_changed`) re-checks every entry, otherwise only the marked ones do."""
        marked, self._changed = self._changed, set()
        removed: list[str] = []
        changed: list[str] = []
        if team_changed or names != self._names:
            self._names = dict(names)
            ordered = sorted(self._names.items(), key=lambda item: (item[1].casefold(), item[0]))
            fresh = {agent_id: _entry(agent_id, name, states.get(agent_id)) for agent_id, name in ordered}
            removed = [agent_id for agent_id in self._entries if agent_id not in fresh]
            changed = [encoded for agent_id, encoded in fresh.items() if self._entries.get(agent_id) != encoded]
            self._entries = fresh  # a renamed agent is in `changed`: pages sort by name themselves
        else:
            for agent_id in marked & self._entries.keys():
                encoded = _entry(agent_id, self._names[agent_id], states.get(agent_id))
                if encoded != self._entries[agent_id]:
                    self._entries[agent_id] = encoded
                    changed.append(encoded)
        if not changed and not removed:
            return None
        self._full = None
        return f'{{"v": {PROTOCOL_VERSION}, "type": "directory", "replace": false, "agents": [{",".join(changed)}], "removed": {json.dumps(removed)}}}'

    def full(self, for_agent: str) -> str | None:
        """The whole directory (replace: true) for a page that attaches, its own entry in `me`;
        None when the agent has no colleague (no team configured: nothing to pick)."""
        if not any(agent_id != for_agent for agent_id in self._entries):
            return None
        if self._full is None:
            self._full = ",".join(self._entries.values())
        me = self._entries.get(for_agent, "null")
        return f'{{"v": {PROTOCOL_VERSION}, "type": "directory", "replace": true, "agents": [{self._full}], "me": {me}}}'
