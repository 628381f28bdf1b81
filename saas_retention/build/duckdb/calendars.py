"""The two calendars of a DuckDB build: ``calendar`` (one row per reporting period) and
``calendar_days`` (one row per day), made from the periods staging found."""

from __future__ import annotations

from saas_retention.build.duckdb.stage import StagingReport
from saas_retention.core.config import Settings
from saas_retention.core.errors import SourceError
from saas_retention.core.periods import calendar_rows, period_index, period_start


def create_calendar(con, settings: Settings, report: StagingReport, *,
                     days: bool = True) -> None:
    import pyarrow as pa

    first, last = report.first_period_index, report.as_of_index
    if first is None:
        raise SourceError(
            f"subscriptions: no subscription is active on or before as_of "
            f"({settings.as_of_date}); nothing to build"
        )
    rows = calendar_rows(first, last, settings.grain, settings.week_start, settings.as_of_date)
    dates = ("period_start", "period_end", "last_day", "snapshot_date", "rolling_30_start",
             "rolling_365_start")
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema([("period_index", pa.int64()), *((d, pa.date32()) for d in dates)]),
    )
    con.register("sr_calendar_rows", table)
    con.execute("create or replace table calendar as select * from sr_calendar_rows "
                "order by period_index")
    con.unregister("sr_calendar_rows")
    if days:
        create_day_calendar(con, settings, report)


def create_day_calendar(con, settings: Settings, report: StagingReport) -> None:
    """``calendar_days``: every day from the earliest dated row (events, surveys…) or
    subscription period to as_of, with its week and month indexes — so daily averages count
    days without activity as zeros."""
    import datetime as dt

    import pyarrow as pa

    first_day = period_start(report.first_period_index, settings.grain, settings.week_start)
    if report.first_activity_date is not None:
        first_day = min(first_day, report.first_activity_date)
    # whole weeks and months: a daily average over a cut first month would be wrong
    first_day = min(period_start(period_index(first_day, "week", settings.week_start), "week",
                                 settings.week_start),
                    first_day.replace(day=1))
    last_day = settings.as_of_date
    days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    table = pa.table({
        "day_index": pa.array([period_index(d, "day") for d in days], pa.int64()),
        "activity_date": pa.array(days, pa.date32()),
        "week_index": pa.array([period_index(d, "week", settings.week_start) for d in days],
                               pa.int64()),
        "month_index": pa.array([period_index(d, "month") for d in days], pa.int64()),
        "period_index": pa.array([period_index(d, settings.grain, settings.week_start)
                                  for d in days], pa.int64()),
        # the month's first day, so monthly models need no date truncation (not portable)
        "month_start": pa.array([d.replace(day=1) for d in days], pa.date32()),
    })
    con.register("sr_day_rows", table)
    con.execute("create or replace table calendar_days as select * from sr_day_rows "
                "order by day_index")
    con.unregister("sr_day_rows")
