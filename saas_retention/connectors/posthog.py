"""PostHog: the events table (docs/connectors.md#posthog).

An export of PostHog's ``events`` (a batch export to a warehouse, or JSON Lines): ``uuid``
(the event's id), ``event``, ``timestamp`` (ISO with an offset), ``distinct_id``,
``person_id`` (the person PostHog merged the event's distinct ids into) and ``properties``
with ``$session_id`` and ``$groups`` (group type -> group key). PostHog has linked anonymous
and identified distinct ids already: a user is a person; events without a person
(``$process_person_profile: false``) are anonymous. A ``uuid`` seen twice is one event.
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
    nullif_blank,
    pipeline,
    require_customer,
    summary,
    text,
    text_utc,
)
from saas_retention.relations.target import Target, col, tool_table

TABLE = "posthog_events"


def tool_rows(t: Target) -> exp.Select:
    require_customer(t.settings, "posthog", ("property", "group"))
    source = customer_source(t.settings)
    props = col("properties")
    if source is None:
        hint = exp.null()
    elif source.kind == "group":
        hint = nullif_blank(text(t, props, "$groups", source.name))
    else:
        hint = nullif_blank(text(t, props, source.name))
    return exp.select(
        exp.alias_(as_text(col("event")), "event_name"),
        exp.alias_(text_utc(t, col("timestamp")), "event_at"),
        exp.alias_(nullif_blank(as_text(col("person_id"))), "known_user"),
        exp.alias_(nullif_blank(as_text(col("distinct_id"))), "anonymous_id"),
        exp.alias_(nullif_blank(text(t, props.copy(), "$session_id")), "session_id"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "duration_seconds"),
        exp.alias_(hint, "hint"),
        exp.alias_(nullif_blank(as_text(col("uuid"))), "dedupe_key"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "dedupe_order"),
        exp.alias_(col("timestamp").is_(exp.null()).not_(), "time_ok"),
    ).from_(tool_table(t, TABLE))


def resolved(t: Target) -> exp.Select:
    return pipeline(t, tool_rows(t))


POSTHOG = register(Connector(
    name="posthog",
    produces="events",
    tables=(ToolTable(TABLE, ("uuid", "event", "timestamp", "distinct_id", "person_id",
                              "properties"), "the events table"),),
    build=lambda t: kept(t, resolved(t)),
    extra_tables=identity_table,
    summary=lambda t: summary(resolved(t)),
    checks=(iso_time_check("posthog", TABLE, "timestamp", "uuid", lambda _t: col("timestamp")),
            *event_checks("PostHog", TABLE, resolved, "uuid")),
    description="PostHog events -> events",
))
