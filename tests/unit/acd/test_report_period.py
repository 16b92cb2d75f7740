"""A report's period: at most about 3,000 intervals, and every bad date names its field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.acd.historical_report import MAX_SLOTS, build_report
from engine.acd.report_commands import MAX_DAYS, ReportPeriodInvalid, period

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize(("since", "until", "interval", "field", "words"), [
    ("1900-01-01", "2100-12-31", "15m", "from", "outside the days"),
    ("9999-12-31", None, "hour", "from", "outside the days"),
    ("2026-01-01", "2026-12-31", "15m", "to", "at most 31 days"),
    ("2026-01-01", "2026-12-31", "hour", "to", "at most 92 days"),
    ("2020-01-01", "2026-12-31", "day", "to", "at most 732 days"),
    ("2026-02-30", None, "day", "from", "YYYY-MM-DD"),
    ("20260101", None, "day", "from", "YYYY-MM-DD"),
    ("2026-03-10", "2026-03-01", "day", "to", "before from"),
])
def test_a_bad_period_names_the_field(since: str, until: str | None, interval: str, field: str, words: str) -> None:
    with pytest.raises(ReportPeriodInvalid) as bad:
        period(since, until, interval, TODAY)
    assert bad.value.field == field and words in bad.value.problem and str(bad.value).startswith(f"{field}: ")


def test_the_longest_allowed_periods_fit_the_report() -> None:
    for interval, days in MAX_DAYS.items():
        start, end = period("2026-01-01", (date(2026, 1, 1) + timedelta(days=days - 1)).isoformat(), interval, TODAY)
        assert build_report({}, [], start.timestamp(), end.timestamp(), {"15m": 900, "hour": 3600, "day": 86400}[interval])
    with pytest.raises(ValueError, match=f"at most {MAX_SLOTS}"):
        build_report({}, [], 0.0, 900.0 * (MAX_SLOTS + 1), 900)
