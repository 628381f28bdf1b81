"""Amplitude: the Export API's events (docs/connectors.md#amplitude).

One JSON object a line (gzipped, one file an hour): ``event_type``, ``event_time`` (UTC,
``YYYY-MM-DD HH:MM:SS.ffffff``), ``user_id``, ``device_id``, ``session_id`` (the session's
start in milliseconds; -1 for no session), ``insert_id`` and ``uuid`` (the event's own id),
``event_properties``, ``user_properties`` and ``groups`` (group type -> the group, a value or
a list). Overlapping exports repeat an event with the same ``uuid``: one copy is kept.
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ToolTable
from saas_retention.connectors.product import (
    as_text,
    customer_source,
    event_checks,
    identity_table,
    kept,
    lit,
    nullif_blank,
    pipeline,
    require_customer,
    summary,
    text,
    text_utc,
)
from saas_retention.relations.target import Target, col, tool_table

TABLE = "amplitude_events"


def tool_rows(t: Target) -> exp.Select:
    require_customer(t.settings, "amplitude", ("property", "group"))
    source = customer_source(t.settings)
    if source is None:
        hint = exp.null()
    elif source.kind == "group":
        # a group is a value or a list of values: its first
        hint = exp.Coalesce(this=nullif_blank(text(t, col("groups"), source.name, 0)),
                            expressions=[nullif_blank(text(t, col("groups"), source.name))])
    else:
        hint = exp.Coalesce(
            this=nullif_blank(text(t, col("event_properties"), source.name)),
            expressions=[nullif_blank(text(t, col("user_properties"), source.name))])
    device = nullif_blank(as_text(col("device_id")))
    session = nullif_blank(as_text(col("session_id")))
    return exp.select(
        exp.alias_(as_text(col("event_type")), "event_name"),
        exp.alias_(text_utc(t, col("event_time")), "event_at"),
        exp.alias_(nullif_blank(as_text(col("user_id"))), "known_user"),
        exp.alias_(device, "anonymous_id"),
        # a session id is the start time of a session on one device; -1: none
        exp.alias_(exp.Case(ifs=[exp.If(this=exp.or_(session.is_(exp.null()),
                                                     exp.EQ(this=session.copy(),
                                                            expression=lit("-1"))),
                                        true=exp.null())],
                            default=exp.func("concat", device.copy(), lit("."),
                                             session.copy())), "session_id"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "duration_seconds"),
        exp.alias_(hint, "hint"),
        exp.alias_(nullif_blank(as_text(col("uuid"))), "dedupe_key"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "dedupe_order"),
        exp.alias_(col("event_time").is_(exp.null()).not_(), "time_ok"),
    ).from_(tool_table(t, TABLE))


def resolved(t: Target) -> exp.Select:
    return pipeline(t, tool_rows(t))


AMPLITUDE = register(Connector(
    name="amplitude",
    produces="events",
    tables=(ToolTable(TABLE, ("event_type", "event_time", "user_id", "device_id",
                              "session_id", "uuid", "event_properties", "user_properties",
                              "groups"), "the Export API's events, one JSON object a line"),),
    build=lambda t: kept(t, resolved(t)),
    extra_tables=identity_table,
    summary=lambda t: summary(resolved(t)),
    checks=event_checks("Amplitude", TABLE, resolved, "uuid"),
    description="Amplitude export -> events",
))
