"""Amplitude: the Export API's events (docs/connectors.md#amplitude).

One JSON object a line (gzipped, one file an hour): ``event_type``, ``event_time`` (UTC,
``YYYY-MM-DD HH:MM:SS.ffffff``), ``user_id``, ``device_id``, ``session_id`` (the session's
start in milliseconds; -1 for no session), ``insert_id`` and ``uuid`` (the event's own id),
``event_properties``, ``user_properties`` and ``groups`` (group type -> the group, a value or
a list).

Duplicates are dropped as Amplitude drops them: it ignores a later event with the same
``insert_id`` on the same ``device_id`` within seven days (its HTTP V2 API reference), so a
copy whose ``event_time`` lies at most seven days after an earlier copy's is dropped; a row
without ``insert_id`` (or ``device_id``) is one event per ``uuid`` (overlapping exports repeat
an event with the same ``uuid``).
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
    iso_time_check,
    kept,
    lit,
    nullif_blank,
    pipeline,
    require_customer,
    summary,
    text,
    text_utc,
)
from saas_retention.relations.events import second_index_sql
from saas_retention.relations.target import Target, col, tool_table

TABLE = "amplitude_events"
# Amplitude's de-duplication window for insert_id, in seconds
INSERT_ID_WINDOW = 7 * 86400


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
        exp.alias_(nullif_blank(as_text(col("uuid"))), "uuid_key"),
        exp.alias_(nullif_blank(as_text(col("insert_id"))), "insert_key"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "dedupe_order"),
        exp.alias_(col("event_time").is_(exp.null()).not_(), "time_ok"),
    ).from_(tool_table(t, TABLE))


def _c(name: str) -> exp.Column:
    return exp.column(name)


def deduplicated(t: Target) -> exp.Select:
    """``tool_rows`` with Amplitude's ``dedupe_key``: copies of one ``insert_id`` on one
    device form a chain while each follows the one before by at most seven days, and a chain
    is one event; rows without both keys are one event per ``uuid``."""
    cols = ("event_name", "event_at", "known_user", "anonymous_id", "session_id",
            "duration_seconds", "hint", "dedupe_order", "time_ok")
    chain = [_c("anonymous_id"), _c("insert_key")]
    order = exp.Order(expressions=[exp.Ordered(this=_c("event_at"), nulls_first=False)])
    second = exp.alias_(second_index_sql(_c("event_at"), t.dialect), "event_second")
    seconds = exp.select(*map(_c, cols), _c("uuid_key"), _c("insert_key"), second).from_(
        tool_rows(t).subquery("amplitude_rows"))
    previous = exp.Window(this=exp.Anonymous(this="LAG", expressions=[_c("event_second")]),
                          partition_by=chain, order=order)
    starts = exp.select(*map(_c, cols), _c("uuid_key"), _c("insert_key"), exp.alias_(
        exp.Case(ifs=[exp.If(this=exp.or_(previous.is_(exp.null()), exp.GT(
            this=exp.Sub(this=_c("event_second"), expression=previous.copy()),
            expression=lit(INSERT_ID_WINDOW))), true=lit(1))], default=lit(0)),
        "starts_chain")).from_(seconds.subquery("timed"))
    chain_number = exp.Window(this=exp.func("sum", _c("starts_chain")),
                              partition_by=[c.copy() for c in chain], order=order.copy())
    keyed = exp.Case(
        ifs=[exp.If(this=exp.or_(_c("insert_key").is_(exp.null()),
                                 _c("anonymous_id").is_(exp.null()),
                                 _c("event_at").is_(exp.null())), true=_c("uuid_key"))],
        default=exp.func("concat", _c("anonymous_id"), lit("\x1f"), _c("insert_key"),
                         lit("\x1f"), as_text(chain_number)))
    return exp.select(*map(_c, cols), exp.alias_(keyed, "dedupe_key")).from_(
        starts.subquery("chained"))


def resolved(t: Target) -> exp.Select:
    return pipeline(t, deduplicated(t))


AMPLITUDE = register(Connector(
    name="amplitude",
    produces="events",
    tables=(ToolTable(TABLE, ("event_type", "event_time", "user_id", "device_id",
                              "session_id", "insert_id", "uuid", "event_properties",
                              "user_properties", "groups"),
                      "the Export API's events, one JSON object a line"),),
    build=lambda t: kept(t, resolved(t)),
    extra_tables=identity_table,
    summary=lambda t: summary(resolved(t)),
    checks=(iso_time_check("amplitude", TABLE, "event_time", "uuid",
                           lambda _t: col("event_time")),
            *event_checks("Amplitude", TABLE, resolved,
                          "insert_id on the same device_id within 7 days, or same uuid")),
    description="Amplitude export -> events",
))
