"""The agent page's transfer directory: every colleague with their name and state. Pure.

Each agent's page gets the list without themself. With hundreds of agents that list goes to
hundreds of pages each time it changes, so each entry is encoded once and a page's message is
joined from the encoded entries (no per-page encoding of the whole list).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.web.desktop_protocol import PROTOCOL_VERSION

UNKNOWN_STATUS = "logged_out"
"""An agent the engine has not heard of since it started is not logged in."""


def directory_entries(names: Mapping[str, str], states: Mapping[str, Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """(agent id, encoded {id, name, status}) for each configured agent, sorted by name then id.
    `states` are the agents' last state messages; agents no longer configured are left out."""
    agents = sorted(names.items(), key=lambda item: (item[1].casefold(), item[0]))
    return tuple(
        (agent_id, json.dumps({"id": agent_id, "name": name or agent_id, "status": str(states.get(agent_id, {}).get("status") or UNKNOWN_STATUS)}, ensure_ascii=False))
        for agent_id, name in agents
    )


def directory_message(entries: tuple[tuple[str, str], ...], for_agent: str) -> str:
    """The `directory` message (desktop_protocol.DirectoryMessage) for one agent's page, as JSON text:
    the others in `agents`, the page's own agent (their name for the header) in `me`."""
    others = ",".join(encoded for agent_id, encoded in entries if agent_id != for_agent)
    me = next((encoded for agent_id, encoded in entries if agent_id == for_agent), "null")
    return f'{{"v": {PROTOCOL_VERSION}, "type": "directory", "agents": [{others}], "me": {me}}}'
