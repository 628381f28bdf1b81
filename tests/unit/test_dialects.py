"""One home per engine: every engine's differences live in its ``saas_retention/dialects``
module, and every compile path writes the same SQL through it.

Two kinds of tests:
- every model compiled for every engine through the public API and through the build path must
  give the same SQL (below, ``test_public_api_and_build_path_write_the_same_sql``);
- per engine module, a table of primitives (day number, period index, period start, money,
  hour of day, the CREATE FUNCTION frame…) and the SQL the engine gets for each, read like
  sqlglot's ``validate_all``.
"""

from __future__ import annotations

import importlib
import re

import pytest
import sqlglot
from sqlglot import exp

import saas_retention
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError
from saas_retention.core.params import model_params
from saas_retention.dialects import (
    ENGINES,
    SQLALCHEMY_DIALECTS,
    SUPPORTED,
    TIERS,
    date_functions,
    engine,
    resolve,
    standalone_shape,
    time_functions,
    with_query_settings,
)
from saas_retention.dialects.periods import day_number_sql, period_index_sql, period_start_sql

SQLGLOT_MAJOR = int(sqlglot.__version__.split(".")[0])


# -- the same SQL through every compile path ----------------------------------------------------

def _models_for(dialect: str) -> list[str]:
    catalog = load_catalog()
    return [name for name in catalog.model_order()
            if not catalog.models[name].engines or dialect in catalog.models[name].engines]


@pytest.mark.parametrize("grain", ["month", "week"])
@pytest.mark.parametrize("dialect", SUPPORTED)
def test_public_api_and_build_path_write_the_same_sql(dialect, grain):
    """``saas_retention.compile_model`` and the build's ``relation_ast`` give the same SQL for
    every model the engine can run.

    Like is compared with like. The build path adds two things on top of the model's tree,
    neither of which is part of the model: the schema it builds in (``Target.relation_schema``,
    left unset here, so relations are read unqualified as ``compile_model`` writes them) and
    the engine's query settings (``with_query_settings``, attached when the warehouse build
    and ``saas-retention sql`` execute or print the query, not by ``relation_ast``). What is
    compared is therefore the tree ``relation_ast`` returns, generated as ``compile_model``
    generates it (``pretty=True``), with the same settings (grain, parameters from
    ``model_params``) and no dimensions. The DuckDB build compiles through ``compile_model``
    itself (``build.duckdb.run.duckdb_sql``), checked below too."""
    from saas_retention.relations.graph import relation_ast
    from saas_retention.relations.target import Target

    settings = parse_settings({"grain": grain})
    differ = []
    for name in _models_for(dialect):
        public = saas_retention.compile_model(name, dialect, grain=grain,
                                              params=model_params(settings))
        built = relation_ast(name, Target(dialect, settings)).sql(dialect, pretty=True)
        if public != built:
            differ.append(name)
    assert not differ, f"{dialect}: compile_model and relation_ast differ for {differ}"


def test_duckdb_build_compiles_through_the_public_api():
    from saas_retention.builders.duckdb.run import duckdb_sql

    settings = parse_settings({})
    params = model_params(settings)
    for name in _models_for("duckdb"):
        assert duckdb_sql(name, settings.grain, tuple(sorted(params.items())), ()) == (
            saas_retention.compile_model(name, "duckdb", grain=settings.grain, params=params,
                                         pretty=False)), name


def test_clickhouse_lifecycle_uses_clickhouse_lag_and_lead():
    """Regression: sqlglot 28.x (Superset's pin) writes LAG/LEAD for ClickHouse as
    lagInFrame/leadInFrame, which see only the default frame (up to the current row) and give
    0 where there is no row: silently wrong lifecycle states. The public API, not only the
    warehouse build, must write ClickHouse's own lag/lead."""
    sql = saas_retention.compile_model("lifecycle", "clickhouse")
    calls = set(re.findall(r"\b(\w*(?:lag|lead)\w*)\(", sql, flags=re.IGNORECASE))
    assert calls == {"lag", "lead"}, sorted(calls)


def test_shipped_query_carries_the_engine_settings_and_shape():
    """``sql/dist`` and ``saas-retention sql`` (export/standalone.py) add the engine's query
    settings and whole-query shape to the same relation trees."""
    from saas_retention.export.standalone import dist_target, standalone_sql

    clickhouse = standalone_sql("lifecycle", dist_target("clickhouse"))
    assert "join_use_nulls = 1" in clickhouse and "lagInFrame" not in clickhouse
    mysql = standalone_sql("retention", dist_target("mysql"))
    assert "LIMIT 18446744073709551615" in mysql


