"""Per-engine differences, as data: one registry of small functions returning sqlglot nodes.

Models only use integer period indexes, so the date functions below are needed only where a
date becomes an index (staging) or an index becomes a date (the calendar). Everything else is
sqlglot's own generation for the dialect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from saas_retention.core.errors import ConfigError

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
    "mysql": "executed",
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
    # integer division of non-negative integers
    int_div: Callable[[exp.Expression, exp.Expression], exp.Expression] = (
        lambda a, b: exp.IntDiv(this=a, expression=b))


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


def _exact_int_div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    # (a - a % b) / b is exact, so the cast cannot round. sqlglot's own IntDiv is not safe here:
    # 28.x writes CAST(a / b AS SIGNED) for MySQL and CAST(a / b AS INT) for Snowflake and
    # Trino, and those casts round (2023.92 -> 2024: a date a year late)
    exact = exp.Div(this=exp.paren(exp.Sub(this=a, expression=exp.Mod(this=a.copy(),
                                                                     expression=b))),
                    expression=b.copy())
    return exp.cast(exact, exp.DataType.Type.BIGINT)


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
        # SQLite has no DECIMAL (the cast keeps every digit): round to the 6 places others keep
        money=lambda e: exp.Round(this=e, decimals=exp.Literal.number(6)),
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
        int_div=_exact_int_div,
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
        int_div=_exact_int_div,
        year=DEFAULT.year, month=DEFAULT.month, day_number=_datediff_days,
        from_parts=lambda y, m, d: _mysql_from_parts(y, m, d),
        from_day_number=_dateadd_days,
    ),
    "snowflake": dataclasses.replace(DEFAULT, int_div=_exact_int_div),
    "trino": DateFunctions(
        int_div=_exact_int_div,
        year=DEFAULT.year, month=DEFAULT.month, day_number=_datediff_days,
        from_parts=lambda y, m, d: exp.Anonymous(this="DATE", expressions=[
            exp.Anonymous(this="FORMAT", expressions=[
                exp.Literal.string("%04d-%02d-%02d"), y, m, d])]),
        from_day_number=_dateadd_days,
    ),
}


def _mysql_from_parts(y, m, d) -> exp.Expression:
    # MAKEDATE(year, 1) + months + days: out-of-range years give NULL where STR_TO_DATE raises
    # (in strict mode MariaDB raises even for rows a later filter drops)
    def plus(e, n, unit):
        return exp.DateAdd(this=e, expression=exp.paren(exp.Sub(this=n, expression=_lit(1))),
                           unit=exp.var(unit))

    return plus(plus(exp.Anonymous(this="MAKEDATE", expressions=[y, _lit(1)]), m, "MONTH"), d,
                "DAY")


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


# -- timestamps: parts of the local clock, and time zones --------------------------------------

@dataclass(frozen=True)
class TimeFunctions:
    """Parts of a (local, naive) timestamp as integers, and the conversion of a time-zone-aware
    timestamp column to the reporting time zone's local clock."""
    hour: Callable[[exp.Expression], exp.Expression]
    minute: Callable[[exp.Expression], exp.Expression]
    second: Callable[[exp.Expression], exp.Expression]  # whole seconds, fraction dropped
    # ISO day of week (Monday = 1 … Sunday = 7) of a DATE expression
    iso_day_of_week: Callable[[exp.Expression, str], exp.Expression]
    # a tz-aware timestamp -> the naive local timestamp in zone ``tz``
    local_time: Callable[[exp.Expression, str], exp.Expression]
    # a naive timestamp column as the engine's timestamp type
    to_timestamp: Callable[[exp.Expression], exp.Expression] = (
        lambda e: exp.cast(e, exp.DataType.Type.TIMESTAMP))


def _floor_second(ts: exp.Expression) -> exp.Expression:
    return exp.cast(exp.Floor(this=exp.Extract(this=exp.var("SECOND"), expression=ts)),
                    exp.DataType.Type.INT)


