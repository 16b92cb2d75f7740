"""`threadline report` and the data behind the reports page: reads the journey and agent states
for a period, and hands them to the pure report (engine/acd/historical_report.py)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.config.acd_config import AcdConfig, load_acd
from engine.acd.contact_metrics import STATE_LOOKBACK, JourneyEvent
from engine.acd.historical_report import INTERVALS, REPORT_KINDS, build_report
from engine.config.problems import FlowInvalid
from engine.settings import Settings
from engine.store.agent_state_store import AgentStateStore
from engine.store.database import create_engine, require_current
from engine.store.journey_store import JourneyStore

MAX_DAYS = {"15m": 31, "hour": 92, "day": 732}
"""The longest period a report covers, by interval: about 3,000 intervals at most."""
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
COLUMNS = (
    "interval_start", "interval_end", "by", "key", "offered", "answered", "abandoned", "short_abandoned", "callbacks", "overflowed", "asa_s", "aht_s",
    "abandon_rate", "service_level", "service_level_2", "service_level_s", "occupancy", "csat", "nps", "surveys", "containment", "calls_arrived",
)


async def report_rows(database: AsyncEngine, config: AcdConfig | None, start: datetime, end: datetime, interval: str, by: str) -> list[dict[str, Any]]:
    journeys: dict[str, list[JourneyEvent]] = {}
    for channel_id, kind, at, detail in await JourneyStore(database).events_of_kinds_since(REPORT_KINDS, start - STATE_LOOKBACK):
        journeys.setdefault(channel_id, []).append((kind, at.timestamp(), detail))
    changes = await AgentStateStore(database).changes_between(start - STATE_LOOKBACK, end)
    short: Mapping[str, float] | float = {name: q.short_abandon_s for name, q in config.queues.items()} if config else 5.0
    service: Mapping[str, float] | float = {name: q.service_level.seconds for name, q in config.queues.items()} if config else 20.0
    rows = await asyncio.to_thread(
        build_report, journeys, [(c.agent_id, c.at.timestamp(), c.status) for c in changes], start.timestamp(), end.timestamp(), INTERVALS[interval], by, short, service,
    )
    for row in rows:
        for field in ("interval_start", "interval_end"):
            row[field] = datetime.fromtimestamp(row[field]).astimezone().isoformat(timespec="minutes")
    return rows


class ReportPeriodInvalid(ValueError):
    """A report period an operator must fix; `field` is "from", "to" or "interval"."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def period(since: str | None, until: str | None, interval: str = "hour", today: date | None = None) -> tuple[datetime, datetime]:
    """Local days, the contact centre's: --from inclusive, --to inclusive; default today. At most
    MAX_DAYS[interval] days (a 15-minute report of a century is millions of rows)."""
    today = today or date.today()
    first = _day("from", since) if since else today
    last = _day("to", until) if until else first
    if last < first:
        raise ReportPeriodInvalid("to", f"{last} is before from ({first})")
    days = (last - first).days + 1
    if interval in MAX_DAYS and days > MAX_DAYS[interval]:
        raise ReportPeriodInvalid(
            "to", f"{days} days from {first} is too long for interval {interval} (at most {MAX_DAYS[interval]} days; choose a shorter period or a longer interval)"
        )
    return datetime.combine(first, time()).astimezone(), datetime.combine(last + timedelta(days=1), time()).astimezone()


def _day(field: str, value: str) -> date:
    if len(value) != 10:
        raise ReportPeriodInvalid(field, f"a date as YYYY-MM-DD (got {value[:40]!r})")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ReportPeriodInvalid(field, f"a date as YYYY-MM-DD (got {value!r})") from None
    if not EARLIEST <= day <= LATEST:
        raise ReportPeriodInvalid(field, f"{day} is outside the days a report covers ({EARLIEST} to {LATEST})")
    return day


def as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: ("" if row.get(key) is None else row.get(key)) for key in COLUMNS} for row in rows)
    return out.getvalue()


def add_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="historical figures per queue or agent and interval (CSV, or JSON for machines)")
    report.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (default: today)")
    report.add_argument("--to", dest="until", help="last day, YYYY-MM-DD (default: the first day)")
    report.add_argument("--interval", choices=sorted(INTERVALS), default="hour")
    report.add_argument("--by", choices=["queue", "agent"], default="queue")
    report.add_argument("--format", choices=["csv", "json"], default="csv")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    try:
        start, end = period(args.since, args.until, args.interval)
    except ReportPeriodInvalid as exc:
        print(f"threadline report: --{exc.field}: {exc.problem}", file=sys.stderr)
        return 2
    try:
        config = load_acd(settings.flows.folder)
    except FlowInvalid as invalid:
        print(f"threadline report: the queues in {settings.flows.folder} do not validate:\n{invalid}", file=sys.stderr)
        return 1
    rows = asyncio.run(_rows(settings, config, start, end, args.interval, args.by))
    sys.stdout.write(json.dumps({"from": start.isoformat(), "to": end.isoformat(), "interval": args.interval, "by": args.by, "rows": rows}, ensure_ascii=False, indent=1) + "\n"
                     if args.format == "json" else as_csv(rows))
    return 0


async def _rows(settings: Settings, config: AcdConfig, start: datetime, end: datetime, interval: str, by: str) -> list[dict[str, Any]]:
    database = create_engine(settings.database.url)
    try:
        await require_current(database, settings.database.url)
        return await report_rows(database, config, start, end, interval, by)
    finally:
        await database.dispose()