# -- the registry ---------------------------------------------------------------------------------

def test_registry_lists_every_engine_module_once():
    assert SUPPORTED == ("duckdb", "sqlite", "postgres", "clickhouse", "spark", "databricks",
                         "snowflake", "bigquery", "trino", "redshift", "mysql", "tsql")
    for name in SUPPORTED:
        module = importlib.import_module(f"saas_retention.dialects.{name}")
        assert module.ENGINE is ENGINES[name]
        assert module.ENGINE.name == name
    assert {n for n, t in TIERS.items() if t == "executed"} == {
        "duckdb", "sqlite", "postgres", "clickhouse", "spark", "mysql"}
    assert set(TIERS.values()) == {"executed", "generated"}


@pytest.mark.parametrize(("name", "expected"), [
    ("PostgreSQL", "postgres"), ("mssql", "tsql"), ("sqlserver", "tsql"), ("pyspark", "spark"),
    ("sparksql", "spark"), ("ch", "clickhouse"), ("chdb", "clickhouse"), (" duckdb ", "duckdb"),
])
def test_resolve_aliases(name, expected):
    assert resolve(name) == expected
    assert engine(name) is ENGINES[expected]


def test_resolve_rejects_unknown_engines():
    with pytest.raises(ConfigError, match="unsupported dialect 'oracle'; supported: duckdb"):
        resolve("oracle")


def test_another_sqlglot_dialect_gets_the_defaults():
    other = engine("oracle")
    assert other.name == "oracle" and not other.query_settings
    assert date_functions("oracle") is date_functions("tsql")  # both the defaults


def test_sqlalchemy_names():
    assert SQLALCHEMY_DIALECTS == {
        "postgresql": "postgres", "sqlite": "sqlite", "duckdb": "duckdb",
        "clickhouse": "clickhouse", "clickhousedb": "clickhouse", "databricks": "databricks",
        "hive": "spark", "snowflake": "snowflake", "bigquery": "bigquery", "trino": "trino",
        "redshift": "redshift", "mysql": "mysql", "mariadb": "mysql", "mssql": "tsql"}


@pytest.mark.parametrize("name", SUPPORTED)
def test_declared_null_ordering_is_what_sqlglot_generates_for(name):
    """Each module says where its engine sorts NULLs and whether it writes NULLS FIRST/LAST in
    a window; sqlglot's generator must agree, or the window rewrite would be wrong."""
    from sqlglot.dialects.dialect import Dialect

    declared = ENGINES[name]
    dialect = Dialect.get_or_raise(name)
    assert f"nulls_are_{declared.nulls}" == dialect.NULL_ORDERING
    assert declared.window_nulls_ordering == (
        dialect.generator_class.NULL_ORDERING_SUPPORTED is True)


# -- per engine: primitives and the SQL each engine gets ----------------------------------------

DAY, INDEX, TS, X = exp.column("d"), exp.column("i"), exp.column("ts"), exp.column("x")

PRIMITIVES = {
    "day_number": lambda name: day_number_sql(DAY, name),
    "month_index": lambda name: period_index_sql(DAY, "month", dialect=name),
    "quarter_start": lambda name: period_start_sql(INDEX, "quarter", dialect=name),
    "from_day_number": lambda name: period_start_sql(INDEX, "day", dialect=name),
    "money": lambda name: date_functions(name).money(X),
    "hour": lambda name: time_functions(name).hour(TS),
    "local_time": lambda name: time_functions(name).local_time(TS, "Europe/Paris"),
}

# sqlglot 28.x (Superset's pin) writes these differently; the rest are the same in 28 and 30
SINCE_30 = {("clickhouse", "quarter_start"), ("tsql", "quarter_start")}