def _iso_dow_from_days(d: exp.Expression, dialect: str) -> exp.Expression:
    # 1970-01-01 (day 0) was a Thursday (ISO 4); +7 keeps truncating modulo non-negative
    days = date_functions(dialect).day_number(d)
    mod = exp.Mod(this=exp.paren(exp.Add(this=exp.paren(exp.Mod(this=days, expression=_lit(7))),
                                         expression=_lit(10))), expression=_lit(7))
    return exp.Add(this=exp.paren(mod), expression=_lit(1))


def _at_time_zone(ts: exp.Expression, tz: str) -> exp.Expression:
    return exp.AtTimeZone(this=ts, zone=exp.Literal.string(tz))


DEFAULT_TIME = TimeFunctions(
    hour=_int_extract("HOUR"),
    minute=_int_extract("MINUTE"),
    second=_floor_second,
    iso_day_of_week=_iso_dow_from_days,
    local_time=lambda ts, tz: exp.cast(_at_time_zone(ts, tz), exp.DataType.Type.TIMESTAMP),
)


def _sqlite_no_time_zones(ts: exp.Expression, tz: str) -> exp.Expression:
    raise ConfigError("SQLite has no time-zone-aware timestamp type: store local times (or "
                      "UTC times and set timezone: UTC)")


TIME_REGISTRY: dict[str, TimeFunctions] = {
    "duckdb": TimeFunctions(
        # what the DuckDB staging has always used
        hour=_extract("HOUR"), minute=_extract("MINUTE"), second=_floor_second,
        iso_day_of_week=lambda d, _dialect: exp.Extract(this=exp.var("ISODOW"), expression=d),
        local_time=lambda ts, tz: exp.Anonymous(this="TIMEZONE", expressions=[
            exp.Literal.string(tz), ts]),
    ),
    "sqlite": TimeFunctions(
        hour=_strftime_int("%H"), minute=_strftime_int("%M"), second=_strftime_int("%S"),
        iso_day_of_week=_iso_dow_from_days, local_time=_sqlite_no_time_zones,
        # DATETIME() normalises 'YYYY-MM-DDTHH:MM:SS' text to 'YYYY-MM-DD HH:MM:SS'
        to_timestamp=lambda e: exp.Anonymous(this="DATETIME", expressions=[e]),
    ),
    "postgres": TimeFunctions(
        hour=DEFAULT_TIME.hour, minute=DEFAULT_TIME.minute, second=_floor_second,
        iso_day_of_week=_iso_dow_from_days,
        # timestamptz AT TIME ZONE z is the naive wall-clock time in z
        local_time=_at_time_zone,
    ),
    "redshift": TimeFunctions(
        hour=DEFAULT_TIME.hour, minute=DEFAULT_TIME.minute, second=_floor_second,
        iso_day_of_week=_iso_dow_from_days, local_time=_at_time_zone,
    ),
    "clickhouse": TimeFunctions(
        hour=_anon("toHour"), minute=_anon("toMinute"), second=_anon("toSecond"),
        iso_day_of_week=_iso_dow_from_days,
        # toTimeZone keeps the instant and changes the zone its parts (toHour, toDate) use
        local_time=lambda ts, tz: exp.Anonymous(this="toTimeZone", expressions=[
            ts, exp.Literal.string(tz)]),
        # DateTime64 columns stay as they are: a cast to DateTime would drop sub-seconds
        to_timestamp=lambda e: e,
    ),
    "spark": TimeFunctions(
        hour=_anon("HOUR"), minute=_anon("MINUTE"), second=_anon("SECOND"),
        iso_day_of_week=_iso_dow_from_days,
        # Spark timestamps are instants shown in the session zone; from_utc_timestamp
        # shifts one so that, shown in UTC, it reads as the local clock of tz
        local_time=lambda ts, tz: exp.Anonymous(this="FROM_UTC_TIMESTAMP", expressions=[
            ts, exp.Literal.string(tz)]),
    ),
    "snowflake": TimeFunctions(
        hour=DEFAULT_TIME.hour, minute=DEFAULT_TIME.minute, second=_floor_second,
        iso_day_of_week=_iso_dow_from_days,
        local_time=lambda ts, tz: exp.cast(exp.Anonymous(this="CONVERT_TIMEZONE", expressions=[
            exp.Literal.string(tz), ts]), exp.DataType.build("TIMESTAMP_NTZ", dialect="snowflake")),
    ),
    "bigquery": TimeFunctions(
        hour=DEFAULT_TIME.hour, minute=DEFAULT_TIME.minute, second=_floor_second,
        iso_day_of_week=_iso_dow_from_days,
        # DATETIME(timestamp, zone) is the civil time in zone
        local_time=lambda ts, tz: exp.Anonymous(this="DATETIME", expressions=[
            ts, exp.Literal.string(tz)]),
        to_timestamp=lambda e: exp.cast(e, exp.DataType.Type.DATETIME),
    ),
    "mysql": TimeFunctions(
        hour=DEFAULT_TIME.hour, minute=DEFAULT_TIME.minute, second=_floor_second,
        iso_day_of_week=_iso_dow_from_days,
        # MySQL TIMESTAMP values are read in the session zone: set it to UTC
        local_time=lambda ts, tz: exp.Anonymous(this="CONVERT_TZ", expressions=[
            ts, exp.Literal.string("+00:00"), exp.Literal.string(tz)]),
        to_timestamp=lambda e: exp.cast(e, exp.DataType.Type.DATETIME),
    ),
}
TIME_REGISTRY["databricks"] = TIME_REGISTRY["spark"]


