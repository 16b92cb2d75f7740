"""`threadline agents list|passwd|provision|sip-secret`: operators manage agents' access from the shell."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Mapping
from pathlib import Path

from engine.config.acd_config import AgentSettings, load_acd
from engine.acd.agent_provisioning import provision_agents
from engine.acd.agent_secrets import AgentSecrets, SecretsError
from engine.config.problems import FlowInvalid
from engine.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agents = commands.add_parser("agents", help="agents: web passwords and SIP credentials")
    sub = agents.add_subparsers(dest="agents_command", required=True)
    sub.add_parser("list", help="every agent, its extension, roles, skills, and whether it has a password and SIP credentials")
    passwd = sub.add_parser("passwd", help="set an agent's web password (stored as an argon2 hash)")
    passwd.add_argument("agent_id")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input (for scripts)")
    sub.add_parser("provision", help="write agents' SIP endpoints for Asterisk, reload it, and show new SIP secrets once")
    rotate = sub.add_parser("sip-secret", help="issue a new SIP secret for an agent (the old one stops working) and show it once")
    rotate.add_argument("agent_id")
    for parser in sub.choices.values():
        parser.add_argument("--flows", type=Path, default=None, help="the flow folder (default: flows.folder)")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    try:
        config = load_acd(args.flows or settings.flows.folder)
        secrets = AgentSecrets(settings.agent_secrets_path)
    except FlowInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 1
    except SecretsError as exc:
        print(f"threadline agents: {exc}", file=sys.stderr)
        return 2
    command = args.agents_command
    if command == "list":
        for agent_id, agent in sorted(config.agents.items()):
            skills = ", ".join(f"{skill} {level}" for skill, level in sorted(agent.skills.items()))
            flags = f"password {'set' if secrets.has_web_password(agent_id) else 'NOT SET'}; sip {'yes' if secrets.sip_digest(agent_id) else 'not provisioned'}"
            print(f"{agent_id}\t{agent.extension}\t{agent.name}\t{'/'.join(agent.roles)}\t{skills}\t{flags}")
        return 0
    if command in ("passwd", "sip-secret") and args.agent_id not in config.agents:
        print(f"threadline agents: no agent `{args.agent_id}` in {args.flows or settings.flows.folder}/agents (there are: {', '.join(sorted(config.agents))})", file=sys.stderr)
        return 2
    if command == "passwd":
        return _passwd(args, secrets)
    if command == "sip-secret":
        agent = config.agents[args.agent_id]
        secret = secrets.issue_sip_secret(args.agent_id, agent.extension)
        secrets.save()
        print(f"{args.agent_id}: SIP user {agent.extension}, secret {secret}  (shown once; run `threadline agents provision` to apply)")
        return 0
    return _provision(config.agents, secrets, settings)


def _passwd(args: argparse.Namespace, secrets: AgentSecrets) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"new web password for {args.agent_id}: ")
        if getpass.getpass("again: ") != password:
            print("threadline agents passwd: the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    try:
        secrets.set_web_password(args.agent_id, password)
    except SecretsError as exc:
        print(f"threadline agents passwd: {exc}", file=sys.stderr)
        return 2
    secrets.save()
    print(f"web password set for {args.agent_id}")
    return 0


def _provision(agents: Mapping[str, AgentSettings], secrets: AgentSecrets, settings: Settings) -> int:
    from engine.localpbx.local_asterisk import LocalAsterisk

    result = provision_agents(agents, secrets, settings.asterisk_etc_dir)
    for agent_id, secret in sorted(result.new_secrets.items()):
        print(f"{agent_id}: SIP user {agents[agent_id].extension}, secret {secret}  (shown once: give it to the agent now)")
    if not result.changed:
        print(f"{result.path}: already up to date")
        return 0
    pbx = LocalAsterisk(settings)
    if pbx.pid() is not None:
        print(pbx.rx("module reload res_pjsip.so").strip() or "res_pjsip reloaded")
    print(f"wrote {result.path}")
    return 0
