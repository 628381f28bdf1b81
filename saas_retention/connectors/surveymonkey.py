"""SurveyMonkey: the response export -> ``survey_responses`` (docs/connectors.md#surveymonkey).

The "All Responses Data" CSV export has two header rows: the question text on the first (a
question answered in several columns names only its first), the answer choice on the second
(``Response`` for a question answered in one column, ``Open-Ended Response`` for text, the
choice for each column of a multiple-choice question); respondent columns — Respondent ID,
Collector ID, Start Date, End Date, IP and e-mail address, names, custom data and custom
variables — have an empty second cell. The DuckDB build reads it as one row per respondent
and answer column (builders/duckdb/sources.py: ``wide_survey_reader``); a warehouse holds the
same rows: the respondent columns, ``question``, ``answer_choice``, ``answer``.

``questions: {nps: <prefix>, csat: <prefix>}`` names each survey's question by the start of
its text; the score is the number the answer starts with (an NPS answer may read
"10 - Extremely likely"). The response time is End Date (when the respondent finished), a
local date-time as the export writes it.
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import WIDE_SURVEY, Connector, ConnectorCheck, ToolTable
from saas_retention.connectors.product import lit, nullif_blank
from saas_retention.core.config import Settings
from saas_retention.core.errors import ConfigError
from saas_retention.dialects import record_functions
from saas_retention.relations.target import Target, cast, col, tool_table

TABLE = "surveymonkey_responses"
COLUMNS = ("Respondent ID", "End Date", "question", "answer_choice", "answer")


def _customer_column(settings: Settings) -> str:
    source = settings.mapping("survey_responses").customer
    if source is None or source.kind != "column":
        raise ConfigError(
            "tables.survey_responses.customer: the 'surveymonkey' connector reads the customer "
            "from a respondent column of the export (a custom variable such as Account ID): "
            'customer: {column: "Account ID"} (docs/connectors.md#surveymonkey)')
    return source.name


def _starts_with(value: exp.Expression, prefix: str) -> exp.Expression:
    # a comparison of the first characters: LIKE would read % and _ in the question text
    return exp.EQ(this=exp.Substring(this=value, start=lit(1), length=lit(len(prefix))),
                  expression=lit(prefix))


def _survey(t: Target) -> exp.Expression:
    questions = t.settings.mapping("survey_responses").questions or {}
    return exp.Case(ifs=[exp.If(this=_starts_with(cast(col("question"), "VARCHAR"), prefix),
                                true=lit(survey))
                         for survey, prefix in sorted(questions.items())])


def responses(t: Target) -> exp.Select:
    customer = _customer_column(t.settings)
    r = record_functions(t.dialect)
    answered = exp.select(
        exp.alias_(nullif_blank(exp.func("trim", cast(col(customer), "VARCHAR"))),
                   "customer_id"),
        exp.alias_(r.export_time(cast(col("End Date"), "VARCHAR")), "responded_at"),
        exp.alias_(_survey(t) if t.settings.mapping("survey_responses").questions
                   else exp.cast(exp.null(), "VARCHAR"), "survey"),
        exp.alias_(r.leading_number(cast(col("answer"), "VARCHAR")), "score"),
        exp.alias_(exp.cast(exp.null(), "VARCHAR"), "comment"),
    ).from_(tool_table(t, TABLE)).where(
        nullif_blank(exp.func("trim", cast(col("answer"), "VARCHAR"))).is_(exp.null()).not_())
    return exp.select("*").from_(answered.subquery("answered")).where(
        col("survey").is_(exp.null()).not_())


def _found(t: Target, survey: str | None) -> exp.Select:
    """One row listing the export's questions when ``survey``'s question is not among them
    (``None``: when no question is configured at all)."""
    questions = t.settings.mapping("survey_responses").questions or {}
    listed = exp.alias_(exp.GroupConcat(this=exp.Distinct(expressions=[
        cast(col("question"), "VARCHAR")]), separator=lit(" | ")), "questions_in_the_export")
    query = exp.select(listed).from_(tool_table(t, TABLE))
    if survey is None:
        return query.having(exp.EQ(this=lit(len(questions)), expression=lit(0)))
    prefix = questions.get(survey)
    if prefix is None:
        return query.having(exp.EQ(this=lit(1), expression=lit(0)))
    matches = exp.func("sum", exp.Case(ifs=[exp.If(
        this=_starts_with(cast(col("question"), "VARCHAR"), prefix), true=lit(1))],
        default=lit(0)))
    return query.having(exp.EQ(this=matches, expression=lit(0)))


def _unresolved(t: Target) -> exp.Select:
    return (exp.select(exp.column("responded_at"), exp.column("survey"), exp.column("score"))
            .from_(responses(t).subquery("response"))
            .where(exp.column("customer_id").is_(exp.null())))


def _customer_table(settings: Settings) -> tuple[ToolTable, ...]:
    source = settings.mapping("survey_responses").customer
    if source is None or source.kind != "column":
        return ()
    return (ToolTable(TABLE, (source.name,), layout=WIDE_SURVEY),)


SURVEYMONKEY = register(Connector(
    name="surveymonkey",
    produces="survey_responses",
    tables=(ToolTable(TABLE, COLUMNS, "the All Responses Data CSV export (two header rows)",
                      layout=WIDE_SURVEY),),
    build=lambda t: exp.select("*").from_(responses(t).subquery("response")).where(
        exp.column("customer_id").is_(exp.null()).not_()),
    extra_tables=_customer_table,
    checks=(
        ConnectorCheck("no_questions", TABLE, "question",
                       "no survey question configured: set tables.survey_responses.questions "
                       "to the start of each survey's question text ({nps: …, csat: …}); the "
                       "questions of the export are listed", lambda t: _found(t, None)),
        *(ConnectorCheck(f"{survey}_question", TABLE, "question",
                         f"tables.survey_responses.questions.{survey}: no question of the "
                         "export starts with this text; the questions of the export are listed",
                         lambda t, s=survey: _found(t, s))
          for survey in ("nps", "csat")),
        ConnectorCheck("unresolved_customer", TABLE, None,
                       "responses without a customer (the customer column is empty): left out",
                       _unresolved, "warning"),
    ),
    description="SurveyMonkey response export -> survey_responses",
))
