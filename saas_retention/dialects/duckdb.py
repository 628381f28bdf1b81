"""DuckDB: the reference engine (every template is written in its SQL), so it differs from the
defaults only in what its own functions do better, and in its macros."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    EXECUTED,
    OFFSET_PATTERN,
    DateFunctions,
    Engine,
    RecordFunctions,
    TimeFunctions,
    anonymous,
    element_alias,
    extract,
    floor_second,
    json_path,
)


def create_macro(name: str, args: list[str], _type: str | None, body: str) -> str:
    return f"CREATE OR REPLACE MACRO {name}({', '.join(args)}) AS ({body})"


def _path(path: tuple[str | int, ...]) -> exp.Literal:
    # every key quoted: tools' keys start with "$" or hold dots ("$insert_id", "$groups")
    keys = "".join(f"[{k}]" if isinstance(k, int) else '."' + k.replace('"', '\\"') + '"'
                   for k in path)
    return exp.Literal.string("$" + keys)


def _as_json(doc: exp.Expression) -> exp.Expression:
    # JSON text (the JSON Lines reader's columns, CSV), a JSON value or a STRUCT/LIST (Parquet)
    # all cast to JSON
    return exp.cast(doc, exp.DataType.build("JSON", dialect="duckdb"))


def _text(doc: exp.Expression, path: tuple[str | int, ...]) -> exp.Expression:
    return exp.Anonymous(this="json_extract_string", expressions=[_as_json(doc), _path(path)])


def _elements(doc: exp.Expression, alias: str) -> exp.Expression:
    items = exp.Anonymous(this="json_extract", expressions=[_as_json(doc),
                                                           exp.Literal.string("$[*]")])
    return exp.Unnest(expressions=[items], alias=element_alias(alias))


def _epoch_to_utc(value: exp.Expression, per_second: int) -> exp.Expression:
    # MAKE_TIMESTAMP(microseconds) is the naive UTC clock; TO_TIMESTAMP would give a
    # TIMESTAMPTZ shown in the session's zone
    micros = exp.Mul(this=exp.cast(value, exp.DataType.Type.DOUBLE),
                     expression=exp.Literal.number(1_000_000 // per_second))
    return exp.Anonymous(this="make_timestamp", expressions=[
        exp.cast(exp.func("round", micros), exp.DataType.Type.BIGINT)])


def _text_to_utc(value: exp.Expression) -> exp.Expression:
    text = exp.cast(value, exp.DataType.Type.VARCHAR)
    instant = exp.cast(text.copy(), exp.DataType.Type.TIMESTAMPTZ)
    return exp.Case(
        ifs=[exp.If(this=exp.func("regexp_matches", text, exp.Literal.string(OFFSET_PATTERN)),
                    true=exp.Anonymous(this="timezone", expressions=[
                        exp.Literal.string("UTC"), instant]))],
        default=exp.cast(text.copy(), exp.DataType.Type.TIMESTAMP))


def _utc_to_local(ts: exp.Expression, tz: str) -> exp.Expression:
    instant = exp.Anonymous(this="timezone", expressions=[exp.Literal.string("UTC"), ts])
    return exp.Anonymous(this="timezone", expressions=[exp.Literal.string(tz), instant])


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
    records=RecordFunctions(
        text=_text, elements=_elements,
        element=lambda alias, path: _text(exp.column(alias), path),
        epoch_to_utc=_epoch_to_utc, text_to_utc=_text_to_utc, utc_to_local=_utc_to_local),
    nulls="last",
    window_nulls_ordering=True,
    create_function=create_macro,
    json_text=lambda j, k: exp.Anonymous(this="JSON_EXTRACT_STRING", expressions=[
        j, json_path(k)]),
)
