"""SQLite: no date type (dates are 'YYYY-MM-DD' text, computed through julian days), no
DECIMAL, no time zones, no CREATE SCHEMA."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from saas_retention.core.errors import ConfigError
from saas_retention.dialects.base import (
    EXECUTED,
    DateFunctions,
    Engine,
    RecordFunctions,
    TimeFunctions,
    iso_dow_from_days,
    json_path,
)

# the julian day of 1970-01-01 at midnight
JULIAN_EPOCH = 2440587.5


def strftime_int(fmt: str) -> Callable[[exp.Expression], exp.Expression]:
    return lambda d: exp.cast(exp.Anonymous(this="STRFTIME", expressions=[
        exp.Literal.string(fmt), d]), exp.DataType.Type.INT)


def to_date(e: exp.Expression) -> exp.Expression:
    # CAST(x AS DATE) in SQLite gives a number (the year); DATE(x) gives 'YYYY-MM-DD' text
    return exp.Anonymous(this="DATE", expressions=[e])


def day_number(d: exp.Expression) -> exp.Expression:
    # dates are at midnight, so the difference of julian days is whole
    return exp.cast(
        exp.Sub(this=exp.Anonymous(this="JULIANDAY", expressions=[d]),
                expression=exp.Literal.number(JULIAN_EPOCH)),
        exp.DataType.Type.INT,
    )


def from_day_number(n: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="DATE", expressions=[
        exp.Add(this=exp.Literal.number(JULIAN_EPOCH), expression=n)])


def from_parts(y, m, d) -> exp.Expression:
    return exp.Anonymous(this="DATE", expressions=[exp.Anonymous(this="PRINTF", expressions=[
        exp.Literal.string("%04d-%02d-%02d"), y, m, d])])


def no_time_zones(ts: exp.Expression, tz: str) -> exp.Expression:
    raise ConfigError("SQLite has no time-zone-aware timestamp type: store local times (or "
                      "UTC times and set timezone: UTC)")


def no_local_clock(ts: exp.Expression, tz: str) -> exp.Expression:
    raise ConfigError(f"timezone: {tz!r}: SQLite has no time zones, so a connector's times "
                      "(UTC in the tool's export) cannot be converted to the reporting time "
                      "zone; set timezone: UTC, or build with DuckDB or PostgreSQL")


# a number as text that DuckDB's typing of text reads too (no inf/nan words: SQLite casts
# them to 0, so they are refused as text that is not a number)
NUMBER_TEXT = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def not_of_kind(value: exp.Expression, kind: str) -> exp.Expression:
    """SQLite keeps whatever is inserted: a cast makes 0 of the text 'abc' (an mrr counted as
    0), and DATE() keeps '2025-02-30', which julian days read as 2025-03-02. A number is one
    stored as a number or text shaped like one (regexp(): SQLAlchemy's connections define it); a
    date is text whose first ten characters survive a round trip through its julian day."""
    def fn(name: str, *args: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this=name, expressions=list(args))

    stored = fn("TYPEOF", value.copy())
    text = fn("TRIM", exp.cast(value.copy(), exp.DataType.Type.TEXT))
    if kind == "number":
        # `text REGEXP pattern` is SQLite's spelling of regexp(pattern, text), which older
        # sqlglot writes as REGEXP_LIKE, a function SQLite lacks
        shaped = fn("REGEXP", exp.Literal.string(NUMBER_TEXT), text)
        return exp.and_(stored.isin(exp.Literal.string("integer"), exp.Literal.string("real"),
                                    exp.Literal.string("null")).not_(),
                        exp.Not(this=exp.func("coalesce", shaped, exp.false())))
    day = fn("SUBSTR", text, exp.Literal.number(1), exp.Literal.number(10))
    same = exp.EQ(this=fn("DATE", fn("JULIANDAY", day)), expression=day.copy())
    return exp.and_(value.copy().is_(exp.null()).not_(),
                    exp.or_(exp.NEQ(this=stored, expression=exp.Literal.string("text")),
                            exp.Not(this=exp.func("coalesce", same, exp.false()))))


ENGINE = Engine(
    name="sqlite",
    tier=EXECUTED,
    sqlalchemy_names=("sqlite",),
    dates=DateFunctions(
        year=strftime_int("%Y"),
        month=strftime_int("%m"),
        day_number=day_number,
        from_parts=from_parts,
        from_day_number=from_day_number,
        to_date=to_date,
        # SQLite has no DECIMAL (the cast keeps every digit): round to the 6 places others keep
        money=lambda e: exp.Round(this=e, decimals=exp.Literal.number(6)),
    ),
    times=TimeFunctions(
        hour=strftime_int("%H"), minute=strftime_int("%M"), second=strftime_int("%S"),
        iso_day_of_week=iso_dow_from_days, local_time=no_time_zones,
        # DATETIME() normalises 'YYYY-MM-DDTHH:MM:SS' text to 'YYYY-MM-DD HH:MM:SS'
        to_timestamp=lambda e: exp.Anonymous(this="DATETIME", expressions=[e]),
        # no timestamp type to cast to: an absent column's NULL stays a plain NULL
        null_timestamp=lambda e: e,
    ),
    records=RecordFunctions(utc_to_local=no_local_clock),
    nulls="small",
    window_nulls_ordering=True,
    # one database per file: no schemas to create
    creates_schemas=False,
    json_text=lambda j, k: exp.Anonymous(this="JSON_EXTRACT", expressions=[j, json_path(k)]),
    not_of_kind=not_of_kind,
)
