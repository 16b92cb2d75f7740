"""`threadline run --demo`: which settings the demo turns on, the one-time credentials it issues,
and the banner a newcomer follows. Never the default; not for real deployments.

The demo is a settings preset under the operator's own file and environment (ports, instance,
database still come from there), the sample flow's agents with passwords issued through the same
secrets file as `threadline agents passwd`, and the demo CRM (engine/demo/demo_crm.py). Passwords
are shown once: a later start issues none unless asked (`--new-passwords`) or none exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from engine.acd.agent_secrets import AgentSecrets, SecretsError
from engine.config.acd_config import AgentSettings, load_acd
from engine.config.problems import FlowInvalid
from engine.demo.demo_crm import serve_demo_crm
from engine.settings import LookupEndpoint, Settings, SettingsError

DEMO_FLOW = "support_ko"
DEMO_AGENT = "minsu"
"""Takes billing calls (press 1, or say 요금, at the sample menu)."""
DEMO_SUPERVISOR = "sora"
"""Has the supervisor and qa roles in ivr_flows/agents/team.yaml."""
DEMO_NUMBER = "1588"
"""What the banner says to dial; Asterisk sends any number to the engine."""
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/l/I: a newcomer types the password from the terminal."""
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
NEW_PASSWORDS_HINT = "make demo DEMO_FLAGS=--new-passwords"


def demo_preset() -> dict[str, Any]:
    """Settings the demo turns on; the operator's file and THREADLINE_* variables still win."""
    return {"flows": {"inbound": DEMO_FLOW}, "recording": {"enabled": True}, "transcripts": {"enabled": True}, "http": {"caller_page": True}}


@dataclass(frozen=True)
class DemoLogin:
    agent_id: str
    name: str
    password: str | None
    """Issued now, to be shown once; None when one was set at an earlier start."""


@dataclass(frozen=True)
class DemoCredentials:
    agent: DemoLogin
    supervisor: DemoLogin
    sip_user: str
    sip_secret: str | None
    """The demo agent's softphone secret, issued now; None when issued at an earlier start."""


def new_password() -> str:
    """Twelve characters a person can read and type, in three groups."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3))


def issue_credentials(settings: Settings, fresh: bool) -> DemoCredentials:
    """Passwords for the demo agent and supervisor and the agent's SIP secret, where none exist (or
    all anew when `fresh`); stored hashed in the agents' secrets file. Blocking: run it in a thread."""
    agents = _demo_agents(settings)
    try:
        store = AgentSecrets(settings.agent_secrets_path)
        logins = []
        for agent_id in (DEMO_AGENT, DEMO_SUPERVISOR):
            password = new_password() if fresh or not store.has_web_password(agent_id) else None
            if password is not None:
                store.set_web_password(agent_id, password)
            logins.append(DemoLogin(agent_id, agents[agent_id].name, password))
        extension = agents[DEMO_AGENT].extension
        sip_secret = store.issue_sip_secret(DEMO_AGENT, extension) if fresh or store.sip_digest(DEMO_AGENT) is None else None
        store.save()
    except (SecretsError, OSError) as exc:
        raise SettingsError(f"demo: cannot issue the demo passwords in acd.secrets_file: {exc}") from None
    return DemoCredentials(logins[0], logins[1], extension, sip_secret)


def _demo_agents(settings: Settings) -> dict[str, AgentSettings]:
    folder = settings.flows.folder
    try:
        agents = dict(load_acd(folder).agents)
    except FlowInvalid as invalid:
        raise SettingsError(f"demo: the agents in {folder} do not validate:\n{invalid}") from None
    missing = [agent_id for agent_id in (DEMO_AGENT, DEMO_SUPERVISOR) if agent_id not in agents]
    if missing:
        raise SettingsError(f"demo: {folder}/agents has no {' or '.join(missing)}; the demo runs the sample agents (restore ivr_flows/agents/team.yaml or unset flows.folder)")
    return agents


def banner(http_url: str, sip_port: int, credentials: DemoCredentials, crm: str) -> str:
    """What a newcomer needs to try the demo, aligned, printed once when the engine listens."""
    base = _reachable(http_url)
    agent, supervisor = credentials.agent, credentials.supervisor
    secret = credentials.sip_secret or "(issued at an earlier start; not shown again)"
    ids = max(len(agent.agent_id), len(supervisor.agent_id))
    rows = [
        ("agent page", f"{base}/agent"),
        ("supervisor page", f"{base}/supervisor"),
        ("agent", f"{agent.agent_id.ljust(ids)} / {_shown(agent)}   ({agent.name}, takes billing calls)"),
        ("supervisor", f"{supervisor.agent_id.ljust(ids)} / {_shown(supervisor)}   ({supervisor.name}, supervisor and QA)"),
        ("caller page", f"{base}/try"),
        ("call in (SIP)", f"sip:{DEMO_NUMBER}@127.0.0.1:{sip_port}   (any SIP phone on this machine; press 1 for billing)"),
        (f"{agent.agent_id}'s softphone", f"user {credentials.sip_user}, secret {secret}, server 127.0.0.1:{sip_port}"),
        ("demo CRM", crm),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["Threadline demo: the sample contact centre with made-up customers. Not for real deployments."]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines.append(f"Passwords and secrets are shown once. New ones: {NEW_PASSWORDS_HINT}")
    return "\n".join(lines)


def _shown(login: DemoLogin) -> str:
    return login.password or "(password set at an earlier start; not shown again)"


def _reachable(http_url: str) -> str:
    """http://0.0.0.0:8080 listens everywhere; a browser on this machine uses 127.0.0.1."""
    scheme, _, rest = http_url.partition("://")
    host, _, port = rest.rpartition(":")
    return f"{scheme}://127.0.0.1:{port}" if host.strip("[]") in WILDCARD_HOSTS else http_url


@contextlib.asynccontextmanager
async def demo_running(settings: Settings, fresh_passwords: bool) -> AsyncIterator[tuple[Settings, Callable[[str], str]]]:
    """Issue the demo's credentials and serve its CRM while the engine runs. Yields the settings the
    engine runs with (lookups.crm pointed at the demo CRM unless the operator set one) and the
    banner for the engine's HTTP address."""
    credentials = await asyncio.to_thread(issue_credentials, settings, fresh_passwords)
    sip_port = settings.asterisk.sip_port
    if "crm" in settings.lookups:
        own = f"not used: lookups.crm is set ({settings.lookups['crm'].url})"
        yield settings, lambda http_url: banner(http_url, sip_port, credentials, own)
        return
    async with serve_demo_crm() as crm_url:
        with_crm = settings.model_copy(update={"lookups": {**settings.lookups, "crm": LookupEndpoint(url=crm_url)}})
        yield with_crm, lambda http_url: banner(http_url, sip_port, credentials, f"{crm_url}   (made-up customers)")
