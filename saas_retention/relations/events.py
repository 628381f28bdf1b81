"""Staging of the dated tables (events, surveys, referrals, support tickets) and of
``calendar_days``, as sqlglot trees for any dialect — the DuckDB build's (reading its typed
views, ``Target.typed``) and every warehouse's.

Contract columns typed, amounts as decimals, local-time day / week / month / period indexes,
hour of day, ISO day of week and the second on the local clock, rows after as_of left out.
Timestamps without a time zone are read as the reporting zone's local time; columns of a time-
zone-aware type are converted to it with the engine's own function (its dialects module).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from saas_retention.core.contract import TABLES
from saas_retention.dialects import date_functions, time_functions
from saas_retention.dialects.periods import period_index_sql, period_start_sql
from saas_retention.relations.target import (
    NUMBERS_DIGITS,
    cast,
    col,
    numbers,
    source_table,
    typed_value,
)

# contract table -> its time column
DATED_TABLES = {
    "events": "event_time",
    "survey_responses": "responded_at",
    "referrals": "referred_at",
    "support_tickets": "created_at",
}
SECONDS_PER_DAY = 86400


def _lit(n: int) -> exp.Literal:
    return exp.Literal.number(n)


def second_index_sql(ts: exp.Expression, dialect: str = "duckdb") -> exp.Expression:
    """The whole second since 1970-01-01 of a naive timestamp, as an integer, on every engine
    (no interval arithmetic): the day index times 86400 plus the time of day."""
    tf = time_functions(dialect)
    day = date_functions(dialect).to_date(ts.copy())
    day_index = period_index_sql(day, "day", dialect=dialect)
    return exp.Add(
        this=exp.Add(
            this=exp.Add(
                this=exp.Mul(this=day_index, expression=_lit(SECONDS_PER_DAY)),
                expression=exp.Mul(this=tf.hour(ts.copy()), expression=_lit(3600))),
            expression=exp.Mul(this=tf.minute(ts.copy()), expression=_lit(60))),
        expression=tf.second(ts.copy()))


# what time_index_columns adds to a dated row (the dbt package's column docs)
TIME_INDEX_DOCS = {
    "activity_date": "the local day (reporting time zone) of the row's time",
    "day_index": "days since 1970-01-01 of activity_date",
    "week_index": "index of activity_date's week (week_start)",
    "month_index": "index of activity_date's month",
    "period_index": "index of activity_date's period (the grain)",
    "hour_of_day": "local hour, 0–23",
    "day_of_week": "ISO day of week, Monday = 1 … Sunday = 7",
    "second_index": "seconds since 1970-01-01 on the local clock (sessions are cut on it)",
}


def time_index_columns(ts: exp.Expression, grain: str, week_start: str,
                       dialect: str = "duckdb") -> list[exp.Expression]:
    """The staged columns of a dated row, one definition for the DuckDB and warehouse staging:
    its local day, integer day / week / month / period indexes, hour, ISO day of week, and the
    second since 1970-01-01 on the local clock (sessions are cut on it)."""
    tf = time_functions(dialect)
    day = date_functions(dialect).to_date(ts.copy())
    day_index = period_index_sql(day, "day", dialect=dialect)
    second_index = second_index_sql(ts, dialect)
    return [
        exp.alias_(day, "activity_date", quoted=True),
        exp.alias_(day_index, "day_index", quoted=True),
        exp.alias_(period_index_sql(day, "week", week_start, dialect), "week_index",
                   quoted=True),
        exp.alias_(period_index_sql(day, "month", dialect=dialect), "month_index", quoted=True),
        exp.alias_(period_index_sql(day, grain, week_start, dialect), "period_index",
                   quoted=True),
        exp.alias_(tf.hour(ts.copy()), "hour_of_day", quoted=True),
        # ISO day of week, Monday = 1 … Sunday = 7, whatever the engine's convention
        exp.alias_(tf.iso_day_of_week(day.copy(), dialect), "day_of_week", quoted=True),
        exp.alias_(second_index, "second_index", quoted=True),
    ]


def typed_column(t, table: str, column: str) -> exp.Expression:
    """A contract column of a dated table, typed as the DuckDB build types it (which has
    typed it already when ``t.typed``)."""
    if t.typed:
        return typed_value(t, table, column)
    s = t.settings
    kind = TABLES[table].column(column).kind
    f = date_functions(t.dialect)
    tf = time_functions(t.dialect)
    present = t.has_table(table) and t.has_column(table, column)
    value: exp.Expression = col(s.source_column(table, column)) if present else exp.null()
    if kind in ("id", "text"):
        return cast(value, "VARCHAR")
    if kind == "number":
        # amounts add up exactly whatever the summation order, as in the DuckDB staging
        return f.money(cast(value, "DOUBLE"))
    if kind == "timestamp":
        if present and f"{table}.{column}" in t.tz_columns:
            return tf.local_time(value, s.timezone)
        if not present:
            return tf.null_timestamp(value)
        return tf.to_timestamp(value)
    if kind == "date":
        return t.cast(value, "DATE")
    return cast(value, "BOOLEAN")


def stg_dated(table: str) -> Callable:
    """The staging function of one dated table (registered in relations.registry.STAGING)."""

    def stage(t) -> exp.Select:
        s = t.settings
        contract = TABLES[table]
        time_column = DATED_TABLES[table]
        projections = [exp.alias_(typed_column(t, table, c.name), c.name, quoted=True)
                       for c in contract.columns]
        typed = exp.select(*projections)
        present = t.has_table(table)
        if present:
            typed = typed.from_(source_table(t, table))
        else:
            # an absent optional table is an empty one, as in the DuckDB staging: models
            # that merely enrich with it still run
            typed = typed.where(exp.EQ(this=_lit(1), expression=_lit(0)))
        names = [c.name for c in contract.columns]
        ts = col(time_column)
        as_of = t.as_of_sql
        return (
            exp.select(*(col(n) for n in names),
                       *time_index_columns(ts, s.grain, s.week_start, t.dialect))
            .from_(typed.subquery("contract"))
            .where(exp.LTE(this=date_functions(t.dialect).to_date(ts.copy()),
                           expression=as_of))
        )

    stage.__name__ = f"stg_{table}"
    return stage


def calendar_days(t) -> exp.Select:
    """Every day from the earliest dated row or subscription period (widened to whole weeks
    and months) to as_of, with its day / week / month / period indexes and month start."""
    s = t.settings
    f = date_functions(t.dialect)
    d = t.dialect

    def day_of(date: exp.Expression) -> exp.Expression:
        return f.day_number(date)

    first_period = exp.select(exp.alias_(
        day_of(period_start_sql(exp.func("min", col("first_period_index")), s.grain,
                                s.week_start, d)), "first_day")).from_("stg_subscriptions").where(
        exp.GTE(this=col("last_period_index"), expression=col("first_period_index")))
    firsts: exp.Query = first_period
    for table in DATED_TABLES:
        firsts = exp.union(firsts, exp.select(exp.alias_(exp.func("min", col("day_index")),
                                                         "first_day")).from_(f"stg_{table}"),
                           distinct=False)
    earliest = exp.select(exp.alias_(exp.func("min", col("first_day")), "first_day")
                          ).from_(firsts.subquery("firsts"))
    first_date = f.from_day_number(col("first_day"))
    week_start_day = day_of(period_start_sql(period_index_sql(first_date, "week", s.week_start,
                                                              d), "week", s.week_start, d))
    month_start_day = day_of(period_start_sql(period_index_sql(first_date.copy(), "month",
                                                               dialect=d), "month", dialect=d))
    widened = exp.select(
        exp.alias_(week_start_day, "week_first_day"),
        exp.alias_(month_start_day, "month_first_day"),
    ).from_(earliest.subquery("earliest"))
    bounds = exp.select(exp.alias_(exp.Case(
        ifs=[exp.If(this=exp.LT(this=col("week_first_day"), expression=col("month_first_day")),
                    true=col("week_first_day"))],
        default=col("month_first_day")), "first_day_index")).from_(widened.subquery("widened"))

    day_index = exp.paren(exp.Add(this=exp.column("first_day_index", table="bounds"),
                                  expression=exp.column("n", table="numbers")))
    days = (
        exp.select(exp.alias_(day_index, "day_index"))
        .from_(numbers(NUMBERS_DIGITS).subquery("numbers"))
        .join(bounds.subquery("bounds"), join_type="cross")
        .where(exp.LTE(this=day_index.copy(), expression=day_of(t.as_of_sql)))
    )
    dated = exp.select(
        col("day_index"),
        exp.alias_(f.from_day_number(col("day_index")), "activity_date"),
    ).from_(days.subquery("days"))
    date = col("activity_date")
    month_index = period_index_sql(date, "month", dialect=d)
    return exp.select(
        col("day_index"),
        col("activity_date"),
        exp.alias_(period_index_sql(date, "week", s.week_start, d), "week_index"),
        exp.alias_(month_index, "month_index"),
        exp.alias_(period_index_sql(date, s.grain, s.week_start, d), "period_index"),
        exp.alias_(period_start_sql(month_index.copy(), "month", dialect=d), "month_start"),
    ).from_(dated.subquery("dated"))


# the columns each relation adds to the contract's (core/contract.py), documented
DOCS = {f"stg_{table}": TIME_INDEX_DOCS for table in DATED_TABLES} | {
    "calendar_days": TIME_INDEX_DOCS | {"month_start": "first day of activity_date's month"}}
STAGING = {f"stg_{table}": stg_dated(table) for table in DATED_TABLES} | {
    "calendar_days": calendar_days}
# relations each one reads (the dated tables read only the user's sources)
STAGING_DEPS = {"calendar_days": ["stg_subscriptions", *(f"stg_{t}" for t in DATED_TABLES)]}