def time_functions(dialect: str) -> TimeFunctions:
    return TIME_REGISTRY.get(dialect, DEFAULT_TIME)


# -- NULL ordering in window frames ------------------------------------------------------------

def _nulls_first_by_default(dialect: str, desc: bool) -> bool:
    """Where the engine sorts NULLs when the ORDER BY key says nothing."""
    from sqlglot.dialects.dialect import Dialect

    ordering = Dialect.get_or_raise(dialect).NULL_ORDERING
    if ordering == "nulls_are_last":
        return False
    return desc if ordering == "nulls_are_large" else not desc


def window_null_ordering(tree: exp.Expression, dialect: str) -> exp.Expression:
    """Templates order rows as DuckDB does (NULLs last); engines without NULLS FIRST/LAST
    (MySQL, T-SQL, BigQuery) sort them first, and sqlglot cannot always write the difference
    inside a window — it drops it with a warning. There each key
    whose NULLs the engine would place elsewhere is preceded by ``CASE WHEN key IS NULL …``
    (the emulation sqlglot itself uses outside windows), so the rows come in DuckDB's order
    whether or not the key can be NULL. Only frames counted in rows (or a RANGE without an
    offset) are rewritten: there an extra key changes no frame."""
    from sqlglot.dialects.dialect import Dialect

    if Dialect.get_or_raise(dialect).generator_class.NULL_ORDERING_SUPPORTED is True:
        return tree
    for window in list(tree.find_all(exp.Window)):
        spec, order = window.args.get("spec"), window.args.get("order")
        if order is None:
            continue
        # without a frame too: sqlglot 28.x drops the NULLS LAST of any ordered window for
        # BigQuery. The null rank is a function of the key, so peers (the default RANGE frame,
        # rank, cume_dist) stay the same rows
        offsets = [spec.args.get(k) for k in ("start", "end")] if spec is not None else []
        if spec is not None and spec.text("kind").upper() == "RANGE" and any(
                isinstance(o, exp.Expression) and not isinstance(o, exp.Var)
                or isinstance(o, str) and o.upper() not in ("UNBOUNDED", "CURRENT ROW")
                for o in offsets if o is not None):
            continue
        keys: list[exp.Ordered] = []
        for key in order.expressions:
            desc = bool(key.args.get("desc"))
            nulls_first = bool(key.args.get("nulls_first"))
            native = _nulls_first_by_default(dialect, desc)
            if nulls_first != native:
                null_rank = exp.Case(
                    ifs=[exp.If(this=key.this.copy().is_(exp.null()),
                                true=_lit(0 if nulls_first else 1))],
                    default=_lit(1 if nulls_first else 0))
                keys.append(exp.Ordered(this=null_rank, desc=False,
                                        nulls_first=_nulls_first_by_default(dialect, False)))
                key = key.copy()
                key.set("nulls_first", native)
            keys.append(key)
        order.set("expressions", keys)
    return tree


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


