"""`threadline report` and the data behind the reports page: reads the journey and agent states
for a period, and hands them to the pure report (engine/acd/historical_report.py). By channel, it
reads the legs, their journeys and their QA verdicts (engine/acd/channel_metrics.py); the same read
gives /metrics today's channel figures (`ChannelFiguresToday`)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import sys
import time as clock
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.config.acd_config import AcdConfig, load_acd
from engine.acd.channel_metrics import CHANNEL_KINDS, ChannelFigures, Leg, channel_figures, leg
from engine.acd.contact_metrics import STATE_LOOKBACK, JourneyEvent
from engine.acd.historical_report import BY, INTERVALS, REPORT_KINDS, build_report, channel_rows
from engine.config.problems import FlowInvalid
from engine.settings import Settings
from engine.store.agent_state_store import AgentStateStore
from engine.store.contact_store import ContactStore
from engine.store.database import create_engine, require_current
from engine.store.journey_store import JourneyStore
from engine.store.qa_store import QaStore

log = logging.getLogger(__name__)

MAX_DAYS = {"15m": 31, "hour": 92, "day": 732}
"""The longest period a report covers, by interval: about 3,000 intervals at most."""
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
COLUMNS = (
    "interval_start", "interval_end", "by", "key", "offered", "answered", "abandoned", "short_abandoned", "callbacks", "overflowed", "asa_s", "aht_s",
    "abandon_rate", "service_level", "service_level_2", "service_level_s", "occupancy", "csat", "nps", "surveys", "containment", "calls_arrived",
)
CHANNEL_COLUMNS = (
    "interval_start", "interval_end", "by", "key", "contacts", "legs", "contained", "containment", "handoffs_offered", "handoffs_completed",
    "handed_off_contacts", "repeat_checked", "repeated", "repeat_rate",
)
LEG_LOOKBACK = timedelta(days=1)
"""Legs are read from this long before a period, so a contact's first leg (a chat before midnight that
a call went on from after it) is known and its figures stay where that leg started."""
FIGURES_EVERY_S = 60.0
DATABASE_TIMEOUT_S = 10.0


async def report_rows(database: AsyncEngine, config: AcdConfig | None, start: datetime, end: datetime, interval: str, by: str) -> list[dict[str, Any]]:
    if by == "channel":
        legs = await channel_legs(database, start, end)
        return _local_times(await asyncio.to_thread(channel_rows, legs, start.timestamp(), end.timestamp(), INTERVALS[interval]))
    journeys: dict[str, list[JourneyEvent]] = {}
    for channel_id, kind, at, detail in await JourneyStore(database).events_of_kinds_since(REPORT_KINDS, start - STATE_LOOKBACK):
        journeys.setdefault(channel_id, []).append((kind, at.timestamp(), detail))
    changes = await AgentStateStore(database).changes_between(start - STATE_LOOKBACK, end)
    short: Mapping[str, float] | float = {name: q.short_abandon_s for name, q in config.queues.items()} if config else 5.0
    service: Mapping[str, float] | float = {name: q.service_level.seconds for name, q in config.queues.items()} if config else 20.0
    rows = await asyncio.to_thread(
        build_report, journeys, [(c.agent_id, c.at.timestamp(), c.status) for c in changes], start.timestamp(), end.timestamp(), INTERVALS[interval], by, short, service,
    )
    return _local_times(rows)


def _local_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for field in ("interval_start", "interval_end"):
            row[field] = datetime.fromtimestamp(row[field]).astimezone().isoformat(timespec="minutes")
    return rows


async def channel_legs(database: AsyncEngine, start: datetime, end: datetime) -> list[Leg]:
    """The legs that started in [start - LEG_LOOKBACK, end), each with its journey (CHANNEL_KINDS) and,
    for a phone leg, the QA repeated-question verdict of its transcripts."""
    since = start - LEG_LOOKBACK
    journeys_store = JourneyStore(database)
    started = await ContactStore(database, journeys_store).legs_started_between(since, end)
    journeys: dict[str, list[JourneyEvent]] = {}
    for channel_id, kind, at, detail in await journeys_store.events_of_kinds_since(CHANNEL_KINDS, since):
        journeys.setdefault(channel_id, []).append((kind, at.timestamp(), detail))
    verdicts = await QaStore(database).repeated_question_results([one.channel_id for one in started if one.channel == "phone"])
    return [leg(one.channel_id, one.channel, one.contact_id, one.started_at.timestamp(), journeys.get(one.channel_id, []), verdicts.get(one.channel_id))
            for one in started]


class ChannelFiguresToday:
    """Today's channel figures for /metrics, computed every minute off the scrape from the same read
    and formulas as the report by channel; the last good figures stay if the database is slow."""

    def __init__(self, database: AsyncEngine, wall_clock: Callable[[], float] = clock.time, every_s: float = FIGURES_EVERY_S) -> None:
        self._database = database
        self._wall_clock = wall_clock
        self._every_s = every_s
        self.latest: dict[str, ChannelFigures] | None = None

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._every_s)

    async def refresh(self) -> None:
        now = datetime.fromtimestamp(self._wall_clock()).astimezone()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_S):
                legs = await channel_legs(self._database, midnight, now + timedelta(seconds=1))
        except Exception as exc:  # the database is down or slow: /metrics keeps the last figures
            log.warning("channel figures not refreshed: %s", exc)
            return
        self.latest = await asyncio.to_thread(channel_figures, legs, midnight.timestamp(), now.timestamp() + 1)


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
    columns = CHANNEL_COLUMNS if rows and all(row.get("by") == "channel" for row in rows) else COLUMNS
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: ("" if row.get(key) is None else row.get(key)) for key in columns} for row in rows)
    return out.getvalue()


def add_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="historical figures per queue or agent and interval (CSV, or JSON for machines)")
    report.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (default: today)")
    report.add_argument("--to", dest="until", help="last day, YYYY-MM-DD (default: the first day)")
    report.add_argument("--interval", choices=sorted(INTERVALS), default="hour")
    report.add_argument("--by", choices=list(BY), default="queue")
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
