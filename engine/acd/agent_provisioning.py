"""Agents' SIP endpoints in Asterisk, from ivr_flows/agents/*.yaml: generated config plus a reload.

Chosen over ARI push configuration (PUT /ari/asterisk/config/dynamic/res_pjsip/...) because push
configuration only works for sorcery objects backed by a writable wizard (memory or astdb), which
would make the agents' endpoints vanish or go stale across Asterisk restarts unless the engine
re-pushed them, while a generated file is Asterisk's own source of truth, survives restarts, is
readable by operators, and `module reload res_pjsip.so` applies additions and removals without
dropping calls. The file holds MD5 digests only (auth_type = md5), never secrets.

Each agent has two endpoints: `<extension>` for a SIP softphone and `web<extension>` for the
browser phone in the agent page (template agent-web-defaults: WebRTC), each with its own secret.
A supervisor (role supervisor) also has `mon<extension>`, the supervisor page's phone (WebRTC too):
only monitoring calls ring it; the ACD never counts it as an agent phone.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.config.acd_config import UNSAFE_NAME_CATEGORIES, AgentSettings
from engine.acd.agent_phones import browser_phone_endpoint, monitor_phone_endpoint
from engine.acd.agent_secrets import SIP_REALM, AgentSecrets, sip_digest

log = logging.getLogger(__name__)
AGENTS_CONF = "pjsip_agents.conf"
_SAFE_ID = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_SAFE_EXTENSION = re.compile(r"[0-9]{2,8}", re.ASCII)


@dataclass(frozen=True)
class ProvisionResult:
    changed: bool
    """The config file changed: Asterisk must reload res_pjsip."""
    new_secrets: Mapping[str, str] = field(default_factory=dict)
    """Agent id -> SIP secret issued now: to be shown once, then forgotten."""
    path: Path | None = None


def render_agents_conf(agents: Mapping[str, AgentSettings], secrets: AgentSecrets) -> str:
    lines = ["; Written by Threadline from ivr_flows/agents/*.yaml: edit those files, not this one.", ""]
    for agent_id, agent in sorted(agents.items(), key=lambda item: item[1].extension):
        digest = secrets.sip_digest(agent_id)
        if digest is None:
            continue
        ext = agent.extension
        if not (_SAFE_ID.fullmatch(agent_id) and _SAFE_EXTENSION.fullmatch(ext)):
            log.error("agent %r not written to %s: its id or extension is not a plain name and number", agent_id, AGENTS_CONF)
            continue
        name = config_safe_name(agent.name)
        lines += [f"; {agent_id}: {name}", *_endpoint_lines(ext, "agent-defaults", ext, agent_id, name, digest)]
        web_digest = secrets.browser_phone_digest(agent_id)
        if web_digest is not None:
            lines += [f"; {agent_id}'s browser phone (the agent page)", *_endpoint_lines(browser_phone_endpoint(ext), "agent-web-defaults", ext, agent_id, name, web_digest)]
        page_phone = secrets.monitor_phone(agent_id) if "supervisor" in agent.roles else None
        if page_phone is not None:
            monitor_digest = sip_digest(*page_phone)
            lines += [f"; {agent_id}'s supervisor page phone (monitoring calls only)",
                      *_endpoint_lines(monitor_phone_endpoint(ext), "agent-web-defaults", ext, agent_id, name, monitor_digest, "THREADLINE_SUPERVISOR")]
    return "\n".join(lines)


def _endpoint_lines(endpoint: str, template: str, extension: str, agent_id: str, name: str, digest: str, who: str = "THREADLINE_AGENT") -> list[str]:
    """One phone of an agent: endpoint, md5 auth and a one-contact AOR, all named `endpoint`."""
    return [
        f"[{endpoint}]({template})",
        f"auth = {endpoint}",
        f"aors = {endpoint}",
        f'callerid = "{name}" <{extension}>',
        f"set_var = {who}={agent_id}",
        "",
        f"[{endpoint}]",
        "type = auth",
        "auth_type = md5",
        f"username = {endpoint}",
        f"realm = {SIP_REALM}",
        f"md5_cred = {digest}",
        "",
        f"[{endpoint}]",
        "type = aor",
        "max_contacts = 1",
        "remove_existing = yes",
        "qualify_frequency = 15",
        "",
    ]


def config_safe_name(name: str) -> str:
    """An agent's name as pjsip_agents.conf may hold it, inside `callerid = "NAME" <ext>` and a
    comment: one line (line breaks and control or format characters become `?`, so nothing can
    start a new line or section), no `"` (it would end the quoted name), `;` escaped (Asterisk
    would read the rest of the line as a comment). Validation refuses such names at their file:line
    first; this is the writer's own guard for names that came another way."""
    safe = "".join("?" if unicodedata.category(char) in UNSAFE_NAME_CATEGORIES else char for char in name)
    return safe.replace('"', "'").replace("\\", "/").replace(";", "\\;")


def provision_agents(agents: Mapping[str, AgentSettings], secrets: AgentSecrets, etc_dir: Path) -> ProvisionResult:
    """Issue secrets to agents who have none (or whose extension changed), for the softphone and the
browser phone, and write the config if it changed."""
    issued: dict[str, str] = {}
    browser_phones = False
    for agent_id, agent in agents.items():
        if secrets.sip_digest(agent_id) is None or secrets.sip_user(agent_id) != agent.extension:
            issued[agent_id] = secrets.issue_sip_secret(agent_id, agent.extension)
        phone = secrets.browser_phone(agent_id)
        if phone is None or phone[0] != browser_phone_endpoint(agent.extension):
            secrets.issue_browser_phone_secret(agent_id, browser_phone_endpoint(agent.extension))  # the page fetches it: nothing to show
            browser_phones = True
        monitor = secrets.monitor_phone(agent_id)
        if "supervisor" in agent.roles and (monitor is None or monitor[0] != monitor_phone_endpoint(agent.extension)):
            secrets.issue_monitor_phone_secret(agent_id, monitor_phone_endpoint(agent.extension))
            browser_phones = True
    if issued or browser_phones:
        secrets.save()
    target = etc_dir / AGENTS_CONF
    text = render_agents_conf(agents, secrets)
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return ProvisionResult(False, issued, target)
    _write_like_its_folder(target, text)
    return ProvisionResult(True, issued, target)


def _write_like_its_folder(target: Path, text: str) -> None:
    """Mode 0640, owned like the folder (the chroot's or the container's asterisk user can read it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    folder = target.parent.stat()
    try:
        os.chown(partial, folder.st_uid, folder.st_gid)
    except PermissionError:
        log.warning("cannot give %s to the owner of %s; Asterisk may not be able to read it", target, target.parent)
    partial.replace(target)


def write_new_secret(folder: Path, agent_id: str, extension: str, secret: str) -> Path:
    """A secret the engine issued (an agent added while it runs), in a 0600 file for the operator."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{agent_id}.txt"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(f"agent {agent_id}: SIP user {extension}, secret {secret}\n")
    return path

