"""Typeform: form responses -> ``survey_responses`` (docs/connectors.md#typeform).

Responses as the Responses API returns them (its ``items``, one JSON object a line):
``response_id``, ``submitted_at`` (ISO 8601, UTC), ``hidden`` (the form's hidden fields, e.g.
the account id) and ``answers``, each ``{field: {id, ref, type}, type, number | choice |
text…}``. A response names its questions by the field's ``ref`` (set in the form builder),
not by their text: ``questions: {nps: <ref>}`` names each survey's field by the start of its
ref. An NPS or opinion-scale answer is ``number``.
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ConnectorCheck, ToolTable
from saas_retention.connectors.product import (
    as_number,
    customer_source,
    iso_time_check,
    kept_summary,
    lit,
    local,
    nullif_blank,
    text,
    text_utc,
)
from saas_retention.core.errors import ConfigError
from saas_retention.dialects import record_functions
from saas_retention.relations.target import Target, col, tool_table

TABLE = "typeform_responses"


def _answer(t: Target, prefix: str) -> exp.Expression:
    """The number answering the first field whose ref starts with ``prefix``: a scalar
    subquery over the response's answers."""
    r = record_functions(t.dialect)
    ref = r.element("a", ("field", "ref"))
    return (exp.select(r.element("a", ("number",)))
            .from_(r.elements(col("answers"), "a"))
            .where(exp.EQ(this=exp.Substring(this=ref, start=lit(1), length=lit(len(prefix))),
                          expression=lit(prefix)))
            .limit(1).subquery())


def _responses(t: Target) -> exp.Select:
    source = customer_source(t.settings, "survey_responses")
    if source is None or source.kind != "property":
        raise ConfigError(
            "tables.survey_responses.customer: the 'typeform' connector reads the customer "
            "from a hidden field of the form: customer: {property: account_id} "
            "(docs/connectors.md#typeform)")
    questions = t.settings.mapping("survey_responses").questions or {}
    if not questions:
        raise ConfigError(
            "tables.survey_responses.questions: name each survey's field by (the start of) "
            "its ref in the form: questions: {nps: nps_score} (docs/connectors.md#typeform)")
    branches = []
    for survey, prefix in sorted(questions.items()):
        branches.append(exp.select(
            exp.alias_(as_number(_answer(t, prefix)), "score"),
            exp.alias_(lit(survey), "survey"),
            exp.alias_(nullif_blank(text(t, col("hidden"), source.name)), "customer_id"),
            exp.alias_(local(t, text_utc(t, col("submitted_at"))), "responded_at"),
            exp.alias_(exp.cast(col("response_id"), "VARCHAR"), "response_id"),
        ).from_(tool_table(t, TABLE)))
    union = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    return exp.select("*").from_(union.subquery("answered")).where(
        exp.column("score").is_(exp.null()).not_())


def responses(t: Target) -> exp.Select:
    return exp.select(
        exp.column("customer_id"), exp.column("responded_at"), exp.column("survey"),
        exp.column("score"), exp.alias_(exp.cast(exp.null(), "VARCHAR"), "comment"),
    ).from_(_responses(t).subquery("response")).where(
        exp.column("customer_id").is_(exp.null()).not_())


def _refs_when_missing(t: Target, survey: str) -> exp.Select:
    """One row listing the refs the responses answer when no ref starts with ``survey``'s."""
    prefix = (t.settings.mapping("survey_responses").questions or {}).get(survey)
    r = record_functions(t.dialect)
    ref = r.element("a", ("field", "ref"))
    listed = exp.alias_(exp.GroupConcat(this=exp.Distinct(expressions=[ref]),
                                        separator=lit(" | ")), "refs_in_the_responses")
    query = (exp.select(listed).from_(tool_table(t, TABLE))
             .join(r.elements(col("answers"), "a"), join_type="cross"))
    if prefix is None:
        return query.having(exp.EQ(this=lit(1), expression=lit(0)))
    matches = exp.func("sum", exp.Case(ifs=[exp.If(
        this=exp.EQ(this=exp.Substring(this=ref.copy(), start=lit(1), length=lit(len(prefix))),
                    expression=lit(prefix)), true=lit(1))], default=lit(0)))
    return query.having(exp.EQ(this=matches, expression=lit(0)))


TYPEFORM = register(Connector(
    name="typeform",
    produces="survey_responses",
    tables=(ToolTable(TABLE, ("response_id", "submitted_at", "hidden", "answers"),
                      "the Responses API's items, one JSON object a line"),),
    build=responses,
    summary=lambda t: kept_summary(responses(t), "responded_at"),
    checks=(iso_time_check("typeform", TABLE, "submitted_at", "response_id",
                           lambda _t: col("submitted_at")),
            *(ConnectorCheck(
        f"{survey}_question", TABLE, "answers",
        f"tables.survey_responses.questions.{survey}: no answered field's ref starts with "
        "this text; the refs the responses answer are listed",
        lambda t, s=survey: _refs_when_missing(t, s)) for survey in ("nps", "csat")),
        ConnectorCheck(
        "unresolved_customer", TABLE, None, "responses without a customer (the hidden field "
        "is empty): left out",
        lambda t: exp.select("response_id", "survey", "score").from_(
            _responses(t).subquery("response")).where(
            exp.column("customer_id").is_(exp.null())), "warning"),),
    description="Typeform responses -> survey_responses",
))
