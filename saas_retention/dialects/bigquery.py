"""BigQuery: NULLS FIRST/LAST dropped inside windows, DATETIME for the local clock, temporary
SQL functions (per script)."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import Engine, TimeFunctions


def create_function(name: str, args: list[str], kind: str | None, body: str) -> str:
    typed = ", ".join(f"{a} {kind}" for a in args)
    return f"CREATE TEMP FUNCTION {name}({typed}) AS ({body})"


ENGINE = Engine(
    name="bigquery",
    sqlalchemy_names=("bigquery",),
    times=TimeFunctions(
        # DATETIME(timestamp, zone) is the civil time in zone
        local_time=lambda ts, tz: exp.Anonymous(this="DATETIME", expressions=[
            ts, exp.Literal.string(tz)]),
        to_timestamp=lambda e: exp.cast(e, exp.DataType.Type.DATETIME),
        # TIMESTAMP(datetime) reads the civil time as UTC
        from_utc=lambda ts, tz: exp.Anonymous(this="DATETIME", expressions=[
            exp.Anonymous(this="TIMESTAMP", expressions=[ts]), exp.Literal.string(tz)]),
    ),
    nulls="small",
    window_nulls_ordering=False,
    function_type="FLOAT64",
    create_function=create_function,
)
