"""Amazon Redshift: PostgreSQL's clock functions, but no MAKE_DATE and a rounding integer
cast."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    DateFunctions,
    Engine,
    TimeFunctions,
    at_time_zone,
    exact_int_div,
)


def from_parts(y, m, d) -> exp.Expression:
    # Redshift has no MAKE_DATE: build 'YYYY-MM-DD' and cast
    return exp.Anonymous(this="TO_DATE", expressions=[
        exp.DPipe(this=exp.DPipe(this=exp.DPipe(this=exp.DPipe(
            this=exp.cast(y, "VARCHAR"), expression=exp.Literal.string("-")),
            expression=exp.cast(m, "VARCHAR")), expression=exp.Literal.string("-")),
            expression=exp.cast(d, "VARCHAR")),
        exp.Literal.string("YYYY-MM-DD")])


ENGINE = Engine(
    name="redshift",
    sqlalchemy_names=("redshift",),
    dates=DateFunctions(int_div=exact_int_div, from_parts=from_parts),
    times=TimeFunctions(local_time=at_time_zone),
    nulls="large",
    window_nulls_ordering=True,
    json_text=lambda j, k: exp.Anonymous(this="JSON_EXTRACT_PATH_TEXT", expressions=[j, k]),
)
