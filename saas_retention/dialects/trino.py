"""Trino: a rounding integer cast and no MAKE_DATE."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import DateFunctions, Engine, exact_int_div, json_path


def from_parts(y, m, d) -> exp.Expression:
    return exp.Anonymous(this="DATE", expressions=[exp.Anonymous(this="FORMAT", expressions=[
        exp.Literal.string("%04d-%02d-%02d"), y, m, d])])


ENGINE = Engine(
    name="trino",
    sqlalchemy_names=("trino",),
    dates=DateFunctions(int_div=exact_int_div, from_parts=from_parts),
    nulls="last",
    window_nulls_ordering=True,
    # JSON_VALUE wants a literal path; json_extract_scalar takes one computed per row
    json_text=lambda j, k: exp.Anonymous(this="JSON_EXTRACT_SCALAR", expressions=[
        j, json_path(k)]),
)
