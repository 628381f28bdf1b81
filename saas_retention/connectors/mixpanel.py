"""Mixpanel: the raw event export (docs/connectors.md#mixpanel).

One JSON object a line: ``event`` (the name) and ``properties`` holding ``time`` (seconds since
1970, or milliseconds in newer exports), ``distinct_id``, ``$insert_id``, and with ID merge
``$device_id`` (the anonymous device) and ``$user_id`` (the identified user). Mixpanel's raw
export is not de-duplicated: events sharing ``event``, ``distinct_id``, ``time`` and
``$insert_id`` are one event (Mixpanel's "Event Deduplication" reference), the copy ingested
last being the one Mixpanel shows (``mp_processing_time_ms``).
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ToolTable
from saas_retention.connectors.product import (
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
    text,
)
from saas_retention.relations.target import Target, col, tool_table

TABLE = "mixpanel_export"
# properties.time below 10^11 is in seconds (10^11 s is the year 5138), below 10^14 in
# milliseconds; beyond, the unit is not one Mixpanel writes
MILLISECONDS_FROM = 10 ** 11
UNKNOWN_FROM = 10 ** 14


def tool_rows(t: Target) -> exp.Select:
    require_customer(t.settings, "mixpanel", ("property", "group"))
    props = col("properties")

    def prop(name: str) -> exp.Expression:
        return nullif_blank(text(t, props.copy(), name))

    # a time that is not a number is not time_ok: counted by the unknown_time_unit check
    time = number_or_null(prop("time"))
    event_at = exp.Case(
        ifs=[exp.If(this=exp.LT(this=time, expression=lit(MILLISECONDS_FROM)),
                    true=epoch_utc(t, prop("time"), 1))],
        default=epoch_utc(t, prop("time"), 1000))
    time_ok = exp.and_(time.copy().is_(exp.null()).not_(),
                       exp.GTE(this=time.copy(), expression=lit(0)),
                       exp.LT(this=time.copy(), expression=lit(UNKNOWN_FROM)))
    source = customer_source(t.settings)
    # a group key is an event property in Mixpanel's group analytics
    hint = prop(source.name) if source is not None else exp.null()
    insert_id = prop("$insert_id")
    key = exp.Case(ifs=[exp.If(this=insert_id.is_(exp.null()), true=exp.null())],
                   default=exp.func("concat", col("event"), lit("\x1f"), prop("distinct_id"),
                                    lit("\x1f"), prop("time"), lit("\x1f"), insert_id.copy()))
    return exp.select(
        exp.alias_(col("event"), "event_name"),
        exp.alias_(exp.Case(ifs=[exp.If(this=time_ok, true=event_at)]), "event_at"),
        # identified: $user_id; a distinct_id that is not a device's ("$device:…") is a
        # user id too (projects without ID merge, or identified events)
        exp.alias_(exp.Coalesce(this=prop("$user_id"), expressions=[exp.Case(ifs=[exp.If(
            this=exp.and_(prop("$device_id").is_(exp.null()),
                          exp.Not(this=exp.Like(this=prop("distinct_id"),
                                                expression=lit("$device:%")))),
            true=prop("distinct_id"))])]), "known_user"),
        exp.alias_(exp.Coalesce(this=prop("$device_id"), expressions=[exp.Case(ifs=[exp.If(
            this=exp.Like(this=prop("distinct_id"), expression=lit("$device:%")),
            true=exp.func("substr", prop("distinct_id"), lit(9)))])]), "anonymous_id"),
        exp.alias_(exp.cast(exp.null(), "VARCHAR"), "session_id"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "duration_seconds"),
        exp.alias_(hint, "hint"),
        exp.alias_(key, "dedupe_key"),
        exp.alias_(number_or_null(prop("mp_processing_time_ms")), "dedupe_order"),
        exp.alias_(time_ok.copy(), "time_ok"),
    ).from_(tool_table(t, TABLE))


def resolved(t: Target) -> exp.Select:
    return pipeline(t, tool_rows(t))


MIXPANEL = register(Connector(
    name="mixpanel",
    produces="events",
    tables=(ToolTable(TABLE, ("event", "properties"),
                      "the raw export: one JSON object a line"),),
    build=lambda t: kept(t, resolved(t)),
    extra_tables=identity_table,
    summary=lambda t: summary(resolved(t)),
    checks=event_checks(
        "Mixpanel", TABLE, resolved, "event, distinct_id, time and $insert_id",
        "properties.time is not seconds or milliseconds since 1970 (or is missing)"),
    description="Mixpanel raw event export -> events",
))
