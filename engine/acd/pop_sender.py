"""Sends the screen-pop to the agent's desktop as the phone starts ringing, before the answer.

The pop itself is built by the pure `screen_pop.build_pop`; here the caller's previous calls are
read (bounded: a pop goes out without history rather than late) and the pop is handed to the
agent desktop's hub.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engine.acd.acd_ports import CallSnapshot, History
from engine.acd.agent_board import AgentListener
from engine.acd.callback_numbers import is_plain_number, is_withheld
from engine.acd.queued_call import QueuedCall
from engine.acd.screen_pop import build_pop

log = logging.getLogger(__name__)
HISTORY_TIMEOUT_S = 0.5


class PopSender:
    def __init__(self, listener: AgentListener | None, history: History | None) -> None:
        self.listener = listener
        self._history = history
        self._shown: dict[str, tuple[list[dict[str, Any]], float]] = {}
        """Call id -> (previous calls, waited seconds) as the last pop showed them: sent again unchanged."""

    async def send(self, agent_id: str, call: QueuedCall, snapshot: CallSnapshot, waited_s: float, with_history: bool) -> None:
        if self.listener is None:
            return
        number = snapshot.caller_number
        if with_history:
            previous: list[dict[str, Any]] = []
            if self._history is not None and is_plain_number(number) and not is_withheld(number):  # no history keyed on `anonymous` or `1&Local`
                try:
                    async with asyncio.timeout(HISTORY_TIMEOUT_S):
                        previous = await self._history(number, call.caller_id)
                except Exception as exc:  # the pop goes out without history rather than late
                    log.warning("call %s: previous calls not read for the pop: %s", call.caller_id, exc)
            self._shown[call.caller_id] = (previous, waited_s)
        self.listener.call_offered(agent_id, self.pop(call, snapshot))

    def clear(self, agent_id: str, call_id: str) -> None:
        if self.listener is not None and agent_id:
            self.listener.call_cleared(agent_id, call_id)

    def forget(self, call_id: str) -> None:
        self._shown.pop(call_id, None)

    def pop(self, call: QueuedCall, snapshot: CallSnapshot) -> dict[str, Any]:
        previous, waited_s = self._shown.get(call.caller_id, ([], 0.0))
        pop = build_pop(call.caller_id, call.queue, snapshot.caller_number, snapshot.caller_name, snapshot.variables, list(snapshot.journal),
                        snapshot.procedures, waited_s, previous, callback=call.callback)
        pop["dispositions"] = list(call.settings.dispositions)
        pop["transferred_from"] = call.transferred_from
        return pop
