"""An agent's two phones: the SIP softphone (endpoint `<extension>`) and the browser phone in the
agent page (endpoint `web<extension>`); a supervisor's third, the supervisor page's phone
(`mon<extension>`), is not an agent phone. Which endpoint names belong to whom, whether the agent is
registered, and which phone the engine rings. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

BROWSER_PHONE_PREFIX = "web"
MONITOR_PHONE_PREFIX = "mon"


def monitor_phone_endpoint(extension: str) -> str:
    """The supervisor page's browser phone: `mon2009` for extension 2009. It is no agent phone: the
    ACD never maps it to an agent nor rings it with a queue call; only monitoring calls ring it."""
    return f"{MONITOR_PHONE_PREFIX}{extension}"


def browser_phone_endpoint(extension: str) -> str:
    """The browser phone's PJSIP endpoint, AOR and SIP user: `web2001` for extension 2001."""
    return f"{BROWSER_PHONE_PREFIX}{extension}"


def agent_endpoints(extension: str) -> tuple[str, str]:
    """Both endpoints of an agent: the softphone's, then the browser phone's."""
    return extension, browser_phone_endpoint(extension)


def dial_target(extension: str, online: frozenset[str]) -> str:
    """The channel to ring the agent on: the browser phone while it is registered (the agent is at
    the page), else the softphone (which may still answer even if Asterisk saw it drop)."""
    web = browser_phone_endpoint(extension)
    return f"PJSIP/{web}" if web in online else f"PJSIP/{extension}"


@dataclass
class PhoneRegistrations:
    """Which of the agents' endpoints Asterisk last said were online (per endpoint: it mirrors
    Asterisk), and for each agent whether it was last passed on as registered (either phone online)."""

    online: set[str] = field(default_factory=set)
    passed_on: dict[str, bool] = field(default_factory=dict)
    """Agent id -> the combined state last passed on to the agent's ledger."""

    def changed(self, endpoint: str, state: str, agent_id: str, extension: str) -> bool | None:
        """Records one phone's state; returns the agent's combined state when it differs from the
        one last passed on (or none was yet), else None: one of two phones going offline while the
        other stays online changes nothing for the agent."""
        if state == "online":
            self.online.add(endpoint)
        elif state == "offline":
            self.online.discard(endpoint)
        else:
            return None
        return self._pass_on(agent_id, extension, first=True)

    def keep_only(self, extensions: Mapping[str, str]) -> dict[str, bool]:
        """The agents' configuration (agent id -> extension) changed: forget the phones no agent has
        any more; returns the combined state of each agent whose state differs from the one passed
        on (an extension moved to phones that are already online, or away from them)."""
        endpoints = {endpoint for extension in extensions.values() for endpoint in agent_endpoints(extension)}
        self.online &= endpoints
        self.passed_on = {agent_id: state for agent_id, state in self.passed_on.items() if agent_id in extensions}
        changes = {agent_id: self._pass_on(agent_id, extension, first=False) for agent_id, extension in extensions.items()}
        return {agent_id: registered for agent_id, registered in changes.items() if registered is not None}

    def _pass_on(self, agent_id: str, extension: str, first: bool) -> bool | None:
        """The agent's combined state if it is to be passed on; `first`: also when none was yet
        (else an agent never passed on gets only an online state: their ledger starts unregistered)."""
        registered = self.any_online(extension)
        last = self.passed_on.get(agent_id)
        if last == registered or (last is None and not first and not registered):
            return None
        self.passed_on[agent_id] = registered
        return registered

    def any_online(self, extension: str) -> bool:
        return any(endpoint in self.online for endpoint in agent_endpoints(extension))

    def dial_target(self, extension: str) -> str:
        return dial_target(extension, frozenset(self.online))
