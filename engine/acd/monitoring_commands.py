"""`threadline monitoring audit`: who listened to, whispered to or barged into which call, from the
monitoring audit in the database (engine/acd/monitoring.py groups its rows into sessions)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.acd.monitoring import audit_sessions
from engine.settings import Settings
from engine.store.database import create_engine, require_current
from engine.store.monitoring_store import MonitoringStore


def add_parser(commands: Any) -> None:
    monitoring = commands.add_parser("monitoring", help="supervisors' monitoring of agents' calls")
    monitoring_commands = monitoring.add_subparsers(dest="monitoring_command", required=True)
    audit = monitoring_commands.add_parser("audit", help="the monitoring sessions of the last hours: who, which agent and call, each mode, start and end")
    audit.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    audit.add_argument("--json", action="store_true", help="one JSON document instead of lines")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if not 0 < args.hours <= 24 * 366:
        print("threadline monitoring audit: --hours: a number of hours from 0 to 8784", file=sys.stderr)
        return 2
    sessions = asyncio.run(_sessions(settings, datetime.now(UTC) - timedelta(hours=args.hours)))
    if args.json:
        print(json.dumps({"sessions": sessions}, ensure_ascii=False, indent=2))
        return 0
    for session in sessions:
        modes = " -> ".join(f"{m['mode']} {m['at']}" for m in session["modes"]) or "never connected"
        ended = f"ended {session['ended_at']} ({session['end_reason']})" if session["ended_at"] else "still running"
        print(f"{session['started_at']} {session['supervisor']} monitored {session['agent']} on call {session['call_id']}: {modes}; {ended}")
    if not sessions:
        print(f"no monitoring sessions in the last {args.hours:g} hours")
    return 0


async def _sessions(settings: Settings, since: datetime) -> list[dict[str, Any]]:
    database = create_engine(settings.database.url)
    try:
        await require_current(database, settings.database.url)
        return audit_sessions(await MonitoringStore(database).since(since, limit=100_000))
    finally:
        await database.dispose()
