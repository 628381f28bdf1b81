"""Segment and RudderStack: the warehouse schema (docs/connectors.md#segment-and-rudderstack).

Both tools load the same tables into a warehouse schema per source: ``tracks`` (one row per
``track`` call: ``id`` the message id, ``user_id``, ``anonymous_id``, ``event``, ``timestamp``),
``identifies`` (``identify`` calls: the ``anonymous_id`` -> ``user_id`` links) and ``groups``
(``group`` calls: ``user_id`` -> ``group_id``, the account). Properties are columns of each
table. A message id is loaded once; a second row with the same ``id`` is a duplicate.
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
    text_utc,
)
from saas_retention.relations.target import Target, col, tool_table

TRACKS, IDENTIFIES, GROUPS = "tracks", "identifies", "groups"


def _id(name: str, table: str | None = None) -> exp.Expression:
    return nullif_blank(as_text(exp.column(name, table=table, quoted=True)))


def tool_rows(t: Target) -> exp.Select:
    require_customer(t.settings, "segment", ("property", "group"))
    source = customer_source(t.settings)
    hint = (_id(source.name) if source is not None and source.kind == "property"
            else exp.null())
    return exp.select(
        exp.alias_(as_text(col("event")), "event_name"),
        exp.alias_(text_utc(t, col("timestamp")), "event_at"),
        exp.alias_(_id("user_id"), "known_user"),
        exp.alias_(_id("anonymous_id"), "anonymous_id"),
        exp.alias_(exp.cast(exp.null(), "VARCHAR"), "session_id"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "duration_seconds"),
        exp.alias_(hint, "hint"),
        exp.alias_(_id("id"), "dedupe_key"),
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "dedupe_order"),
        exp.alias_(col("timestamp").is_(exp.null()).not_(), "time_ok"),
    ).from_(tool_table(t, TRACKS))


def links(t: Target) -> exp.Query:
    """Anonymous ids tied to a user: by an ``identify`` call, or a track call carrying both."""
    def pairs(table: str) -> exp.Select:
        return (exp.select(exp.alias_(_id("anonymous_id"), "anonymous_id"),
                           exp.alias_(_id("user_id"), "known_user"))
                .from_(tool_table(t, table)))

    both = exp.union(pairs(IDENTIFIES), pairs(TRACKS), distinct=False)
    return (exp.select(exp.column("anonymous_id"),
                       exp.alias_(exp.func("min", exp.column("known_user")), "linked_user"))
            .from_(exp.alias_(both.subquery(), "pairs"))
            .where(exp.and_(exp.column("anonymous_id").is_(exp.null()).not_(),
                            exp.column("known_user").is_(exp.null()).not_()))
            .group_by(exp.column("anonymous_id")))


def group_customers(t: Target) -> exp.Select:
    """Each user's account: the ``group_id`` of their latest ``group`` call."""
    calls = (exp.select(exp.alias_(_id("user_id"), "user_key"),
                        exp.alias_(_id("group_id"), "group_key"),
                        exp.alias_(text_utc(t, col("timestamp")), "called_at"))
             .from_(tool_table(t, GROUPS)))
    latest = (exp.select(exp.column("user_key"),
                         exp.alias_(exp.func("max", exp.column("called_at")), "latest_at"))
              .from_(exp.alias_(calls.subquery(), "c"))
              .where(exp.and_(exp.column("user_key").is_(exp.null()).not_(),
                              exp.column("group_key").is_(exp.null()).not_()))
              .group_by(exp.column("user_key")))
    return (exp.select(exp.column("user_key", "g"),
                       exp.alias_(exp.func("min", exp.column("group_key", "g")),
                                  "customer_key"))
            .from_(exp.alias_(calls.subquery(), "g"))
            .join(exp.alias_(latest.subquery(), "l"), on=exp.and_(
                exp.EQ(this=exp.column("user_key", "g"), expression=exp.column("user_key", "l")),
                exp.EQ(this=exp.column("called_at", "g"),
                       expression=exp.column("latest_at", "l"))))
            .group_by(exp.column("user_key", "g")))


def resolved(t: Target) -> exp.Select:
    source = customer_source(t.settings)
    groups = group_customers(t) if source is not None and source.kind == "group" else None
    return pipeline(t, tool_rows(t), links=links(t), user_customers=groups)


def _tables(settings) -> tuple[ToolTable, ...]:
    """The identity table, and the tracks column a ``customer: {property: …}`` names."""
    source = customer_source(settings)
    column = (ToolTable(TRACKS, (source.name,)),) if source and source.kind == "property" else ()
    return (*identity_table(settings), *column)


def _connector(name: str, title: str) -> Connector:
    return register(Connector(
        name=name,
        produces="events",
        tables=(
            ToolTable(TRACKS, ("id", "user_id", "anonymous_id", "event", "timestamp"),
                      "track calls"),
            ToolTable(IDENTIFIES, ("user_id", "anonymous_id"), "identify calls"),
            ToolTable(GROUPS, ("user_id", "group_id", "timestamp"), "group calls"),
        ),
        build=lambda t: kept(t, resolved(t)),
        extra_tables=_tables,
        summary=lambda t: summary(resolved(t)),
        checks=(iso_time_check(name, TRACKS, "timestamp", "id", lambda _t: col("timestamp")),
                iso_time_check(name, GROUPS, "timestamp", "user_id",
                               lambda _t: col("timestamp")),
                *event_checks(title, TRACKS, resolved, "message id")),
        description=f"{title} warehouse schema (tracks, identifies, groups) -> events",
    ))


SEGMENT = _connector("segment", "Segment")
RUDDERSTACK = _connector("rudderstack", "RudderStack")
