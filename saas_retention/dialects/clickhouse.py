"""ClickHouse: case-sensitive function names, LEFT JOIN misses that are not NULL and aliases
substituted everywhere unless the query says otherwise, output columns named after the whole
expression, a planner that inlines every CTE reference, and lambda SQL functions."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects.base import (
    EXECUTED,
    DateFunctions,
    Engine,
    TimeFunctions,
    anonymous,
    iso_dow_from_days,
)

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
    """CTEs referenced more than once become ``AS MATERIALIZED`` when inlining would plan more
    than CLICKHOUSE_MAX_INLINED_CTES copies."""
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


def materialized_note(query: exp.Query) -> list[str]:
    if any(c.args.get("materialized") for c in query.find_all(exp.CTE)):
        return ["Its shared CTEs are MATERIALIZED (experimental in ClickHouse: needs the "
                "analyzer and enable_materialized_cte); without them build it relation by "
                "relation with `saas-retention build --source <URL>`."]
    return []


def money(e: exp.Expression) -> exp.Expression:
    # a cast truncates: 131.67 (a double just below it) would become 131.669999
    # (through text, which prints the shortest round-tripping form)
    return exp.cast(exp.cast(exp.Round(this=e, decimals=exp.Literal.number(6)),
                             exp.DataType.Type.TEXT),
                    exp.DataType.build("DECIMAL(18, 6)"))


def create_function(name: str, args: list[str], _kind: str | None, body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name} AS ({', '.join(args)}) -> ({body})"


ENGINE = Engine(
    name="clickhouse",
    tier=EXECUTED,
    aliases=("ch", "chdb"),
    sqlalchemy_names=("clickhouse", "clickhousedb"),
    dates=DateFunctions(from_parts=anonymous("makeDate"), money=money),
    times=TimeFunctions(
        hour=anonymous("toHour"), minute=anonymous("toMinute"), second=anonymous("toSecond"),
        iso_day_of_week=iso_dow_from_days,
        # toTimeZone keeps the instant and changes the zone its parts (toHour, toDate) use
        local_time=lambda ts, tz: exp.Anonymous(this="toTimeZone", expressions=[
            ts, exp.Literal.string(tz)]),
        # DateTime64 columns stay as they are: a cast to DateTime would drop sub-seconds
        to_timestamp=lambda e: e,
    ),
    query_settings={
        # LEFT JOIN misses are NULL, not 0 / '' (the default fills in the type's default)
        "join_use_nulls": 1,
        # `sum(renewed) as renewed` elsewhere in the select list means the column, not the
        # aggregate (ClickHouse otherwise substitutes aliases everywhere in the query)
        "prefer_column_name_to_alias": 1,
    },
    nulls="last",
    window_nulls_ordering=True,
    names_qualified_columns=True,
    # ClickHouse knows CUME_DIST and PERCENT_RANK only in lower case; and sqlglot 28.x
    # (Superset's pin) writes LAG/LEAD as lagInFrame/leadInFrame, which honour the default
    # window frame (up to the current row): leadInFrame never sees the next row and both give
    # 0, not NULL, where there is none — silently wrong lifecycle states. ClickHouse's own
    # lag/lead behave as elsewhere.
    case_sensitive_functions=(exp.CumeDist, exp.PercentRank, exp.Lag, exp.Lead),
    create_function=create_function,
    standalone_shape=materialize_shared_ctes,
    standalone_notes=materialized_note,
    json_text=lambda j, k: exp.Anonymous(this="JSONExtractRaw", expressions=[j, k]),
)
