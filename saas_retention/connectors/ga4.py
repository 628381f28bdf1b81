"""Google Analytics 4: the BigQuery export (docs/connectors/ga4.md).

One row per event in the daily tables ``events_YYYYMMDD`` (``events_*`` in BigQuery, and for
a folder of the tables extracted to files: docs/connectors/ga4.md#daily-tables), or the same
rows as Parquet / JSON Lines: ``event_timestamp`` (microseconds since 1970, UTC),
``event_name``, ``user_id`` (set when the site identifies the user), ``user_pseudo_id`` (the
device), and the repeated records ``event_params`` and ``user_properties``, each
``{key, value: {string_value, int_value, float_value, double_value}}``. A session is
``ga_session_id`` within one ``user_pseudo_id``; ``engagement_time_msec`` is the time engaged.

In BigQuery the records are read with ``UNNEST``; elsewhere from their JSON (the dialects'
RecordFunctions).
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ToolTable
from saas_retention.connectors.product import (
    as_number,
    as_text,
    customer_source,
    epoch_utc,
    event_checks,
    identity_table,
    kept,
    lit,
    nullif_blank,
    number_or_null,
    pipeline,
    require_customer,
    summary,
)
from saas_retention.core.errors import ConfigError
from saas_retention.dialects import record_functions
from saas_retention.relations.target import Target, col, tool_table

TABLE = "ga4_events"
VALUE_FIELDS = ("string_value", "int_value", "double_value", "float_value")


def param(t: Target, records: str, key: str) -> exp.Expression:
    """The value of ``key`` in a repeated key/value record of the row, as text: a scalar
    subquery over the array's elements (the GA4 export's documented way to read a param)."""
    r = record_functions(t.dialect)
    value = exp.Coalesce(this=r.element("p", ("value", VALUE_FIELDS[0])),
                         expressions=[r.element("p", ("value", f)) for f in VALUE_FIELDS[1:]])
    return (exp.select(value)
            .from_(r.elements(col(records), "p"))
            .where(exp.EQ(this=r.element("p", ("key",)), expression=lit(key)))
            .limit(1).subquery())


def superseded_intraday(t: Target, table: exp.Table) -> exp.Expression | None:
    """In BigQuery the wildcard ``events_*`` matches the streaming export's
    ``events_intraday_YYYYMMDD`` too, which GA4 deletes once the day's ``events_YYYYMMDD`` is
    complete: while both exist the day would count twice. Keeps an intraday table only for a
    day without a daily table, as the DuckDB build does with files
    (builders/duckdb/sources.py ``superseded``). None for any other table name."""
    if t.tool_prefix is not None or t.dialect != "bigquery" or table.name.lower() != "events_*":
        return None
    suffix = exp.column("_TABLE_SUFFIX")  # BigQuery's pseudo-column: never quoted
    daily = exp.select(exp.column("_TABLE_SUFFIX")).from_(table.copy())
    day = exp.Substring(this=suffix.copy(), start=lit(len("intraday_") + 1))
    return exp.or_(exp.StartsWith(this=suffix, expression=lit("intraday_")).not_(),
                   exp.In(this=day, query=daily.subquery()).not_())


def tool_rows(t: Target) -> exp.Select:
    require_customer(t.settings, "ga4", ("property",))
    source = customer_source(t.settings)
    hint = (exp.Coalesce(this=param(t, "event_params", source.name),
                         expressions=[param(t, "user_properties", source.name)])
            if source is not None else exp.null())
    session = param(t, "event_params", "ga_session_id")
    pseudo = nullif_blank(as_text(col("user_pseudo_id")))
    # a time that is not a number is not time_ok: counted by the unknown_time_unit check
    micros = number_or_null(col("event_timestamp"))
    time_ok = exp.and_(micros.is_(exp.null()).not_(),
                       exp.GTE(this=micros.copy(), expression=lit(0)))
    table = tool_table(t, TABLE)
    if t.tool_prefix is None and t.dialect != "bigquery" and "*" in table.name:
        # elsewhere a quoted events_* names one table of that name, which no export creates
        raise ConfigError(
            f"tables.events.table: {table.name!r} is a BigQuery wildcard table; on "
            f"{t.dialect} load GA4's daily tables into one table and name it, or read the "
            "exported files with the DuckDB build (--source a folder)")
    rows = exp.select(
        exp.alias_(as_text(col("event_name")), "event_name"),
        exp.alias_(exp.Case(ifs=[exp.If(this=time_ok, true=epoch_utc(
            t, col("event_timestamp"), 1_000_000))]), "event_at"),
        exp.alias_(nullif_blank(as_text(col("user_id"))), "known_user"),
        exp.alias_(pseudo, "anonymous_id"),
        # ga_session_id is unique only within one device (the export's documentation)
        exp.alias_(exp.Case(ifs=[exp.If(this=session.is_(exp.null()), true=exp.null())],
                            default=exp.func("concat", pseudo.copy(), lit("."),
                                             session.copy())), "session_id"),
        exp.alias_(exp.Div(this=as_number(param(t, "event_params", "engagement_time_msec")),
                           expression=lit(1000.0)), "duration_seconds"),
        exp.alias_(hint, "hint"),
        exp.alias_(exp.cast(exp.null(), "VARCHAR"), "dedupe_key"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "dedupe_order"),
        exp.alias_(time_ok.copy(), "time_ok"),
    ).from_(table)
    intraday = superseded_intraday(t, table)
    return rows if intraday is None else rows.where(intraday)


def resolved(t: Target) -> exp.Select:
    return pipeline(t, tool_rows(t))


GA4 = register(Connector(
    name="ga4",
    produces="events",
    tables=(ToolTable(TABLE, ("event_timestamp", "event_name", "user_pseudo_id", "user_id",
                              "event_params", "user_properties"),
                      "the BigQuery export's events_YYYYMMDD rows"),),
    build=lambda t: kept(t, resolved(t)),
    extra_tables=identity_table,
    summary=lambda t: summary(resolved(t)),
    checks=event_checks("GA4", TABLE, resolved, None,
                        "event_timestamp is not microseconds since 1970 (or is missing)"),
    description="Google Analytics 4 BigQuery export -> events",
))
