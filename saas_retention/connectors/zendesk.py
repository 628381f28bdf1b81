"""Zendesk: tickets -> ``support_tickets`` (docs/connectors.md#zendesk).

Tickets as the Incremental Ticket Export returns them with ``include=metric_sets`` (one JSON
object a line): ``id``, ``created_at`` (ISO 8601, UTC), ``status`` (new, open, pending, hold,
solved, closed), ``requester_id``, ``organization_id`` and ``metric_set`` with ``solved_at``
(the ticket metrics' time of the last solve). A ticket is resolved when its status is solved
or closed now; a ticket reopened after a solve is not.
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ConnectorCheck, ToolTable
from saas_retention.connectors.product import (
    as_text,
    customer_source,
    identity_customers,
    identity_table,
    iso_time_check,
    kept_summary,
    lit,
    local,
    nullif_blank,
    text,
    text_utc,
)
from saas_retention.core.errors import ConfigError
from saas_retention.relations.target import Target, col, tool_table

TABLE = "zendesk_tickets"


def _tickets(t: Target) -> exp.Select:
    source = customer_source(t.settings, "support_tickets")
    if source is None and t.settings.identity is None:
        raise ConfigError(
            "tables.support_tickets: the 'zendesk' connector needs to know where the customer "
            "is: customer: {property: organization_id} (a ticket field), or an identity table "
            "mapping requester_id (docs/connectors.md#customers)")
    if source is not None and source.kind != "property":
        raise ConfigError("tables.support_tickets.customer: Zendesk tickets have fields "
                          f"(property), not a {source.kind}; or use an identity table")
    solved = exp.In(this=exp.func("lower", as_text(col("status"))),
                    expressions=[lit("solved"), lit("closed")])
    rows = exp.select(
        exp.alias_(as_text(col("id")), "ticket_id"),
        exp.alias_(nullif_blank(as_text(col("requester_id"))), "requester_key"),
        exp.alias_(nullif_blank(as_text(col(source.name))) if source else exp.null(), "hint"),
        exp.alias_(text_utc(t, col("created_at")), "created_utc"),
        exp.alias_(exp.Case(ifs=[exp.If(this=solved, true=text_utc(
            t, nullif_blank(text(t, col("metric_set"), "solved_at"))))]), "resolved_utc"),
    ).from_(tool_table(t, TABLE))
    query = exp.select(exp.Star()).from_(exp.alias_(rows.subquery(), "z"))
    customer: exp.Expression = exp.column("hint", "z")
    mapped = identity_customers(t)
    if mapped is not None:
        customer = exp.Coalesce(this=customer, expressions=[exp.column("customer_key", "m")])
        query = query.join(exp.alias_(mapped.subquery(), "m"), on=exp.EQ(
            this=exp.column("requester_key", "z"), expression=exp.column("user_key", "m")),
            join_type="left")
    return query.select(exp.alias_(customer, "customer_id"), append=True)


def tickets(t: Target) -> exp.Select:
    return exp.select(
        exp.column("customer_id"),
        exp.alias_(local(t, exp.column("created_utc")), "created_at"),
        exp.alias_(local(t, exp.column("resolved_utc")), "resolved_at"),
    ).from_(_tickets(t).subquery("ticket")).where(
        exp.column("customer_id").is_(exp.null()).not_())


def _tables(settings) -> tuple[ToolTable, ...]:
    """The identity table, and the ticket field a ``customer: {property: …}`` names."""
    source = customer_source(settings, "support_tickets")
    column = (ToolTable(TABLE, (source.name,)),) if source and source.kind == "property" else ()
    return (*identity_table(settings), *column)


ZENDESK = register(Connector(
    name="zendesk",
    produces="support_tickets",
    tables=(ToolTable(TABLE, ("id", "created_at", "status", "requester_id", "metric_set"),
                      "tickets (Incremental Ticket Export with metric_sets)"),),
    build=tickets,
    summary=lambda t: kept_summary(tickets(t), "created_at"),
    extra_tables=_tables,
    checks=(
        iso_time_check("zendesk", TABLE, "created_at", "id", lambda _t: col("created_at")),
        iso_time_check("zendesk", TABLE, "metric_set.solved_at", "id",
                       lambda t: text(t, col("metric_set"), "solved_at")),
        ConnectorCheck(
        "unresolved_customer", TABLE, None, "tickets whose customer cannot be resolved (no "
        "organization field, no identity row for the requester): left out",
        lambda t: exp.select("ticket_id", "requester_key").from_(
            _tickets(t).subquery("ticket")).where(exp.column("customer_id").is_(exp.null())),
        "warning"),),
    description="Zendesk tickets -> support_tickets",
))
