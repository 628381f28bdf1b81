"""BigQuery: NULLS FIRST/LAST dropped inside windows, DATETIME for the local clock, temporary
SQL functions (per script); nested records are STRUCTs and ARRAYs (the GA4 export's
``event_params``), read with dots and UNNEST."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    US_TIME,
    Engine,
    RecordFunctions,
    TimeFunctions,
    element_alias,
    export_time,
)


def create_function(name: str, args: list[str], kind: str | None, body: str) -> str:
    typed = ", ".join(f"{a} {kind}" for a in args)
    return f"CREATE TEMP FUNCTION {name}({typed}) AS ({body})"


def _field(doc: exp.Expression, path: tuple[str | int, ...]) -> exp.Expression:
    # STRUCT fields by dots, ARRAY positions by [SAFE_OFFSET(i)] (NULL past the end)
    value = doc
    for k in path:
        if isinstance(k, int):
            value = exp.Bracket(this=value, expressions=[exp.Literal.number(k)], offset=0,
                                safe=True)
        else:
            value = exp.Dot(this=value, expression=exp.to_identifier(k))
    return exp.cast(value, exp.DataType.Type.VARCHAR)


def _epoch_to_utc(value: exp.Expression, per_second: int) -> exp.Expression:
    micros = exp.Mul(this=exp.cast(value, exp.DataType.Type.DOUBLE),
                     expression=exp.Literal.number(1_000_000 // per_second))
    instant = exp.UnixToTime(this=exp.cast(exp.func("round", micros), exp.DataType.Type.BIGINT),
                             scale=exp.UnixToTime.MICROS)
    return exp.Anonymous(this="DATETIME", expressions=[instant])


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
    records=RecordFunctions(
        text=_field,
        elements=lambda doc, alias: exp.Unnest(expressions=[doc], alias=element_alias(alias)),
        element=lambda alias, path: _field(exp.column(alias), path),
        epoch_to_utc=_epoch_to_utc,
        # TIMESTAMP(text) reads an offset, UTC without one; DATETIME of it is the UTC clock
        text_to_utc=lambda value: exp.Anonymous(this="DATETIME", expressions=[
            exp.Anonymous(this="TIMESTAMP", expressions=[
                exp.cast(value, exp.DataType.Type.VARCHAR)])]),
        utc_to_local=lambda ts, tz: exp.Anonymous(this="DATETIME", expressions=[
            exp.Anonymous(this="TIMESTAMP", expressions=[ts]), exp.Literal.string(tz)]),
        # the civil time written in the export: a DATETIME
        export_time=lambda value: export_time(value, lambda v: exp.Anonymous(
            this="PARSE_DATETIME", expressions=[exp.Literal.string(US_TIME), v]))),
    nulls="small",
    window_nulls_ordering=False,
    function_type="FLOAT64",
    create_function=create_function,
)
