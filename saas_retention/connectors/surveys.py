"""What the survey connectors (SurveyMonkey, Hotjar) share: their exports read as one row per
respondent and answer column (builders/duckdb/sources.py: ``wide_survey_reader``; a warehouse
holds the same rows — the respondent columns, ``question``, ``answer_choice``, ``answer``),
each survey's question picked by the start of its text (``questions: {nps: …, csat: …}``),
the score the number the answer starts with (docs/connectors.md#surveymonkey).
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ConnectorCheck, ToolTable
from saas_retention.connectors.product import ISO_TIME, kept_summary, lit, nullif_blank
from saas_retention.core.config import Settings
from saas_retention.core.errors import ConfigError
from saas_retention.dialects import record_functions
from saas_retention.relations.target import Target, cast, col, tool_table


def _customer_column(settings: Settings, name: str) -> str:
    source = settings.mapping("survey_responses").customer
    if source is None or source.kind != "column":
        raise ConfigError(
            f"tables.survey_responses.customer: the {name!r} connector reads the customer "
            "from a respondent column of the export (a custom variable or user attribute "
            'such as Account ID): customer: {column: "Account ID"} '
            "(docs/connectors.md#customers)")
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


def responses(t: Target, name: str, table: str, time_column: str) -> exp.Select:
    customer = _customer_column(t.settings, name)
    r = record_functions(t.dialect)
    answered = exp.select(
        exp.alias_(nullif_blank(exp.func("trim", cast(col(customer), "VARCHAR"))),
                   "customer_id"),
        exp.alias_(r.export_time(cast(col(time_column), "VARCHAR")), "responded_at"),
        exp.alias_(_survey(t) if t.settings.mapping("survey_responses").questions
                   else exp.cast(exp.null(), "VARCHAR"), "survey"),
        exp.alias_(r.leading_number(cast(col("answer"), "VARCHAR")), "score"),
        exp.alias_(exp.cast(exp.null(), "VARCHAR"), "comment"),
    ).from_(tool_table(t, table)).where(
        nullif_blank(exp.func("trim", cast(col("answer"), "VARCHAR"))).is_(exp.null()).not_())
    return exp.select("*").from_(answered.subquery("answered")).where(
        col("survey").is_(exp.null()).not_())


# the US date-time survey exports write (RecordFunctions.export_time: "06/07/2024 10:14:51 AM")
US_TIME = "^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4} [0-9]{1,2}:[0-9]{2}:[0-9]{2} ?[AaPp][Mm]$"


def _not_a_time(table: str, time_column: str, key: str):
    """The respondents whose response time is neither ISO nor US text: export_time's cast of
    anything else fails in the engine."""
    def rows(t: Target) -> exp.Select:
        value = exp.func("trim", cast(col(time_column), "VARCHAR"))
        readable = exp.or_(*(exp.RegexpLike(this=value.copy(), expression=lit(p))
                             for p in (ISO_TIME, US_TIME)))
        return (exp.select(exp.alias_(cast(col(key), "VARCHAR"), key),
                           exp.alias_(value, time_column)).distinct()
                .from_(tool_table(t, table))
                .where(exp.and_(nullif_blank(value.copy()).is_(exp.null()).not_(),
                                exp.Not(this=exp.paren(readable))))
                .order_by(exp.column(key, quoted=True)))
    return rows


def _found(t: Target, table: str, survey: str | None) -> exp.Select:
    """One row listing the export's questions when ``survey``'s question is not among them
    (``None``: when no question is configured at all)."""
    questions = t.settings.mapping("survey_responses").questions or {}
    listed = exp.alias_(exp.GroupConcat(this=exp.Distinct(expressions=[
        cast(col("question"), "VARCHAR")]), separator=lit(" | ")), "questions_in_the_export")
    query = exp.select(listed).from_(tool_table(t, table))
    if survey is None:
        return query.having(exp.EQ(this=lit(len(questions)), expression=lit(0)))
    prefix = questions.get(survey)
    if prefix is None:
        return query.having(exp.EQ(this=lit(1), expression=lit(0)))
    matches = exp.func("sum", exp.Case(ifs=[exp.If(
        this=_starts_with(cast(col("question"), "VARCHAR"), prefix), true=lit(1))],
        default=lit(0)))
    return query.having(exp.EQ(this=matches, expression=lit(0)))


def survey_export(name: str, title: str, table: str, layout: str, time_column: str,
                  respondent_columns: tuple[str, ...], description: str) -> Connector:
    """A survey tool's response export -> ``survey_responses``: the rows of its reader
    (``layout``), each survey's question by the start of its text, the score the answer's
    leading number, the response time ``time_column``."""

    def unresolved(t: Target) -> exp.Select:
        return (exp.select(exp.column("responded_at"), exp.column("survey"),
                           exp.column("score"))
                .from_(responses(t, name, table, time_column).subquery("response"))
                .where(exp.column("customer_id").is_(exp.null())))

    def customer_table(settings: Settings) -> tuple[ToolTable, ...]:
        source = settings.mapping("survey_responses").customer
        if source is None or source.kind != "column":
            return ()
        return (ToolTable(table, (source.name,), layout=layout),)

    def produced(t: Target) -> exp.Select:
        return exp.select("*").from_(
            responses(t, name, table, time_column).subquery("response")).where(
            exp.column("customer_id").is_(exp.null()).not_())

    return register(Connector(
        name=name,
        produces="survey_responses",
        tables=(ToolTable(table, (*respondent_columns, time_column, "question",
                                  "answer_choice", "answer"), description, layout=layout),),
        build=produced,
        summary=lambda t: kept_summary(produced(t), "responded_at"),
        extra_tables=customer_table,
        checks=(
            ConnectorCheck("not_a_time", table, time_column,
                           "values that are not a date-time as the export writes them "
                           "(2024-06-07 10:14:51 or 06/07/2024 10:14:51 AM)",
                           _not_a_time(table, time_column, respondent_columns[0])),
            ConnectorCheck("no_questions", table, "question",
                           "no survey question configured: set tables.survey_responses."
                           "questions to the start of each survey's question text ({nps: …, "
                           "csat: …}); the questions of the export are listed",
                           lambda t: _found(t, table, None)),
            *(ConnectorCheck(f"{survey}_question", table, "question",
                             f"tables.survey_responses.questions.{survey}: no question of the "
                             "export starts with this text; the questions of the export are "
                             "listed", lambda t, s=survey: _found(t, table, s))
              for survey in ("nps", "csat")),
            ConnectorCheck("unresolved_customer", table, None,
                           "responses without a customer (the customer column is empty): "
                           "left out", unresolved, "warning"),
        ),
        description=f"{title} response export -> survey_responses",
    ))
