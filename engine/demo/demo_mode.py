"""`threadline run --demo`: which settings the demo turns on, the one-time credentials it issues,
and the banner a newcomer follows. Never the default; not for real deployments.

The demo is a settings preset under the operator's own file and environment (ports, instance,
database still come from there), the sample flow's agents with passwords issued through the same
secrets file as `threadline agents passwd`, and the demo CRM (engine/demo/demo_crm.py). Passwords
are shown once and kept in a 0600 file next to the secrets file (startup may fail before the
banner; a later start names the file): a later start issues none unless asked (`--new-passwords`)
or none exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
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
CREDENTIALS_FILE = "demo-credentials.txt"
CREDENTIALS_HEADER = "# Threadline demo logins issued by `threadline run --demo` (made-up data; not for real deployments)"

log = logging.getLogger(__name__)


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
    kept_in: Path | None = None
    """The 0600 file holding the issued ones; None when it is gone (deleted, or issued before it existed)."""


def new_password() -> str:
    """Twelve characters a person can read and type, in three groups."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3))


def issue_credentials(settings: Settings, fresh: bool) -> DemoCredentials:
    """Passwords for the demo agent and supervisor and the agent's SIP secret, where none exist (or
    all anew when `fresh`); stored hashed in the agents' secrets file. Blocking: run it in a thread."""
    agents = _demo_agents(settings)
    kept_in = credentials_file(settings)
    try:
        store = AgentSecrets(settings.agent_secrets_path)
        logins = []
        for agent_id in (DEMO_AGENT, DEMO_SUPERVISOR):
            password = new_password() if fresh or not store.has_web_password(agent_id) else None
            if password is not None:
                store.set_web_password(agent_id, password)
            logins.append(DemoLogin(agent_id, agents[agent_id].name, password))
        extension = agents[DEMO_AGENT].extension
        # as provisioning decides (engine/acd/agent_provisioning.py), so it never issues another one unseen
        stale = store.sip_digest(DEMO_AGENT) is None or store.sip_user(DEMO_AGENT) != extension
        sip_secret = store.issue_sip_secret(DEMO_AGENT, extension) if fresh or stale else None
        credentials = DemoCredentials(logins[0], logins[1], extension, sip_secret, kept_in)
        issued = issued_lines(credentials)
        if issued:  # the file first: should the hashes then fail to save, nothing usable was lost
            previous = kept_in.read_text(encoding="utf-8") if kept_in.exists() else ""
            _write_private(kept_in, credentials_text(previous, issued))
        store.save()
    except (SecretsError, OSError) as exc:
        raise SettingsError(f"demo: cannot issue the demo passwords in acd.secrets_file or {kept_in}: {exc}") from None
    return credentials if kept_in.exists() else dataclasses.replace(credentials, kept_in=None)


def credentials_file(settings: Settings) -> Path:
    """Next to the agents' secrets file, where the operator already keeps secrets."""
    return settings.agent_secrets_path.with_name(CREDENTIALS_FILE)


def issued_lines(credentials: DemoCredentials) -> dict[str, str]:
    """What was issued now, by the key a line of the credentials file carries."""
    lines = {f"{login.agent_id} password": login.password for login in (credentials.agent, credentials.supervisor) if login.password}
    if credentials.sip_secret:
        lines[f"{credentials.agent.agent_id} softphone"] = f"user {credentials.sip_user}, secret {credentials.sip_secret}"
    return lines


def credentials_text(previous: str, issued: Mapping[str, str]) -> str:
    """The file's text: the earlier lines with the ones issued now replaced or added."""
    lines = dict(line.split(": ", 1) for line in previous.splitlines() if ": " in line and not line.startswith("#"))
    lines.update(issued)
    return "\n".join([CREDENTIALS_HEADER, *(f"{key}: {value}" for key, value in lines.items())]) + "\n"