# -- whole-query shapes -------------------------------------------------------------------------

# ClickHouse plans every reference to a CTE as a fresh copy of its subquery, so a standalone
# query whose CTEs reference shared CTEs grows with the number of paths through them; past a few
# hundred copies its planner gives up ("Too many optimizations applied to query plan"). Such
# queries (churn_presets) read their shared CTEs as MATERIALIZED instead, computed once. That
# is an experimental ClickHouse feature (analyzer + enable_materialized_cte), so only the
# queries that need it use it.
CLICKHOUSE_MAX_INLINED_CTES = 300


def inlined_cte_copies(query: exp.Query) -> int:
    """How many CTE bodies an engine that inlines every reference plans for ``query``."""
    with_ = query.args.get("with_", query.args.get("with"))
    if with_ is None:
        return 0
    ctes = {c.alias: c.this for c in with_.expressions}
    copies: dict[str, int] = {}

    def size(name: str) -> int:
        if name not in copies:
            copies[name] = 1 + sum(size(t.name) for t in ctes[name].find_all(exp.Table)
                                   if t.name in ctes and not t.db)
        return copies[name]

    body = query.copy()
    body.set("with_" if "with_" in query.args else "with", None)
    return sum(size(t.name) for t in body.find_all(exp.Table) if t.name in ctes and not t.db)


def materialize_shared_ctes(query: exp.Query) -> exp.Query:
    """ClickHouse: CTEs referenced more than once become ``AS MATERIALIZED`` when inlining
    would plan more than CLICKHOUSE_MAX_INLINED_CTES copies."""
    if inlined_cte_copies(query) <= CLICKHOUSE_MAX_INLINED_CTES:
        return query
    query = query.copy()
    with_ = query.args.get("with_", query.args.get("with"))
    names = [t.name for t in query.find_all(exp.Table) if not t.db]
    for cte in with_.expressions:
        if names.count(cte.alias) > 1:
            cte.set("materialized", True)
    settings = list(query.args.get("settings") or [])
    settings.append(exp.EQ(this=exp.column("enable_materialized_cte"),
                           expression=exp.Literal.number(1)))
    query.set("settings", settings)
    return query


# MySQL/MariaDB merge a CTE into every query that reads it; merged into joins, the calendar's
# 100,000-row numbers relation is re-joined for each outer row (a standalone customer_periods
# ran for minutes on a 40-subscription fixture). A LIMIT above any possible row count keeps
# the rows and makes each CTE a derived table computed once (neither engine merges those).
MYSQL_NO_MERGE_LIMIT = "18446744073709551615"


def mysql_unmerged_ctes(query: exp.Query) -> exp.Query:
    query = query.copy()
    with_ = query.args.get("with_", query.args.get("with"))
    for cte in with_.expressions if with_ else []:
        body = cte.this
        if not isinstance(body, exp.Select):
            body = exp.select("*").from_(body.subquery(f"{cte.alias}__rows"))
        if body.args.get("limit") is None:
            body.set("limit", exp.Limit(expression=exp.Literal.number(MYSQL_NO_MERGE_LIMIT)))
        cte.set("this", body)
    return query


