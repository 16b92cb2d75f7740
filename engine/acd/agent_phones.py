"""An agent's two phones: the SIP softphone (endpoint `<extension>`) and the browser phone in the
agent page (endpoint `web<extension>`). Which endpoint names belong to whom, whether the agent is
registered, and which phone the engine rings. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BROWSER_PHONE_PREFIX = "web"


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
    """Which of the agents' endpoints Asterisk last said were online, and for each agent whether
    it was last passed on as registered (either phone online)."""

    online: set[str] = field(default_factory=set)
    passed_on: dict[str, bool] = field(default_factory=dict)
    """Extension -> the combined state last passed on to the agent's ledger."""

    def changed(self, endpoint: str, state: str, extension: str) -> bool | None:
        """Records one phone's state; returns the agent's combined state when it differs from the
        one last passed on (or none was yet), else None: one of two phones going offline while the
        other stays online changes nothing for the agent."""
        if state == "online":
            self.online.add(endpoint)
        elif state == "offline":
            self.online.discard(endpoint)
        else:
            return None
        registered = self.any_online(extension)
        if self.passed_on.get(extension) == registered:
            return None
        self.passed_on[extension] = registered
        return registered

    def keep_only(self, extensions: set[str]) -> None:
        """The agents' configuration changed: forget the phones of extensions no agent has any more."""
        self.online = {endpoint for endpoint in self.online if any(endpoint in agent_endpoints(extension) for extension in extensions)}
        self.passed_on = {extension: state for extension, state in self.passed_on.items() if extension in extensions}

    def any_online(self, extension: str) -> bool:
        return any(endpoint in self.online for endpoint in agent_endpoints(extension))

    def dial_target(self, extension: str) -> str:
        return dial_target(extension, frozenset(self.online))
