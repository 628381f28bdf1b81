"""DuckDB: the reference engine (every template is written in its SQL), so it differs from the
defaults only in what its own functions do better, and in its macros."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    EXECUTED,
    DateFunctions,
    Engine,
    TimeFunctions,
    anonymous,
    extract,
    floor_second,
    json_path,
)


def create_macro(name: str, args: list[str], _type: str | None, body: str) -> str:
    return f"CREATE OR REPLACE MACRO {name}({', '.join(args)}) AS ({body})"


ENGINE = Engine(
    name="duckdb",
    tier=EXECUTED,
    sqlalchemy_names=("duckdb",),
    dates=DateFunctions(from_parts=anonymous("MAKE_DATE")),
    times=TimeFunctions(
        # what the DuckDB staging has always used
        hour=extract("HOUR"), minute=extract("MINUTE"), second=floor_second,
        iso_day_of_week=lambda d, _dialect: exp.Extract(this=exp.var("ISODOW"), expression=d),
        local_time=lambda ts, tz: exp.Anonymous(this="TIMEZONE", expressions=[
            exp.Literal.string(tz), ts]),
    ),
    nulls="last",
    window_nulls_ordering=True,
    create_function=create_macro,
    json_text=lambda j, k: exp.Anonymous(this="JSON_EXTRACT_STRING", expressions=[
        j, json_path(k)]),
)
