"""PostgreSQL: EXTRACT and DIV give NUMERIC (indexes must stay integers), date - date is a
number of days, timestamptz AT TIME ZONE is the local clock; SQL functions but no log-gamma."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    EXECUTED,
    LEADING_NUMBER,
    OFFSET_PATTERN,
    DateFunctions,
    Engine,
    RecordFunctions,
    TimeFunctions,
    at_time_zone,
    element_alias,
    epoch,
    export_time,
    int_extract,
)


def day_number(d: exp.Expression) -> exp.Expression:
    # date - date is an integer number of days in PostgreSQL
    return exp.paren(exp.Sub(this=exp.cast(d, exp.DataType.Type.DATE), expression=epoch()))


def from_day_number(n: exp.Expression) -> exp.Expression:
    return exp.paren(exp.Add(this=epoch(), expression=exp.cast(n, exp.DataType.Type.INT)))


def create_function(name: str, args: list[str], kind: str | None, body: str) -> str:
    typed = ", ".join(f"{a} {kind}" for a in args)
    return (f"CREATE OR REPLACE FUNCTION {name}({typed}) RETURNS {kind} "
            f"LANGUAGE SQL IMMUTABLE AS $$ SELECT {body} $$")


def _jsonb(doc: exp.Expression) -> exp.Expression:
    # text, json or jsonb: the same paths
    return exp.cast(doc, exp.DataType.build("JSONB", dialect="postgres"))


def _text(doc: exp.Expression, path: tuple[str | int, ...]) -> exp.Expression:
    # a position is given as its text: jsonb paths read '0' as an array's first element
    return exp.Anonymous(this="jsonb_extract_path_text",
                         expressions=[_jsonb(doc), *(exp.Literal.string(str(k)) for k in path)])


def _utc(instant: exp.Expression) -> exp.Expression:
    # timestamptz AT TIME ZONE 'UTC' is the naive UTC clock (a cast would use the session zone)
    return at_time_zone(instant, "UTC")


def _epoch_to_utc(value: exp.Expression, per_second: int) -> exp.Expression:
    seconds = exp.Div(this=exp.cast(value, exp.DataType.build("DOUBLE PRECISION",
                                                             dialect="postgres")),
                      expression=exp.Literal.number(per_second))
    return _utc(exp.Anonymous(this="to_timestamp", expressions=[seconds]))


def _text_to_utc(value: exp.Expression) -> exp.Expression:
    text = exp.cast(value, exp.DataType.Type.TEXT)
    return exp.Case(
        ifs=[exp.If(this=exp.RegexpLike(this=text, expression=exp.Literal.string(OFFSET_PATTERN)),
                    true=_utc(exp.cast(text.copy(), exp.DataType.Type.TIMESTAMPTZ)))],
        default=exp.cast(text.copy(), exp.DataType.Type.TIMESTAMP))


def _leading_number(value: exp.Expression) -> exp.Expression:
    # SUBSTRING(text FROM pattern) is the pattern's first group, NULL without a match
    # (PostgreSQL has no regexp_extract); sqlglot parses it as a Substring with the pattern
    # for a start
    found = exp.Substring(this=value, start=exp.Literal.string(LEADING_NUMBER))
    return exp.cast(found, exp.DataType.build("DOUBLE PRECISION", dialect="postgres"))


def _us_time(value: exp.Expression) -> exp.Expression:
    # TO_TIMESTAMP reads the text in the session's zone; the cast back gives the same clock
    return exp.cast(exp.Anonymous(this="to_timestamp", expressions=[
        value, exp.Literal.string("MM/DD/YYYY HH12:MI:SS AM")]), exp.DataType.Type.TIMESTAMP)


ENGINE = Engine(
    name="postgres",
    tier=EXECUTED,
    aliases=("postgresql",),
    sqlalchemy_names=("postgresql",),
    dates=DateFunctions(
        # EXTRACT gives NUMERIC in PostgreSQL; indexes must stay integers
        year=int_extract("YEAR"), month=int_extract("MONTH"), day_number=day_number,
        # DIV() gives NUMERIC too: MAKE_DATE wants integers
        from_parts=lambda *a: exp.Anonymous(this="MAKE_DATE", expressions=[
            exp.cast(x, exp.DataType.Type.INT) for x in a]),
        from_day_number=from_day_number,
    ),
    # timestamptz AT TIME ZONE z is the naive wall-clock time in z
    times=TimeFunctions(local_time=at_time_zone),
    records=RecordFunctions(
        text=_text,
        elements=lambda doc, alias: exp.Table(
            this=exp.Anonymous(this="jsonb_array_elements", expressions=[_jsonb(doc)]),
            alias=element_alias(alias)),
        element=lambda alias, path: _text(exp.column(alias), path),
        epoch_to_utc=_epoch_to_utc, text_to_utc=_text_to_utc,
        leading_number=_leading_number,
        export_time=lambda value: export_time(value, _us_time)),
    nulls="large",
    window_nulls_ordering=True,
    function_type="DOUBLE PRECISION",
    create_function=create_function,
    # no log-gamma for the sBG survival
    skipped_functions=frozenset({"sbg_survival", "discounted_survival"}),
    # text holding JSON: a cast, then ->> takes a key computed per row
    json_text=lambda j, k: exp.JSONExtractScalar(this=exp.cast(j, exp.DataType.Type.JSON),
                                                 expression=k),
)
