"""Snowflake: a rounding integer cast, CONVERT_TIMEZONE, SQL functions."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import DateFunctions, Engine, TimeFunctions, exact_int_div


def create_function(name: str, args: list[str], kind: str | None, body: str) -> str:
    typed = ", ".join(f"{a} {kind}" for a in args)
    return f"CREATE OR REPLACE FUNCTION {name}({typed}) RETURNS {kind} AS $$ {body} $$"


ENGINE = Engine(
    name="snowflake",
    sqlalchemy_names=("snowflake",),
    dates=DateFunctions(int_div=exact_int_div),
    times=TimeFunctions(
        from_utc=lambda ts, tz: exp.Anonymous(this="CONVERT_TIMEZONE", expressions=[
            exp.Literal.string("UTC"), exp.Literal.string(tz), ts]),
        local_time=lambda ts, tz: exp.cast(exp.Anonymous(this="CONVERT_TIMEZONE", expressions=[
            exp.Literal.string(tz), ts]), exp.DataType.build("TIMESTAMP_NTZ", dialect="snowflake")),
    ),
    nulls="large",
    window_nulls_ordering=True,
    zoned_type_names=("WITHTIMEZONE", "TIMESTAMPTZ", "TIMESTAMP_TZ", "TIMESTAMP_LTZ"),
    function_type="FLOAT",
    create_function=create_function,
    json_text=lambda j, k: exp.Anonymous(this="JSON_EXTRACT_PATH_TEXT", expressions=[j, k]),
)