EXPECTED: dict[str, dict[str, str]] = {
    "duckdb": {
        "day_number": "DATE_DIFF('DAY', CAST('1970-01-01' AS DATE), d)",
        "month_index": "EXTRACT(YEAR FROM d) * 12 + EXTRACT(MONTH FROM d) - 1",
        "quarter_start": "MAKE_DATE((i) // 4, (((i) % 4) * 3 + 1), 1)",
        "from_day_number": "CAST('1970-01-01' AS DATE) + INTERVAL (i) DAY",
        "money": "CAST(x AS DECIMAL(18, 6))",
        "hour": "EXTRACT(HOUR FROM ts)",
        "local_time": "TIMEZONE('Europe/Paris', ts)",
    },
    "sqlite": {
        "day_number": "CAST(JULIANDAY(d) - 2440587.5 AS INTEGER)",
        "month_index": "CAST(STRFTIME('%Y', d) AS INTEGER) * 12 "
                       "+ CAST(STRFTIME('%m', d) AS INTEGER) - 1",
        "quarter_start": "DATE(PRINTF('%04d-%02d-%02d', CAST(CAST((i) AS REAL) / 4 AS INTEGER), "
                         "(((i) % 4) * 3 + 1), 1))",
        "from_day_number": "DATE(2440587.5 + (i))",
        "money": "ROUND(x, 6)",
        "hour": "CAST(STRFTIME('%H', ts) AS INTEGER)",
    },
    "postgres": {
        "day_number": "(CAST(d AS DATE) - CAST('1970-01-01' AS DATE))",
        "month_index": "CAST(EXTRACT(YEAR FROM d) AS INT) * 12 "
                       "+ CAST(EXTRACT(MONTH FROM d) AS INT) - 1",
        "quarter_start": "MAKE_DATE(CAST(DIV((i), 4) AS INT), CAST((((i) % 4) * 3 + 1) AS INT), "
                         "CAST(1 AS INT))",
        "from_day_number": "(CAST('1970-01-01' AS DATE) + CAST((i) AS INT))",
        "money": "CAST(x AS DECIMAL(18, 6))",
        "hour": "CAST(EXTRACT(HOUR FROM ts) AS INT)",
        "local_time": "ts AT TIME ZONE 'Europe/Paris'",
    },
    "clickhouse": {
        "day_number": "DATE_DIFF(DAY, CAST('1970-01-01' AS Nullable(DATE)), d)",
        "quarter_start": "makeDate(CAST((i) / 4 AS Nullable(Int64)), (((i) % 4) * 3 + 1), 1)",
        "from_day_number": "DATE_ADD(DAY, (i), CAST('1970-01-01' AS Nullable(DATE)))",
        "money": "CAST(CAST(ROUND(x, 6) AS Nullable(String)) AS Nullable(Decimal(18, 6)))",
        "hour": "toHour(ts)",
        "local_time": "toTimeZone(ts, 'Europe/Paris')",
    },
    "spark": {
        "day_number": "DATEDIFF(d, CAST('1970-01-01' AS DATE))",
        "quarter_start": "MAKE_DATE((i) DIV 4, (((i) % 4) * 3 + 1), 1)",
        "from_day_number": "DATE_ADD(CAST('1970-01-01' AS DATE), CAST((i) AS INT))",
        "hour": "HOUR(ts)",
        "local_time": "FROM_UTC_TIMESTAMP(ts, 'Europe/Paris')",
    },
    "databricks": {
        "day_number": "DATEDIFF(d, CAST('1970-01-01' AS DATE))",
        "from_day_number": "DATE_ADD(CAST('1970-01-01' AS DATE), CAST((i) AS INT))",
        "hour": "HOUR(ts)",
    },
    "snowflake": {
        "month_index": "DATE_PART(YEAR, d) * 12 + DATE_PART(MONTH, d) - 1",
        # exact division: Snowflake's cast of a fraction to an integer rounds
        "quarter_start": "DATE_FROM_PARTS(CAST(((i) - (i) % 4) / 4 AS BIGINT), "
                         "(((i) % 4) * 3 + 1), 1)",
        "local_time": "CAST(CONVERT_TIMEZONE('Europe/Paris', ts) AS TIMESTAMPNTZ)",
    },
    "bigquery": {
        "day_number": "DATE_DIFF(d, CAST('1970-01-01' AS DATE), DAY)",
        "money": "CAST(x AS NUMERIC)",
        "local_time": "DATETIME(ts, 'Europe/Paris')",
    },
    "trino": {
        "quarter_start": "DATE(FORMAT('%04d-%02d-%02d', "
                         "CAST(CAST(((i) - (i) % 4) AS DOUBLE) / 4 AS BIGINT), "
                         "(((i) % 4) * 3 + 1), 1))",
        "hour": "CAST(EXTRACT(HOUR FROM ts) AS INTEGER)",
    },
    "redshift": {
        "day_number": "DATEDIFF(DAY, CAST('1970-01-01' AS DATE), d)",
        "quarter_start": "TO_DATE(CAST(CAST(CAST(((i) - (i) % 4) AS DOUBLE PRECISION) / 4 "
                         "AS BIGINT) AS VARCHAR) || '-' || CAST((((i) % 4) * 3 + 1) AS VARCHAR) "
                         "|| '-' || CAST(1 AS VARCHAR), 'YYYY-MM-DD')",
        "local_time": "ts AT TIME ZONE 'Europe/Paris'",
    },
    "mysql": {
        "day_number": "DATEDIFF(d, CAST('1970-01-01' AS DATE))",
        "quarter_start": "DATE_ADD(DATE_ADD(MAKEDATE(CAST(((i) - (i) % 4) / 4 AS SIGNED), 1), "
                         "INTERVAL ((((i) % 4) * 3 + 1) - 1) MONTH), INTERVAL (1 - 1) DAY)",
        "from_day_number": "DATE_ADD(CAST('1970-01-01' AS DATE), INTERVAL (i) DAY)",
        "local_time": "CONVERT_TZ(ts, '+00:00', 'Europe/Paris')",
    },
    "tsql": {
        "month_index": "DATEPART(YEAR, d) * 12 + DATEPART(MONTH, d) - 1",
        "quarter_start": "DATEFROMPARTS(CAST(CAST((i) AS FLOAT) / 4 AS BIGINT), "
                         "(((i) % 4) * 3 + 1), 1)",
        "money": "CAST(x AS NUMERIC(18, 6))",
    },
}


