"""Spark SQL: DATEDIFF/DATE_ADD on INT day counts, timestamps that are instants shown in the
session zone."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    EXECUTED,
    DateFunctions,
    Engine,
    TimeFunctions,
    anonymous,
    epoch,
    iso_dow_from_days,
    json_path,
)


def day_number(d: exp.Expression) -> exp.Expression:
    # DATEDIFF(end, start) is an INT in Spark; the three-argument form is a BIGINT
    return exp.Anonymous(this="DATEDIFF", expressions=[d, epoch()])


def from_day_number(n: exp.Expression) -> exp.Expression:
    # DATE_ADD takes an INT day count
    return exp.Anonymous(this="DATE_ADD", expressions=[epoch(), exp.cast(
        n, exp.DataType.Type.INT)])


DATES = DateFunctions(day_number=day_number, from_parts=anonymous("MAKE_DATE"),
                      from_day_number=from_day_number)
TIMES = TimeFunctions(
    hour=anonymous("HOUR"), minute=anonymous("MINUTE"), second=anonymous("SECOND"),
    iso_day_of_week=iso_dow_from_days,
    # Spark timestamps are instants shown in the session zone; from_utc_timestamp shifts one
    # so that, shown in UTC, it reads as the local clock of tz
    local_time=lambda ts, tz: exp.Anonymous(this="FROM_UTC_TIMESTAMP", expressions=[
        ts, exp.Literal.string(tz)]),
    from_utc=lambda ts, tz: exp.Anonymous(this="FROM_UTC_TIMESTAMP", expressions=[
        ts, exp.Literal.string(tz)]),
)

ENGINE = Engine(
    name="spark",
    tier=EXECUTED,
    aliases=("pyspark", "sparksql"),
    sqlalchemy_names=("hive",),
    dates=DATES,
    times=TIMES,
    nulls="small",
    window_nulls_ordering=True,
    json_text=lambda j, k: exp.Anonymous(this="GET_JSON_OBJECT", expressions=[j, json_path(k)]),
)
