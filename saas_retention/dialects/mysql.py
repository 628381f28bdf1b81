"""MySQL and MariaDB: no NULLS FIRST/LAST, a rounding integer cast, no MAKE_DATE, CTEs
merged into every query that reads them, and RENAME TO that moves a table between
databases."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.core.errors import ConfigError
from saas_retention.dialects.base import (
    EXECUTED,
    DateFunctions,
    Engine,
    RecordFunctions,
    TimeFunctions,
    exact_int_div,
    json_path,
    lit,
)

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


def from_parts(y, m, d) -> exp.Expression:
    # MAKEDATE(year, 1) + months + days: out-of-range years give NULL where STR_TO_DATE raises
    # (in strict mode MariaDB raises even for rows a later filter drops)
    def plus(e, n, unit):
        return exp.DateAdd(this=e, expression=exp.paren(exp.Sub(this=n, expression=lit(1))),
                           unit=exp.var(unit))

    return plus(plus(exp.Anonymous(this="MAKEDATE", expressions=[y, lit(1)]), m, "MONTH"), d,
                "DAY")


def no_local_clock(ts: exp.Expression, tz: str) -> exp.Expression:
    # sqlglot drops AT TIME ZONE for MySQL (a warning only), and CONVERT_TZ to a zone name
    # gives NULL unless the server's time-zone tables are loaded: either way the times would
    # be wrong without an error
    raise ConfigError(f"timezone: {tz!r}: MySQL and MariaDB convert to a named time zone "
                      "only with the server's time-zone tables loaded (CONVERT_TZ gives NULL "
                      "without them), so a connector's times (UTC in the tool's export) are "
                      "not converted there; set timezone: UTC, or build with DuckDB or "
                      "PostgreSQL")


ENGINE = Engine(
    name="mysql",
    tier=EXECUTED,
    sqlalchemy_names=("mysql", "mariadb"),
    dates=DateFunctions(int_div=exact_int_div, from_parts=from_parts),
    times=TimeFunctions(
        # a connector's UTC times (Stripe's) to the reporting zone: refused, as for the
        # other connectors (RecordFunctions.utc_to_local below)
        from_utc=no_local_clock,
        # MySQL TIMESTAMP values are read in the session zone: set it to UTC
        local_time=lambda ts, tz: exp.Anonymous(this="CONVERT_TZ", expressions=[
            ts, exp.Literal.string("+00:00"), exp.Literal.string(tz)]),
        to_timestamp=lambda e: exp.cast(e, exp.DataType.Type.DATETIME),
    ),
    records=RecordFunctions(utc_to_local=no_local_clock),
    nulls="small",
    window_nulls_ordering=False,
    standalone_shape=mysql_unmerged_ctes,
    # RENAME TO an unqualified name moves the table to the current database
    rename_needs_schema=True,
    json_text=lambda j, k: exp.Anonymous(this="JSON_UNQUOTE", expressions=[exp.Anonymous(
        this="JSON_EXTRACT", expressions=[j, json_path(k)])]),
)
