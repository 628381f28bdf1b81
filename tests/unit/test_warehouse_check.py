"""``saas-retention check --source <URL>`` on a warehouse (SQLite here; a connector's table on
PostgreSQL in tests/conformance/test_connectors_postgres.py): the checks a warehouse build
runs before it writes anything, the row counts, and nothing written; and a survey export's
wide form in a warehouse table is a ConfigError saying what the connector needs."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from saas_retention.cli import main
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError, SourceProblems

pytest.importorskip("sqlalchemy")
from saas_retention.builders.warehouse.run import (  # noqa: E402
    build_on_warehouse,
    check_on_warehouse,
)

AS_OF = "2024-06-30"


def _database(path, statements: list[str]) -> str:
    con = sqlite3.connect(path)
    try:
        for statement in statements:
            con.execute(statement)
        con.commit()
    finally:
        con.close()
    return f"sqlite:///{path}"


def _relations(path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("select type, name, sql from sqlite_master order by name").fetchall()
    finally:
        con.close()


CONTRACT = [
    "create table subscriptions (subscription_id text, customer_id text, start_date date, "
    "end_date date, mrr double)",
    "insert into subscriptions values ('s1', 'acme', '2024-01-01', null, 100), "
    "('s2', 'globex', '2024-02-01', null, 50)",
    "create table events (customer_id text, user_id text, event_time timestamp, "
    "event_name text)",
    # the third event's customer has no subscription: a warning, as the build words it
    "insert into events values ('acme', 'u1', '2024-01-05 10:00:00', 'login'), "
    "('globex', 'u2', '2024-02-03 09:00:00', 'login'), "
    "('hooli', 'u9', '2024-03-01 08:00:00', 'login')",
]


def test_check_on_a_warehouse_counts_and_writes_nothing(tmp_path):
    db = tmp_path / "warehouse.db"
    url = _database(db, CONTRACT)
    before = _relations(db)
    report = check_on_warehouse(url, parse_settings({"as_of": AS_OF}))
    assert report.tables == {"subscriptions": 2, "events": 3}
    assert "customers" in report.skipped and "survey_responses" in report.skipped
    unknown = [w for w in report.warnings if w.column == "customer_id"]
    assert len(unknown) == 1 and unknown[0].count == 1
    assert unknown[0].examples[0]["customer_id"] == "hooli"
    assert _relations(db) == before
    # the CLI prints it as it prints a file source's check
    config = tmp_path / "config.yml"
    config.write_text(f"as_of: {AS_OF}\n")
    result = CliRunner().invoke(main, ["check", "--source", url, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "warehouse: sqlite:///" in result.output
    assert "events: 3 rows" in result.output and "(1 row)" in result.output
    assert result.output.rstrip().endswith("ok: the source satisfies the input contract")
    assert _relations(db) == before
    # one bad row: the error names the table, the column, the count and the row
    _database(db, ["insert into subscriptions values ('s3', 'initech', '2024-03-01', "
                   "'2024-02-01', 20)"])
    before = _relations(db)
    with pytest.raises(SourceProblems) as info:
        check_on_warehouse(url, parse_settings({"as_of": AS_OF}))
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.count) == ("subscriptions", "end_date", 1)
    assert problem.examples[0]["subscription_id"] == "s3"
    assert _relations(db) == before
    result = CliRunner().invoke(main, ["check", "--source", url, "--config", str(config)])
    assert result.exit_code != 0 and "subscriptions" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("connector", ["surveymonkey", "hotjar"])
def test_a_wide_survey_table_on_a_warehouse_is_a_config_error(tmp_path, connector):
    # the export as downloaded (one column per question) loaded as is into a warehouse
    table = f"{connector}_responses"
    question = "How likely are you to recommend us to a friend?"
    url = _database(tmp_path / "warehouse.db", [
        *CONTRACT[:2],
        f'create table {table} ("Respondent ID" text, "Number" text, "End Date" text, '
        f'"Date Submitted" text, "company_id" text, "{question}" text)',
        f"insert into {table} values ('1', '1', '2024-01-02', '2024-01-02', 'acme', '9')"])
    settings = parse_settings({"as_of": AS_OF, "tables": {"survey_responses": {
        "connector": connector, "customer": {"column": "company_id"},
        "questions": {"nps": "How likely"}}}})
    for run in (check_on_warehouse, build_on_warehouse):
        with pytest.raises(ConfigError) as info:
            run(url, settings)
        text = str(info.value)
        assert f"the warehouse table '{table}' ({connector}'s {table} table" in text
        assert "one column per question" in text and "question, answer_choice, answer" in text
        assert "docs/connectors.md#survey-exports-on-a-warehouse" in text
        assert question in text  # the columns found