STANDALONE_SHAPES: dict[str, Callable[[exp.Query], exp.Query]] = {
    "clickhouse": materialize_shared_ctes,
    "mysql": mysql_unmerged_ctes,
}


def standalone_shape(query: exp.Query, dialect: str) -> exp.Query:
    shape = STANDALONE_SHAPES.get(dialect)
    return shape(query) if shape else query


def standalone_notes(query: exp.Query, dialect: str) -> list[str]:
    """Header lines telling users what the shipped query needs from their engine."""
    notes = []
    settings = QUERY_SETTINGS.get(dialect)
    if settings:
        notes.append("Keep the SETTINGS clause at the end: "
                     f"{', '.join(settings)} make the numbers match the other engines.")
    if any(c.args.get("materialized") for c in query.find_all(exp.CTE)):
        notes.append("Its shared CTEs are MATERIALIZED (experimental in ClickHouse: needs the "
                     "analyzer and enable_materialized_cte); without them build it relation by "
                     "relation with `saas-retention build --source <URL>`.")
    return notes


# -- model trees as each engine needs them ----------------------------------------------------


NAMES_QUALIFIED_COLUMNS = {"clickhouse"}


# Functions written as plain calls under their lower-case name, not as sqlglot spells them:
# ClickHouse knows CUME_DIST and PERCENT_RANK only in lower case; and sqlglot 28.x (Superset's
# pin) writes LAG/LEAD as lagInFrame/leadInFrame, which honour the default window frame (up to
# the current row): leadInFrame never sees the next row and both give 0, not NULL, where there
# is none — silently wrong lifecycle states. ClickHouse's own lag/lead behave as elsewhere.
CASE_SENSITIVE_FUNCTIONS: dict[str, tuple[type[exp.Func], ...]] = {
    "clickhouse": (exp.CumeDist, exp.PercentRank, exp.Lag, exp.Lead),
}


def lower_case_functions(tree: exp.Expression,
                         kinds: tuple[type[exp.Func], ...]) -> exp.Expression:
    """``CUME_DIST()`` -> ``cume_dist()``: the same call, named as the engine spells it."""
    def lower(node: exp.Expression) -> exp.Expression:
        if isinstance(node, kinds):
            if isinstance(node, (exp.Lag, exp.Lead)):
                if node.args.get("default") is not None and node.args.get("offset") is None:
                    node = node.copy()
                    node.set("offset", exp.Literal.number(1))
                args = [node.args[k] for k in ("this", "offset", "default")
                        if node.args.get(k) is not None]
                name = "lag" if isinstance(node, exp.Lag) else "lead"
            else:
                args, name = node.expressions, node.sql_name().lower()
            return exp.Anonymous(this=name, expressions=[a.copy() for a in args])
        return node

    return tree.transform(lower)


def alias_qualified_columns(tree: exp.Expression) -> exp.Expression:
    """``select t.c`` -> ``select t.c as c`` in every select list."""
    for select in tree.find_all(exp.Select):
        select.set("expressions", [
            exp.alias_(p, p.name)
            if isinstance(p, exp.Column) and p.table and not isinstance(p.this, exp.Star) else p
            for p in select.expressions
        ])
    return tree


def engine_spelling(tree: exp.Expression, dialect: str) -> exp.Expression:
    """A compiled model's tree as ``dialect`` needs it: its column naming and function
    spelling. Every compile path applies it (``model_ast``), so ``compile_model`` and the
    builds write the same SQL."""
    if dialect in NAMES_QUALIFIED_COLUMNS:
        tree = alias_qualified_columns(tree)
    if dialect in CASE_SENSITIVE_FUNCTIONS:
        tree = lower_case_functions(tree, CASE_SENSITIVE_FUNCTIONS[dialect])
    return tree
