"""Every difference between SQL engines, in one place: one module per engine (``duckdb.py``,
``postgres.py``…) defines that engine's ``Engine`` — its date and time builders, query
settings, NULL ordering, function spellings, CREATE FUNCTION frame, whole-query shape and
warehouse DDL — and this registry maps names to them. Every compile path
(``compile_model``, ``saas-retention sql``, ``sql/dist``, both builds) goes through it.

>>> engine("postgresql").name
'postgres'
>>> TIERS["clickhouse"]
'executed'
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

from sqlglot import exp

from saas_retention.core.errors import ConfigError
from saas_retention.dialects import (
    bigquery,
    clickhouse,
    databricks,
    duckdb,
    mysql,
    postgres,
    redshift,
    snowflake,
    spark,
    sqlite,
    trino,
    tsql,
)
from saas_retention.dialects.base import (
    DateFunctions,
    Engine,
    RecordFunctions,
    TimeFunctions,
    alias_qualified_columns,
    from_utc,
    lower_case_functions,
)

# in the order the README and sql/dist list them
ENGINES: MappingProxyType[str, Engine] = MappingProxyType({e.name: e for e in (
    duckdb.ENGINE, sqlite.ENGINE, postgres.ENGINE, clickhouse.ENGINE, spark.ENGINE,
    databricks.ENGINE, snowflake.ENGINE, bigquery.ENGINE, trino.ENGINE, redshift.ENGINE,
    mysql.ENGINE, tsql.ENGINE)})
_ALIASES = {a: e.name for e in ENGINES.values() for a in e.aliases}

# "executed": run against a real engine in CI; "generated": transpiled and reviewed only
TIERS = {name: e.tier for name, e in ENGINES.items()}
SUPPORTED = tuple(ENGINES)
QUERY_SETTINGS = {name: dict(e.query_settings) for name, e in ENGINES.items()
                  if e.query_settings}
NAMES_QUALIFIED_COLUMNS = {name for name, e in ENGINES.items() if e.names_qualified_columns}
CASE_SENSITIVE_FUNCTIONS = {name: e.case_sensitive_functions for name, e in ENGINES.items()
                            if e.case_sensitive_functions}
# SQLAlchemy dialect names (``engine.dialect.name``) -> sqlglot dialects
SQLALCHEMY_DIALECTS = {s: e.name for e in ENGINES.values() for s in e.sqlalchemy_names}


def resolve(name: str) -> str:
    """The sqlglot dialect name for ``name``, or a clear error listing the supported ones."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ENGINES:
        raise ConfigError(
            f"unsupported dialect {name!r}; supported: {', '.join(SUPPORTED)}"
        )
    return key


def engine(dialect: str) -> Engine:
    """The engine of ``dialect`` (a name or an alias). Another sqlglot dialect gets the
    defaults: sqlglot's own generation, nothing of ours."""
    key = dialect.strip().lower()
    key = _ALIASES.get(key, key)
    return ENGINES.get(key) or Engine(name=dialect)


def date_functions(dialect: str) -> DateFunctions:
    return engine(dialect).dates


def time_functions(dialect: str) -> TimeFunctions:
    return engine(dialect).times


def record_functions(dialect: str) -> RecordFunctions:
    """How the engine reads the product tools' nested records and epoch times (connectors)."""
    return engine(dialect).records


def utc_to_local(ts: exp.Expression, tz: str, dialect: str) -> exp.Expression:
    """A naive timestamp holding UTC as the naive local time in ``tz``."""
    return from_utc(engine(dialect).times, ts, tz)


def json_text(dialect: str) -> Callable[[exp.Expression, exp.Expression], exp.Expression]:
    """The engine's reading of one member of a JSON object stored as text
    (``Engine.json_text``)."""
    return engine(dialect).json_text


def with_query_settings(query: exp.Query, dialect: str) -> exp.Query:
    """``query`` with the engine's query settings attached to its outermost SELECT."""
    return engine(dialect).with_query_settings(query)


def window_null_ordering(tree: exp.Expression, dialect: str) -> exp.Expression:
    """The tree with every window ordered as DuckDB orders it (NULLs last unless the template
    says otherwise) where the engine cannot write NULLS FIRST/LAST there
    (``Engine.window_null_ordering``)."""
    return engine(dialect).window_null_ordering(tree)


def engine_spelling(tree: exp.Expression, dialect: str) -> exp.Expression:
    """A compiled model's tree as ``dialect`` needs it: its column naming and function
    spelling. Every compile path applies it (``model_ast``), so ``compile_model`` and the
    builds write the same SQL."""
    return engine(dialect).spelling(tree)


def standalone_shape(query: exp.Query, dialect: str) -> exp.Query:
    return engine(dialect).shape(query)


def standalone_notes(query: exp.Query, dialect: str) -> list[str]:
    """Header lines telling users what the shipped query needs from their engine."""
    return engine(dialect).notes(query)


__all__ = [
    "CASE_SENSITIVE_FUNCTIONS",
    "ENGINES",
    "NAMES_QUALIFIED_COLUMNS",
    "QUERY_SETTINGS",
    "SQLALCHEMY_DIALECTS",
    "SUPPORTED",
    "TIERS",
    "DateFunctions",
    "Engine",
    "RecordFunctions",
    "TimeFunctions",
    "alias_qualified_columns",
    "date_functions",
    "engine",
    "engine_spelling",
    "lower_case_functions",
    "record_functions",
    "resolve",
    "standalone_notes",
    "standalone_shape",
    "time_functions",
    "window_null_ordering",
    "with_query_settings",
]