def _write_private(path: Path, text: str) -> None:
    """Mode 0600 from the start (like engine/acd/agent_provisioning.write_new_secret), swapped in whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    partial.replace(path)


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
    secret = credentials.sip_secret or f"(issued at an earlier start; {_not_shown(credentials)})"
    ids = max(len(agent.agent_id), len(supervisor.agent_id))
    rows = [
        ("agent page", f"{base}/agent"),
        ("supervisor page", f"{base}/supervisor"),
        ("agent", f"{agent.agent_id.ljust(ids)} / {_shown(agent, credentials)}   ({agent.name}, takes billing calls)"),
        ("supervisor", f"{supervisor.agent_id.ljust(ids)} / {_shown(supervisor, credentials)}   ({supervisor.name}, supervisor and QA)"),
        ("caller page", f"{base}/try"),
        ("call in (SIP)", f"sip:{DEMO_NUMBER}@127.0.0.1:{sip_port}   (any SIP phone on this machine; press 1 for billing)"),
        (f"{agent.agent_id}'s softphone", f"user {credentials.sip_user}, secret {secret}, server 127.0.0.1:{sip_port}"),
        ("demo CRM", crm),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["Threadline demo: the sample contact centre with made-up customers. Not for real deployments."]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    kept = f" (and kept in {credentials.kept_in}, readable by you alone)" if credentials.kept_in else ""
    lines.append(f"Passwords and secrets are shown once{kept}. New ones: {NEW_PASSWORDS_HINT}")
    return "\n".join(lines)


def _shown(login: DemoLogin, credentials: DemoCredentials) -> str:
    return login.password or f"(password set at an earlier start; {_not_shown(credentials)})"


def _not_shown(credentials: DemoCredentials) -> str:
    return f"not shown again; see {credentials.kept_in}" if credentials.kept_in else "not shown again"


def announce(settings: Settings, http_url: str, text: str, credentials: DemoCredentials) -> None:
    """The banner on stdout with text logs; with JSON logs (stdout is the log stream) one structured
    line naming where the credentials are, never the secrets themselves."""
    if settings.log.format == "text":
        print(text, flush=True)
        return
    base = _reachable(http_url)
    log.info("demo running (made-up data; not for real deployments): log in at %s/agent as %s and %s/supervisor as %s; passwords and SIP secret in %s",
             base, credentials.agent.agent_id, base, credentials.supervisor.agent_id, credentials.kept_in or f"none kept ({NEW_PASSWORDS_HINT})",
             extra={"demo": {"agent_page": f"{base}/agent", "supervisor_page": f"{base}/supervisor", "caller_page": f"{base}/try",
                             "agent": credentials.agent.agent_id, "supervisor": credentials.supervisor.agent_id, "sip_user": credentials.sip_user,
                             "sip_address": f"sip:{DEMO_NUMBER}@127.0.0.1:{settings.asterisk.sip_port}",
                             "credentials_file": str(credentials.kept_in) if credentials.kept_in else None}})


def settings_warning(settings: Settings) -> str | None:
    """One line when the operator's settings replace what the demo turns on, or None."""
    own = ([f"flows.inbound = {settings.flows.inbound}"] if settings.flows.inbound != DEMO_FLOW else []) + [f"lookups.{name}" for name in settings.lookups]
    if not own:
        return None
    return (f"threadline: warning: --demo runs under your settings ({', '.join(own)}): the demo CRM is used only where lookups.crm is unset, "
            "and --demo is not for real deployments")


def _reachable(http_url: str) -> str:
    """http://0.0.0.0:8080 listens everywhere; a browser on this machine uses 127.0.0.1."""
    scheme, _, rest = http_url.partition("://")
    host, _, port = rest.rpartition(":")
    return f"{scheme}://127.0.0.1:{port}" if host.strip("[]") in WILDCARD_HOSTS else http_url


@contextlib.asynccontextmanager
async def demo_running(settings: Settings, fresh_passwords: bool) -> AsyncIterator[tuple[Settings, Callable[[str], None]]]:
    """Issue the demo's credentials and serve its CRM while the engine runs. Yields the settings the
    engine runs with (lookups.crm pointed at the demo CRM unless the operator set one) and what to
    call once with the engine's HTTP address (the banner)."""
    credentials = await asyncio.to_thread(issue_credentials, settings, fresh_passwords)
    sip_port = settings.asterisk.sip_port

    def announcer(crm: str) -> Callable[[str], None]:
        return lambda http_url: announce(settings, http_url, banner(http_url, sip_port, credentials, crm), credentials)

    if "crm" in settings.lookups:
        yield settings, announcer(f"not used: lookups.crm is set ({settings.lookups['crm'].url})")
        return
    async with serve_demo_crm() as crm_url:
        with_crm = settings.model_copy(update={"lookups": {**settings.lookups, "crm": LookupEndpoint(url=crm_url)}})
        yield with_crm, announcer(f"{crm_url}   (made-up customers)")
