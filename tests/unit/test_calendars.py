"""The DuckDB build's two calendars, made by the portable queries of ``saas_retention.relations``,
against an independent reference: Python's date arithmetic (``core.periods``), day by day."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from saas_retention.builders.duckdb.calendars import create_calendar
from saas_retention.builders.duckdb.stage import StagingReport
from saas_retention.core.config import load_settings
from saas_retention.core.periods import calendar_rows, period_index, period_start
from saas_retention.relations.events import DATED_TABLES


def _days(settings, first_period: int, first_activity: dt.date | None) -> list[tuple]:
    """``calendar_days`` in Python: whole weeks and months from the earliest day on."""
    first = period_start(first_period, settings.grain, settings.week_start)
    if first_activity is not None:
        first = min(first, first_activity)
    first = min(period_start(period_index(first, "week", settings.week_start), "week",
                             settings.week_start), first.replace(day=1))
    days = [first + dt.timedelta(days=i)
            for i in range((settings.as_of_date - first).days + 1)]
    return [(period_index(d, "day"), d, period_index(d, "week", settings.week_start),
             period_index(d, "month"), period_index(d, settings.grain, settings.week_start),
             d.replace(day=1)) for d in days]


@pytest.mark.parametrize("grain,week_start,as_of,start,activity", [
    ("month", "monday", dt.date(2025, 12, 31), dt.date(2023, 3, 15), dt.date(2023, 1, 31)),
    ("week", "sunday", dt.date(2024, 2, 29), dt.date(2023, 12, 31), None),
    ("quarter", "wednesday", dt.date(2025, 5, 17), dt.date(2022, 11, 30), dt.date(2023, 1, 1)),
    ("day", "monday", dt.date(2024, 3, 3), dt.date(2024, 1, 30), dt.date(2023, 12, 25)),
    ("year", "friday", dt.date(2026, 1, 1), dt.date(2019, 7, 4), dt.date(2019, 2, 28)),
])
def test_calendars_match_python_dates(grain, week_start, as_of, start, activity):
    settings = load_settings(grain=grain, week_start=week_start, as_of=as_of)
    first = period_index(start, grain, week_start)
    last = period_index(as_of, grain, week_start)
    con = duckdb.connect()
    try:
        con.execute("create table stg_subscriptions as select ?::bigint as first_period_index, "
                    "?::bigint as last_period_index", [first, last])
        for table in DATED_TABLES:
            day = None if activity is None or table != "events" else period_index(activity,
                                                                                  "day")
            con.execute(f"create table stg_{table} as select ?::bigint as day_index", [day])
        report = StagingReport(first_period_index=first, as_of_index=last)
        create_calendar(con, settings, report)
        rows = con.execute("select * from calendar").fetchall()
        expected = calendar_rows(first, last, grain, week_start, as_of)
        assert rows == [tuple(r.values()) for r in expected]
        assert con.execute("select * from calendar_days").fetchall() == _days(settings, first,
                                                                              activity)
        types = {n: t for n, t, *_ in con.execute("describe calendar_days").fetchall()}
        assert types == {"day_index": "BIGINT", "activity_date": "DATE", "week_index": "BIGINT",
                         "month_index": "BIGINT", "period_index": "BIGINT",
                         "month_start": "DATE"}
    finally:
        con.close()
