"""Intercom: conversations -> ``support_tickets``, and their ratings -> ``survey_responses``
(``csat``) (docs/connectors.md#intercom).

The conversation objects of Intercom's REST API (List/Search conversations, or an export of
them, one JSON object a line): ``id``, ``created_at`` (seconds since 1970), ``state`` (``open``,
``closed`` or ``snoozed``), ``statistics.last_close_at``, ``contacts.contacts[].id`` /
``external_id`` (the user id your product gave Intercom), ``custom_attributes``,
``company`` (API 2.15 and later: the company of the conversation, whose ``company_id`` is the
id you gave the company) and ``conversation_rating`` (``rating`` 1–5, ``remark``,
``created_at``, ``updated_at``). The conversation model of no API version has a ``closed_at``
(1.x has no close time at all; 2.x has ``statistics.last_close_at``), so none is read.

A conversation is resolved when it is closed now: ``last_close_at`` of a conversation that
was reopened and is open again is not a resolution.
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ConnectorCheck, ToolTable
from saas_retention.connectors.product import (
    as_number,
    customer_source,
    epoch_check,
    epoch_utc,
    identity_customers,
    identity_table,
    kept_summary,
    lit,
    local,
    nullif_blank,
    text,
)
from saas_retention.core.config import Settings
from saas_retention.core.errors import ConfigError
from saas_retention.relations.target import Target, col, tool_table

TABLE = "conversations"


# the group a conversation has: its company (API 2.15 and later)
COMPANY = "company"


def _require(settings: Settings, contract: str) -> None:
    source = customer_source(settings, contract)
    if source is None and settings.identity is None:
        raise ConfigError(
            f"tables.{contract}: the 'intercom' connector needs to know where the customer "
            "is: customer: {property: <a custom attribute of the conversation>}, "
            "customer: {group: company} (the conversation's company, API 2.15+), or an "
            "identity table mapping the contact's external_id (docs/connectors.md#customers)")
    if source is not None and not (source.kind == "property" or (
            source.kind == "group" and source.name == COMPANY)):
        raise ConfigError(f"tables.{contract}.customer: Intercom conversations have custom "
                          "attributes (property) and one group, their company (group: "
                          f"company), not {source.kind} {source.name!r}; or use an identity "
                          "table")


def _hint(t: Target, source) -> exp.Expression:
    """The customer the conversation itself names: a custom attribute, or the id you gave
    the conversation's company (``company.company_id``; Intercom's own ``company.id`` is not
    your account id)."""
    if source is None:
        return exp.null()
    if source.kind == "group":
        return nullif_blank(text(t, col(COMPANY), "company_id"))
    return nullif_blank(text(t, col("custom_attributes"), source.name))


def conversations(t: Target, contract: str) -> exp.Select:
    """Each conversation with its customer (NULL: unresolved), times on the UTC clock."""
    _require(t.settings, contract)
    source = customer_source(t.settings, contract)
    contact = exp.Coalesce(
        this=nullif_blank(text(t, col("contacts"), "contacts", 0, "external_id")),
        expressions=[nullif_blank(text(t, col("contacts"), "contacts", 0, "id"))])
    rating = col("conversation_rating")
    rows = exp.select(
        exp.alias_(exp.cast(col("id"), "VARCHAR"), "conversation_id"),
        exp.alias_(contact, "contact_key"),
        exp.alias_(_hint(t, source), "hint"),
        exp.alias_(epoch_utc(t, col("created_at"), 1), "created_utc"),
        exp.alias_(exp.Case(ifs=[exp.If(
            this=exp.EQ(this=exp.cast(col("state"), "VARCHAR"), expression=lit("closed")),
            true=epoch_utc(t, text(t, col("statistics"), "last_close_at"), 1))]),
            "resolved_utc"),
        exp.alias_(as_number(text(t, rating.copy(), "rating")), "rating"),
        exp.alias_(nullif_blank(text(t, rating.copy(), "remark")), "remark"),
        exp.alias_(epoch_utc(t, exp.Coalesce(
            this=text(t, rating.copy(), "updated_at"),
            expressions=[text(t, rating.copy(), "created_at")]), 1), "rated_utc"),
    ).from_(tool_table(t, TABLE))
    mapped = identity_customers(t)
    customer = exp.column("hint", "c")
    query = exp.select(exp.Star()).from_(exp.alias_(rows.subquery(), "c"))
    if mapped is not None:
        customer = exp.Coalesce(this=customer, expressions=[exp.column("customer_key", "m")])
        query = query.join(exp.alias_(mapped.subquery(), "m"), on=exp.EQ(
            this=exp.column("contact_key", "c"), expression=exp.column("user_key", "m")),
            join_type="left")
    return query.select(exp.alias_(customer, "customer_id"), append=True)


def tickets(t: Target) -> exp.Select:
    c = conversations(t, "support_tickets").subquery("conversation")
    return exp.select(
        exp.column("customer_id"),
        exp.alias_(local(t, exp.column("created_utc")), "created_at"),
        exp.alias_(local(t, exp.column("resolved_utc")), "resolved_at"),
    ).from_(c).where(exp.column("customer_id").is_(exp.null()).not_())


def ratings(t: Target) -> exp.Select:
    c = conversations(t, "survey_responses").subquery("conversation")
    return exp.select(
        exp.column("customer_id"),
        exp.alias_(local(t, exp.column("rated_utc")), "responded_at"),
        exp.alias_(lit("csat"), "survey"),
        exp.alias_(exp.column("rating"), "score"),
        exp.alias_(exp.column("remark"), "comment"),
    ).from_(c).where(exp.and_(exp.column("customer_id").is_(exp.null()).not_(),
                              exp.column("rating").is_(exp.null()).not_()))


def _unresolved(contract: str, condition=None) -> ConnectorCheck:
    def rows(t: Target) -> exp.Select:
        where = exp.column("customer_id").is_(exp.null())
        if condition is not None:
            where = exp.and_(where, condition)
        return (exp.select("conversation_id", "contact_key")
                .from_(conversations(t, contract).subquery("conversation")).where(where))

    what = "rated conversations" if contract == "survey_responses" else "conversations"
    return ConnectorCheck("unresolved_customer", TABLE, None,
                          f"{what} whose customer cannot be resolved (no custom attribute or "
                          "company, no identity row for the contact): left out", rows,
                          "warning")


COLUMNS = ("id", "created_at", "state", "statistics", "contacts")
# the epoch times the connector reads: the cast of anything else fails in the engine
TIMES = (epoch_check("intercom", TABLE, "created_at", "id", lambda _t: col("created_at")),
         epoch_check("intercom", TABLE, "statistics.last_close_at", "id",
                     lambda t: text(t, col("statistics"), "last_close_at")))
RATING_TIMES = tuple(
    epoch_check("intercom", TABLE, f"conversation_rating.{field}", "id",
                lambda t, f=field: text(t, col("conversation_rating"), f))
    for field in ("created_at", "updated_at"))


def _tables(contract: str):
    """The identity table, and custom_attributes when the customer is one of them."""
    def tables(settings: Settings) -> tuple[ToolTable, ...]:
        source = customer_source(settings, contract)
        named = {"property": "custom_attributes", "group": COMPANY}
        column = ((ToolTable(TABLE, (named[source.kind],)),)
                  if source is not None and source.kind in named else ())
        return (*identity_table(settings), *column)

    return tables


INTERCOM_TICKETS = register(Connector(
    name="intercom",
    produces="support_tickets",
    tables=(ToolTable(TABLE, COLUMNS, "conversations, one JSON object a line"),),
    build=tickets,
    summary=lambda t: kept_summary(tickets(t), "created_at"),
    extra_tables=_tables("support_tickets"),
    checks=(*TIMES, _unresolved("support_tickets")),
    description="Intercom conversations -> support_tickets",
))
INTERCOM_RATINGS = register(Connector(
    name="intercom",
    produces="survey_responses",
    tables=(ToolTable(TABLE, (*COLUMNS, "conversation_rating"),
                      "conversations, one JSON object a line"),),
    build=ratings,
    summary=lambda t: kept_summary(ratings(t), "responded_at"),
    extra_tables=_tables("survey_responses"),
    checks=(*TIMES, *RATING_TIMES,
            _unresolved("survey_responses", exp.column("rating").is_(exp.null()).not_())),
    description="Intercom conversation ratings -> survey_responses (csat)",
))
