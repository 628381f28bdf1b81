"""Per-engine differences, as data: one registry of small functions returning sqlglot nodes.

Models only use integer period indexes, so the date functions below are needed only where a
date becomes an index (staging) or an index becomes a date (the calendar). Everything else is
sqlglot's own generation for the dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from .errors import ConfigError

# "executed": run against a real engine in CI; "generated": transpiled and reviewed only.
TIERS = {
    "duckdb": "executed",
    "sqlite": "executed",
    "postgres": "executed",
    "clickhouse": "executed",
    "spark": "executed",
    "databricks": "generated",
    "snowflake": "generated",
    "bigquery": "generated",
    "trino": "generated",
    "redshift": "generated",
    "mysql": "generated",
    "tsql": "generated",
}
SUPPORTED = tuple(TIERS)


def resolve(name: str) -> str:
    """The sqlglot dialect name for ``name``, or a clear error listing the supported ones."""
    key = name.strip().lower()
    aliases = {"postgresql": "postgres", "mssql": "tsql", "sqlserver": "tsql",
               "pyspark": "spark", "sparksql": "spark", "ch": "clickhouse", "chdb": "clickhouse"}
    key = aliases.get(key, key)
    if key not in TIERS:
        raise ConfigError(
            f"unsupported dialect {name!r}; supported: {', '.join(SUPPORTED)}"
        )
    return key


def _lit(n: int) -> exp.Literal:
    return exp.Literal.number(n)


def _epoch() -> exp.Expression:
    return exp.cast(exp.Literal.string("1970-01-01"), exp.DataType.Type.DATE)


def _sqlite_date(e: exp.Expression) -> exp.Expression:
    # CAST(x AS DATE) in SQLite gives a number (the year); DATE(x) gives 'YYYY-MM-DD' text
    return exp.Anonymous(this="DATE", expressions=[e])


# -- the registry: dialect -> overrides of the default builders --------------------------------

@dataclass(frozen=True)
class DateFunctions:
    year: Callable[[exp.Expression], exp.Expression]
    month: Callable[[exp.Expression], exp.Expression]
    day_number: Callable[[exp.Expression], exp.Expression]  # days since 1970-01-01
    from_parts: Callable[[exp.Expression, exp.Expression, exp.Expression], exp.Expression]
    from_day_number: Callable[[exp.Expression], exp.Expression]
    to_date: Callable[[exp.Expression], exp.Expression] = (
        lambda e: exp.cast(e, exp.DataType.Type.DATE))
    money: Callable[[exp.Expression], exp.Expression] = (
        lambda e: exp.cast(e, exp.DataType.build("DECIMAL(18, 6)")))


def _extract(part: str) -> Callable[[exp.Expression], exp.Expression]:
    return lambda d: exp.Extract(this=exp.var(part), expression=d)


def _int_extract(part: str) -> Callable[[exp.Expression], exp.Expression]:
    return lambda d: exp.cast(exp.Extract(this=exp.var(part), expression=d),
                              exp.DataType.Type.INT)


def _datediff_days(d: exp.Expression) -> exp.Expression:
    return exp.DateDiff(this=d, expression=_epoch(), unit=exp.var("DAY"))


def _dateadd_days(n: exp.Expression) -> exp.Expression:
    return exp.DateAdd(this=_epoch(), expression=n, unit=exp.var("DAY"))


def _from_parts(y, m, d) -> exp.Expression:
    return exp.DateFromParts(year=y, month=m, day=d)


DEFAULT = DateFunctions(
    year=_extract("YEAR"),
    month=_extract("MONTH"),
    day_number=_datediff_days,
    from_parts=_from_parts,
    from_day_number=_dateadd_days,
)


def _strftime_int(fmt: str) -> Callable[[exp.Expression], exp.Expression]:
    return lambda d: exp.cast(exp.Anonymous(this="STRFTIME", expressions=[
        exp.Literal.string(fmt), d]), exp.DataType.Type.INT)


def _sqlite_day_number(d: exp.Expression) -> exp.Expression:
    # julian day of 1970-01-01 is 2440587.5; dates are at midnight, so the difference is whole
    return exp.cast(
        exp.Sub(this=exp.Anonymous(this="JULIANDAY", expressions=[d]),
                expression=exp.Literal.number(2440587.5)),
        exp.DataType.Type.INT,
    )


def _sqlite_from_day_number(n: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="DATE", expressions=[
        exp.Add(this=exp.Literal.number(2440587.5), expression=n)])


def _sqlite_from_parts(y, m, d) -> exp.Expression:
    return exp.Anonymous(this="DATE", expressions=[exp.Anonymous(this="PRINTF", expressions=[
        exp.Literal.string("%04d-%02d-%02d"), y, m, d])])


def _postgres_day_number(d: exp.Expression) -> exp.Expression:
    # date - date is an integer number of days in PostgreSQL
    return exp.paren(exp.Sub(this=exp.cast(d, exp.DataType.Type.DATE), expression=_epoch()))


def _postgres_from_day_number(n: exp.Expression) -> exp.Expression:
    return exp.paren(exp.Add(this=_epoch(), expression=exp.cast(n, exp.DataType.Type.INT)))


def _spark_day_number(d: exp.Expression) -> exp.Expression:
    # DATEDIFF(end, start) is an INT in Spark; the three-argument form is a BIGINT
    return exp.Anonymous(this="DATEDIFF", expressions=[d, _epoch()])


def _spark_from_day_number(n: exp.Expression) -> exp.Expression:
    # DATE_ADD takes an INT day count
    return exp.Anonymous(this="DATE_ADD", expressions=[_epoch(), exp.cast(
        n, exp.DataType.Type.INT)])


def _anon(name: str):
    return lambda *args: exp.Anonymous(this=name, expressions=list(args))


REGISTRY: dict[str, DateFunctions] = {
    "sqlite": DateFunctions(
        year=_strftime_int("%Y"),
        month=_strftime_int("%m"),
        day_number=_sqlite_day_number,
        from_parts=_sqlite_from_parts,
        from_day_number=_sqlite_from_day_number,
        to_date=_sqlite_date,
    ),
    "postgres": DateFunctions(
        # EXTRACT gives NUMERIC in PostgreSQL; indexes must stay integers
        year=_int_extract("YEAR"), month=_int_extract("MONTH"), day_number=_postgres_day_number,
        # DIV() gives NUMERIC too: MAKE_DATE wants integers
        from_parts=lambda *a: exp.Anonymous(this="MAKE_DATE", expressions=[
            exp.cast(x, exp.DataType.Type.INT) for x in a]),
        from_day_number=_postgres_from_day_number,
    ),
    "redshift": DateFunctions(
        year=DEFAULT.year, month=DEFAULT.month, day_number=_datediff_days,
        from_parts=lambda y, m, d: _redshift_from_parts(y, m, d),
        from_day_number=_dateadd_days,
    ),
    "clickhouse": DateFunctions(
        year=DEFAULT.year, month=DEFAULT.month, day_number=_datediff_days,
        from_parts=_anon("makeDate"), from_day_number=_dateadd_days,
        # a cast truncates: 131.67 (a double just below it) would become 131.669999
        # (through text, which prints the shortest round-tripping form)
        money=lambda e: exp.cast(exp.cast(exp.Round(this=e, decimals=exp.Literal.number(6)),
                                          exp.DataType.Type.TEXT),
                                 exp.DataType.build("DECIMAL(18, 6)")),
    ),
    "duckdb": DateFunctions(
        year=DEFAULT.year, month=DEFAULT.month, day_number=_datediff_days,
        from_parts=_anon("MAKE_DATE"), from_day_number=_dateadd_days,
    ),
    "spark": DateFunctions(
        year=DEFAULT.year, month=DEFAULT.month, day_number=_spark_day_number,
        from_parts=_anon("MAKE_DATE"), from_day_number=_spark_from_day_number,
    ),
    "databricks": DateFunctions(
        year=DEFAULT.year, month=DEFAULT.month, day_number=_spark_day_number,
        from_parts=_anon("MAKE_DATE"), from_day_number=_spark_from_day_number,
    ),
    "mysql": DateFunctions(
        year=DEFAULT.year, month=DEFAULT.month, day_number=_datediff_days,
        from_parts=lambda y, m, d: exp.Anonymous(this="STR_TO_DATE", expressions=[
            exp.Anonymous(this="CONCAT_WS", expressions=[exp.Literal.string("-"), y, m, d]),
            exp.Literal.string("%Y-%m-%d")]),
        from_day_number=_dateadd_days,
    ),
    "trino": DateFunctions(
        year=DEFAULT.year, month=DEFAULT.month, day_number=_datediff_days,
        from_parts=lambda y, m, d: exp.Anonymous(this="DATE", expressions=[
            exp.Anonymous(this="FORMAT", expressions=[
                exp.Literal.string("%04d-%02d-%02d"), y, m, d])]),
        from_day_number=_dateadd_days,
    ),
}


def _redshift_from_parts(y, m, d) -> exp.Expression:
    # Redshift has no MAKE_DATE: build 'YYYY-MM-DD' and cast
    text = exp.Anonymous(this="TO_DATE", expressions=[
        exp.DPipe(this=exp.DPipe(this=exp.DPipe(this=exp.DPipe(
            this=exp.cast(y, "VARCHAR"), expression=exp.Literal.string("-")),
            expression=exp.cast(m, "VARCHAR")), expression=exp.Literal.string("-")),
            expression=exp.cast(d, "VARCHAR")),
        exp.Literal.string("YYYY-MM-DD")])
    return text


def date_functions(dialect: str) -> DateFunctions:
    return REGISTRY.get(dialect, DEFAULT)


# -- per-query settings -------------------------------------------------------------------------

# Settings an engine needs for our SQL to mean what it means on DuckDB, carried by each query
# (a SETTINGS clause) so that shipped files and warehouse builds need no session set-up.
QUERY_SETTINGS: dict[str, dict[str, int]] = {
    "clickhouse": {
        # LEFT JOIN misses are NULL, not 0 / '' (the default fills in the type's default)
        "join_use_nulls": 1,
        # `sum(renewed) as renewed` elsewhere in the select list means the column, not the
        # aggregate (ClickHouse otherwise substitutes aliases everywhere in the query)
        "prefer_column_name_to_alias": 1,
    },
}


def with_query_settings(query: exp.Query, dialect: str) -> exp.Query:
    """``query`` with the engine's QUERY_SETTINGS attached to its outermost SELECT."""
    settings = QUERY_SETTINGS.get(dialect)
    if not settings:
        return query
    if not isinstance(query, exp.Select):
        query = exp.select("*").from_(query.subquery("settings_scope"))
    query = query.copy()
    query.set("settings", [exp.EQ(this=exp.column(k), expression=exp.Literal.number(v))
                           for k, v in settings.items()])
    return query
