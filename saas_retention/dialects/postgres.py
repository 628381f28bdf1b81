"""PostgreSQL: EXTRACT and DIV give NUMERIC (indexes must stay integers), date - date is a
number of days, timestamptz AT TIME ZONE is the local clock; SQL functions but no log-gamma."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    EXECUTED,
    DateFunctions,
    Engine,
    TimeFunctions,
    at_time_zone,
    epoch,
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