@pytest.mark.parametrize("name", SUPPORTED)
def test_engine_primitives(name):
    rows = EXPECTED[name]
    assert set(rows) <= set(PRIMITIVES)
    wrong = {}
    for primitive, expected in rows.items():
        if SQLGLOT_MAJOR < 30 and (name, primitive) in SINCE_30:
            continue
        got = PRIMITIVES[primitive](name).sql(name)
        if got != expected:
            wrong[primitive] = got
    assert not wrong, wrong


def test_sqlite_has_no_time_zones():
    with pytest.raises(ConfigError, match="SQLite has no time-zone-aware timestamp type"):
        time_functions("sqlite").local_time(TS, "UTC")


@pytest.mark.parametrize(("name", "expected"), [
    ("duckdb", "CREATE OR REPLACE MACRO f(a, b) AS (a / b)"),
    ("postgres", "CREATE OR REPLACE FUNCTION f(a DOUBLE PRECISION, b DOUBLE PRECISION) RETURNS "
                 "DOUBLE PRECISION LANGUAGE SQL IMMUTABLE AS $$ SELECT a / b $$"),
    ("clickhouse", "CREATE OR REPLACE FUNCTION f AS (a, b) -> (a / b)"),
    ("databricks", "CREATE OR REPLACE TEMPORARY FUNCTION f(a DOUBLE, b DOUBLE) RETURNS DOUBLE "
                   "RETURN a / b"),
    ("snowflake", "CREATE OR REPLACE FUNCTION f(a FLOAT, b FLOAT) RETURNS FLOAT AS $$ a / b $$"),
    ("bigquery", "CREATE TEMP FUNCTION f(a FLOAT64, b FLOAT64) AS (a / b)"),
])
def test_create_function_frame(name, expected):
    e = ENGINES[name]
    assert e.create_function("f", ["a", "b"], e.function_type, "a / b") == expected


def test_engines_without_sql_functions():
    from saas_retention.export.functions import function_dialects, function_statements

    assert function_dialects() == ["duckdb", "postgres", "clickhouse", "databricks",
                                   "snowflake", "bigquery"]
    with pytest.raises(ConfigError, match="mysql has no SQL user functions here"):
        function_statements("mysql")
    assert ENGINES["postgres"].skipped_functions == {"sbg_survival", "discounted_survival"}


QUERY = "with a as (select 1 as x) select x from a"


@pytest.mark.parametrize(("name", "expected"), [
    ("clickhouse", "WITH a AS (SELECT 1 AS x) SELECT x FROM a "
                   "SETTINGS join_use_nulls = 1, prefer_column_name_to_alias = 1"),
    # a LIMIT above any row count keeps MySQL/MariaDB from merging each CTE into its readers
    ("mysql", "WITH a AS (SELECT 1 AS x LIMIT 18446744073709551615) SELECT x FROM a"),
    ("postgres", "WITH a AS (SELECT 1 AS x) SELECT x FROM a"),
])
def test_query_settings_and_standalone_shape(name, expected):
    query = sqlglot.parse_one(QUERY, read="duckdb")
    assert standalone_shape(with_query_settings(query, name), name).sql(name) == expected
