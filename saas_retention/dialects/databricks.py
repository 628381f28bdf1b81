"""Databricks: Spark SQL's date and time functions, plus SQL functions."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects import spark
from saas_retention.dialects.base import Engine, json_path


def create_function(name: str, args: list[str], kind: str | None, body: str) -> str:
    typed = ", ".join(f"{a} {kind}" for a in args)
    return f"CREATE OR REPLACE TEMPORARY FUNCTION {name}({typed}) RETURNS {kind} RETURN {body}"


ENGINE = Engine(
    name="databricks",
    sqlalchemy_names=("databricks",),
    dates=spark.DATES,
    times=spark.TIMES,
    nulls="small",
    window_nulls_ordering=True,
    function_type="DOUBLE",
    create_function=create_function,
    json_text=lambda j, k: exp.Anonymous(this="GET_JSON_OBJECT", expressions=[j, json_path(k)]),
)
