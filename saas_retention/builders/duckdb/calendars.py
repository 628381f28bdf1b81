"""The two calendars of a DuckDB build: ``calendar`` (one row per reporting period) and
``calendar_days`` (one row per day) — the portable queries of ``saas_retention.relations``
every warehouse builds them with, stored with the types and row order readers of the file
know."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.builders.duckdb.stage import StagingReport, engine_values
from saas_retention.core.config import Settings
from saas_retention.core.errors import SourceError
from saas_retention.relations.graph import relation_ast
from saas_retention.relations.target import Target

# relation -> its columns' types in the file, and the column its rows are stored in order of
# (DuckDB computes the calendar dates as TIMESTAMP: DATE + INTERVAL)
COLUMNS = {
    "calendar": ({"period_index": "BIGINT", "period_start": "DATE", "period_end": "DATE",
                  "last_day": "DATE", "snapshot_date": "DATE", "rolling_30_start": "DATE",
                  "rolling_365_start": "DATE"}, "period_index"),
    "calendar_days": ({"day_index": "BIGINT", "activity_date": "DATE", "week_index": "BIGINT",
                       "month_index": "BIGINT", "period_index": "BIGINT",
                       "month_start": "DATE"}, "day_index"),
}


def create_calendar(con, settings: Settings, report: StagingReport, *,
                    days: bool = True) -> None:
    """``calendar``, and with ``days`` ``calendar_days`` (every day from the earliest dated row
    or subscription period to as_of, whole weeks and months: daily averages count days without
    activity as zeros), from the staged relations."""
    if report.first_period_index is None:
        raise SourceError(
            f"subscriptions: no subscription is active on or before as_of "
            f"({settings.as_of_date}); nothing to build"
        )
    target = Target("duckdb", settings, typed=True)
    for name in ("calendar", "calendar_days") if days else ("calendar",):
        types, order = COLUMNS[name]
        select = (
            exp.select(*(exp.alias_(exp.cast(exp.column(c, quoted=True), t), c, quoted=True)
                         for c, t in types.items()))
            .from_(relation_ast(name, target).subquery(name))
            .order_by(exp.column(order, quoted=True))
        )
        create = exp.Create(this=exp.table_(name, quoted=True), kind="TABLE", replace=True,
                            expression=select)
        with engine_values(name):
            con.execute(create.sql("duckdb"))
