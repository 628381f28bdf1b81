"""The product and voice connectors (issue 16) on DuckDB: each tool's fixture, written from its
documentation (tests/fixtures/<tool>/README.md), gives the contract rows an independent
plain-Python reading of the documented format gives (tests/helpers/connector_reference.py);
and what ``check`` reports. The same queries run on PostgreSQL in
tests/conformance/test_connectors_postgres.py; the models built from each connector are
compared with the contract's in tests/unit/test_connectors_models.py."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import shutil
import sys
from pathlib import Path

import connector_reference as ref
import duckdb
import pytest
from sqlglot import exp

from saas_retention.builders.duckdb.run import check
from saas_retention.builders.duckdb.sources import open_source
from saas_retention.connectors import connector_for
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError, SourceError, SourceProblems
from saas_retention.relations.target import Target

AS_OF = "2024-06-30"
SUBSCRIPTIONS = [("s1", "acme", "2024-01-01", "", "100"),
                 ("s2", "globex", "2024-01-15", "", "50"),
                 ("s3", "initech", "2024-01-10", "2024-03-01", "20")]
IDENTITY = {"u3": "initech", "u2": "globex", "65d4f301": "initech", "361088": "initech"}
TOOLS = {"mixpanel": "events", "ga4": "events", "segment": "events",
         "rudderstack": "events", "intercom": "support_tickets"}
FIXTURE_DIRS = {"rudderstack": "segment"}


def _settings(connector: str, table: str = "events", tz: str = "UTC",
              identity: bool = False, **mapping) -> object:
    data = {"as_of": AS_OF, "timezone": tz,
            "tables": {table: {"connector": connector, **mapping}}}
    if identity:
        data["identity"] = {"table": "users", "columns": {"user_id": "id",
                                                          "customer_id": "account_id"}}
    return parse_settings(data)


CUSTOMER = {"mixpanel": {"property": "company_id"}, "ga4": {"property": "company_id"},
            "segment": {"group": "company"}, "rudderstack": {"group": "company"},
            "amplitude": {"group": "company"}, "posthog": {"group": "company"},
            "intercom": {"property": "company_id"}}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """One connection holding every fixture's tool tables as the DuckDB build reads them."""
    root = tmp_path_factory.mktemp("tools")
    for tool in ("mixpanel", "ga4", "segment", "intercom", "surveymonkey", "posthog",
                 "zendesk", "typeform"):
        for item in (ref.FIXTURES / tool).iterdir():
            if item.name != "README.md":
                shutil.copy(item, root / item.name)
    # Amplitude's export comes gzipped, as .json.gz files of JSON lines
    with gzip.open(root / "amplitude_events.json.gz", "wb") as f:
        f.write((ref.FIXTURES / "amplitude" / "amplitude_events.jsonl").read_bytes())
    with (root / "users.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "account_id", "email"])
        w.writerows((u, c, f"{u}@example.com") for u, c in IDENTITY.items())
    connection = duckdb.connect()
    for name, relation in open_source(root).relations().items():
        connection.execute(exp.Create(this=exp.to_table(f"raw_tool_{name}"), kind="TABLE",
                                      expression=exp.select("*").from_(relation.reader))
                           .sql("duckdb"))
    yield connection
    connection.close()


def _run(con, settings, table: str = "events") -> list[tuple]:
    connector = connector_for(settings, table)
    query = connector.query(Target("duckdb", settings, tool_prefix="raw_tool_"))
    rows = con.execute(query.sql("duckdb")).fetchall()
    names = list(query.named_selects)
    return rows, names


def _events(rows, names) -> list[tuple]:
    i = {n: names.index(n) for n in ref.EVENT_COLUMNS}
    return sorted(tuple(r[i[c]] for c in ref.EVENT_COLUMNS) for r in rows)


REFERENCE = {"mixpanel": ref.mixpanel, "ga4": ref.ga4, "segment": ref.segment,
             "rudderstack": ref.segment, "amplitude": ref.amplitude, "posthog": ref.posthog}


@pytest.mark.parametrize("tool", ["mixpanel", "ga4", "segment", "rudderstack", "amplitude",
                                  "posthog"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_event_connector_matches_the_documented_format(con, tool, tz):
    settings = _settings(tool, tz=tz, customer=CUSTOMER[tool])
    rows, names = _run(con, settings)
    expected, _ = REFERENCE[tool](tz)
    assert _events(rows, names) == expected
    assert expected  # the fixture resolves customers at all


@pytest.mark.parametrize("tool", ["mixpanel", "ga4", "segment"])
def test_identity_table_maps_users_to_customers(con, tool):
    # without a customer setting the identity table alone resolves customers; with one, the
    # row's own customer comes first and the identity table fills the rest
    expected, _ = REFERENCE[tool]("UTC", identity=IDENTITY, hints=False)
    assert _events(*_run(con, _settings(tool, identity=True))) == expected
    expected, _ = REFERENCE[tool]("UTC", identity=IDENTITY)
    assert _events(*_run(con, _settings(tool, identity=True,
                                        customer=CUSTOMER[tool]))) == expected


def test_intercom_tickets_and_ratings(con):
    tickets, ratings, unresolved = ref.intercom("Europe/Paris", identity=IDENTITY)
    settings = _settings("intercom", "support_tickets", tz="Europe/Paris", identity=True,
                         customer=CUSTOMER["intercom"])
    rows, names = _run(con, settings, "support_tickets")
    assert names == ["customer_id", "created_at", "resolved_at"]
    assert sorted(rows, key=repr) == tickets
    settings = _settings("intercom", "survey_responses", tz="Europe/Paris", identity=True,
                         customer=CUSTOMER["intercom"])
    rows, names = _run(con, settings, "survey_responses")
    assert names == ["customer_id", "responded_at", "survey", "score", "comment"]
    assert sorted(rows, key=repr) == ratings
    assert unresolved == 0 and len(ratings) == 3
    # without the identity table, conversations 1003 and 1004 have no customer
    _, _, unresolved = ref.intercom("UTC")
    rows, _ = _run(con, _settings("intercom", "support_tickets",
                                  customer=CUSTOMER["intercom"]), "support_tickets")
    assert len(rows) == 5 - unresolved == 3


@pytest.mark.parametrize("tool", ["amplitude", "posthog"])
def test_customer_from_a_property(con, tool):
    # Amplitude: the event property, else the user property; PostHog: the event property
    expected, _ = REFERENCE[tool]("UTC", kind="property")
    assert _events(*_run(con, _settings(tool, customer={"property": "company_id"}))) == \
        expected


SURVEY = {"connector": "surveymonkey", "customer": {"column": "Account ID"},
          "questions": {"nps": ref.NPS_QUESTION, "csat": ref.CSAT_QUESTION}}


def test_surveymonkey_two_header_rows(tmp_path):
    # the DuckDB build reads the export through its wide-survey reader (two header rows)
    expected, left_out = ref.surveymonkey()
    assert left_out == 2 and len(expected) == 6
    _write_csv(tmp_path / "subscriptions.csv",
               ["subscription_id", "customer_id", "start_date", "end_date", "mrr"],
               SUBSCRIPTIONS)
    shutil.copy(ref.FIXTURES / "surveymonkey" / "surveymonkey_responses.csv",
                tmp_path / "nps_export.csv")
    config = {"as_of": AS_OF, "tables": {"survey_responses": {**SURVEY,
                                                              "table": "nps_export"}}}
    report = check(tmp_path, parse_settings(config))
    assert report.tables["survey_responses"] == len(expected)
    assert "responses without a customer" in str(report.warnings[0])
    assert report.warnings[0].count == left_out
    con = duckdb.connect()
    try:
        relation = open_source(tmp_path).find(parse_settings(config), "nps_export",
                                              "wide_survey")
        con.execute(exp.Create(this=exp.to_table("raw_tool_surveymonkey_responses"),
                               kind="TABLE", expression=exp.select("*").from_(
                                   relation.reader)).sql("duckdb"))
        rows, _ = _run(con, parse_settings(config), "survey_responses")
    finally:
        con.close()
    assert sorted(rows, key=repr) == expected
    # a question that is not in the export: an error listing the questions that are
    wrong = {**config["tables"]["survey_responses"], "questions": {"nps": "Would you"}}
    with pytest.raises(SourceProblems) as info:
        check(tmp_path, parse_settings({"as_of": AS_OF,
                                        "tables": {"survey_responses": wrong}}))
    text = str(info.value)
    assert "questions.nps: no question of the export starts with this text" in text
    assert "How satisfied are you with our support?" in text
    unset = {k: v for k, v in wrong.items() if k != "questions"}
    with pytest.raises(SourceProblems, match="no survey question configured"):
        check(tmp_path, parse_settings({"as_of": AS_OF,
                                        "tables": {"survey_responses": unset}}))
    # a file without the second header row is named
    (tmp_path / "nps_export.csv").write_text("Respondent ID,Q\n1,2\n")
    with pytest.raises(SourceError, match="nps_export.csv has no second header row"):
        check(tmp_path, parse_settings(config))
    # headers alone: no response yet, an empty table
    (tmp_path / "nps_export.csv").write_text("Respondent ID,Account ID,End Date,How likely\n"
                                             ",,,Response\n")
    assert check(tmp_path, parse_settings(config)).tables["survey_responses"] == 0


def _survey_rows(source: Path, config: dict, table: str, layout: str) -> list[tuple]:
    """survey_responses from ``table`` of ``source`` as the DuckDB build reads it."""
    con = duckdb.connect()
    try:
        relation = open_source(source).find(parse_settings(config), table, layout)
        con.execute(exp.Create(this=exp.to_table(f"raw_tool_{table}"), kind="TABLE",
                               expression=exp.select("*").from_(relation.reader))
                    .sql("duckdb"))
        rows, _ = _run(con, parse_settings(config), "survey_responses")
    finally:
        con.close()
    return sorted(rows, key=repr)


def test_surveymonkey_api_bulk_responses(tmp_path):
    # the same five respondents as the CSV export, from GET /surveys/{id}/responses/bulk and
    # the survey details; the API's UTC times on New York's clock are the export's local times
    expected, left_out = ref.surveymonkey_api("America/New_York")
    assert (expected, left_out) == ref.surveymonkey()
    for item in (ref.FIXTURES / "surveymonkey_api").glob("*.json"):
        shutil.copy(item, tmp_path / item.name.replace("surveymonkey_api_responses",
                                                      "surveymonkey_responses"))
    config = {"as_of": AS_OF, "timezone": "America/New_York", "tables": {"survey_responses": {
        **SURVEY, "customer": {"column": "account_id"}}}}
    assert _survey_rows(tmp_path, config, "surveymonkey_responses", "wide_survey") == expected
    _write_csv(tmp_path / "subscriptions.csv",
               ["subscription_id", "customer_id", "start_date", "end_date", "mrr"],
               SUBSCRIPTIONS)
    report = check(tmp_path, parse_settings(config))
    assert report.tables["survey_responses"] == len(expected)
    assert report.warnings[0].count == left_out
    # without the survey details the headings are unknown: the file to save is named
    (tmp_path / "surveymonkey_responses.details.json").unlink()
    with pytest.raises(SourceError, match="surveymonkey_responses.details.json"):
        check(tmp_path, parse_settings(config))


def test_hotjar_one_column_per_question(tmp_path):
    expected, left_out = ref.hotjar()
    assert left_out == 1 and len(expected) == 3
    _write_csv(tmp_path / "subscriptions.csv",
               ["subscription_id", "customer_id", "start_date", "end_date", "mrr"],
               SUBSCRIPTIONS)
    shutil.copy(ref.FIXTURES / "hotjar" / "hotjar_responses.csv", tmp_path)
    config = {"as_of": AS_OF, "tables": {"survey_responses": {
        "connector": "hotjar", "customer": {"column": "company_id"},
        "questions": {"nps": ref.HOTJAR_QUESTION}}}}
    report = check(tmp_path, parse_settings(config))
    assert report.tables["survey_responses"] == len(expected)
    assert report.warnings[0].count == left_out
    con = duckdb.connect()
    try:
        relation = open_source(tmp_path).find(parse_settings(config), "hotjar_responses",
                                              "survey_columns")
        con.execute(exp.Create(this=exp.to_table("raw_tool_hotjar_responses"), kind="TABLE",
                               expression=exp.select("*").from_(relation.reader))
                    .sql("duckdb"))
        rows, _ = _run(con, parse_settings(config), "survey_responses")
    finally:
        con.close()
    assert sorted(rows, key=repr) == expected


def _xlsx_from_csv(csv_path: Path, xlsx_path: Path, header_rows: int, dates: str) -> None:
    """The export as its .xlsx download: the CSV's cells, the data rows' numbers as numbers
    and the ``dates`` column as date cells (as Excel holds them)."""
    openpyxl = pytest.importorskip("openpyxl", reason="the xlsx extra (in the test extra)")
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    at = rows[0].index(dates)
    book = openpyxl.Workbook()
    sheet = book.active
    for n, row in enumerate(rows):
        cells = []
        for i, value in enumerate(row):
            if n < header_rows or value == "":
                cells.append(value or None)
            elif i == at:
                cells.append(dt.datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p")
                             if "/" in value else dt.datetime.fromisoformat(value))
            elif value.isdigit():
                cells.append(int(value) if len(value) < 6 else float(value))
            else:
                cells.append(value)
        sheet.append(cells)
    book.save(xlsx_path)


@pytest.mark.parametrize("tool", ["surveymonkey", "hotjar"])
def test_survey_exports_as_xlsx(tool, tmp_path, monkeypatch):
    # the same export downloaded as .xlsx gives the same rows as its CSV
    if tool == "surveymonkey":
        expected, _ = ref.surveymonkey()
        config = {"as_of": AS_OF, "tables": {"survey_responses": {
            **SURVEY, "table": "surveymonkey_responses"}}}
        header_rows, dates, layout = 2, "End Date", "wide_survey"
    else:
        expected, _ = ref.hotjar()
        config = {"as_of": AS_OF, "tables": {"survey_responses": {
            "connector": "hotjar", "customer": {"column": "company_id"},
            "questions": {"nps": ref.HOTJAR_QUESTION}}}}
        header_rows, dates, layout = 1, "Date Submitted", "survey_columns"
    table = f"{tool}_responses"
    _xlsx_from_csv(ref.FIXTURES / tool / f"{table}.csv", tmp_path / f"{table}.xlsx",
                   header_rows, dates)
    assert _survey_rows(tmp_path, config, table, layout) == expected
    # a contract table is not read from a workbook: the message says to save it as CSV
    with pytest.raises(SourceError, match="save this table as CSV"):
        open_source(tmp_path).find(parse_settings(config), table)
    # a file that is not a workbook is named
    (tmp_path / f"{table}.xlsx").write_text("Number,User\n")
    with pytest.raises(SourceError, match=rf"{table}.xlsx: not a readable .xlsx workbook"):
        open_source(tmp_path).find(parse_settings(config), table, layout)
    # without openpyxl: the extra to install is named
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(SourceError, match=r"saas-retention\[xlsx\]"):
        open_source(tmp_path).find(parse_settings(config), table, layout)


def test_zendesk_tickets(con):
    tickets, left_out = ref.zendesk("Europe/Paris", identity=IDENTITY)
    settings = _settings("zendesk", "support_tickets", tz="Europe/Paris", identity=True,
                         customer={"property": "organization_id"})
    rows, names = _run(con, settings, "support_tickets")
    assert names == ["customer_id", "created_at", "resolved_at"]
    assert sorted(rows, key=repr) == tickets
    assert left_out == 1 and len(tickets) == 4


def test_typeform_responses(con):
    expected, left_out = ref.typeform("Europe/Paris")
    settings = _settings("typeform", "survey_responses", tz="Europe/Paris",
                         customer={"property": "account_id"},
                         questions={"nps": "nps", "csat": "csat"})
    rows, _ = _run(con, settings, "survey_responses")
    assert sorted(rows, key=repr) == expected
    assert left_out == 2 and len(expected) == 6
    # a ref no answer has: an error listing the refs answered
    wrong = _settings("typeform", "survey_responses", customer={"property": "account_id"},
                      questions={"nps": "recommend"})
    check_ = next(c for c in connector_for(wrong, "survey_responses").checks
                  if c.name == "nps_question")
    found = con.execute(check_.rows(Target("duckdb", wrong, tool_prefix="raw_tool_"))
                        .sql("duckdb")).fetchall()
    assert [sorted(found[0][0].split(" | "))] == [["csat_support", "nps_score", "reason"]]


def test_ga4_from_parquet(tmp_path):
    # the same export rows as Parquet: event_params a LIST of STRUCTs, not JSON text
    parquet = tmp_path / "ga4_events.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"copy (select * from read_json('{ref.FIXTURES / 'ga4' / 'ga4_events.jsonl'}',"
                    f" format='newline_delimited')) to '{parquet}' (format parquet)")
        kind = con.execute(f"select typeof(event_params) from '{parquet}' limit 1").fetchone()[0]
        assert kind.startswith("STRUCT(")
        relation = open_source(tmp_path).relations()["ga4_events"]
        con.execute(exp.Create(this=exp.to_table("raw_tool_ga4_events"), kind="VIEW",
                               expression=exp.select("*").from_(relation.reader))
                    .sql("duckdb"))
        settings = _settings("ga4", tz="Europe/Paris", customer=CUSTOMER["ga4"])
        expected, _ = ref.ga4("Europe/Paris")
        assert _events(*_run(con, settings)) == expected
    finally:
        con.close()


def test_ga4_in_bigquery_reads_event_params_with_unnest():
    # GA4's native export is queried where it lives: STRUCT fields by dots, the repeated
    # event_params through UNNEST, microseconds through TIMESTAMP_MICROS (golden only: no
    # BigQuery here, so the SQL is checked for those forms and re-parsed)
    import sqlglot

    settings = _settings("ga4", customer=CUSTOMER["ga4"])
    sql = connector_for(settings, "events").query(
        Target("bigquery", settings, source_schema="analytics_123")).sql("bigquery")
    assert "FROM UNNEST(`event_params`) AS p" in sql or "FROM UNNEST(event_params) AS p" in sql
    assert "p.value.int_value" in sql and "TIMESTAMP_MICROS(" in sql
    assert "`analytics_123`.`ga4_events`" in sql
    assert "JSON" not in sql.upper().replace("JSON_", "")
    sqlglot.parse_one(sql, read="bigquery")


def test_every_connector_compiles_for_the_golden_warehouses():
    # executed on DuckDB and PostgreSQL above; for the warehouses that cannot run here, the
    # generation itself must succeed (three of them: each compile costs ~0.1 s)
    from saas_retention.connectors import PRODUCING, connectors

    connectors()  # registered when first used
    configs = {
        "events": lambda name: {"customer": CUSTOMER.get(name, {"property": "company_id"})},
        "support_tickets": lambda name: {"customer": {"property": "company_id"}},
        "survey_responses": lambda name: {"customer": (
            {"property": "company_id"} if name in ("intercom", "typeform")
            else {"column": "Account ID"}),
            "questions": {"nps": "How likely"}},
    }
    compiled = set()
    for (name, table), connector in PRODUCING.items():
        if table not in configs:
            continue
        settings = _settings(name, table, **configs[table](name))
        for dialect in ("bigquery", "snowflake", "trino"):
            assert connector.query(Target(dialect, settings, source_schema="tools")).sql(dialect)
        compiled.add((name, table))
    assert len(compiled) == 12


def test_customer_setting_must_fit_the_tool(con):
    with pytest.raises(ConfigError, match="needs to know where the customer is"):
        _run(con, _settings("mixpanel"))
    with pytest.raises(ConfigError, match="ga4 rows have no group"):
        _run(con, _settings("ga4", customer={"group": "company"}))
    with pytest.raises(ConfigError, match="exactly one of property, group or column"):
        parse_settings({"tables": {"events": {"customer": {"property": "a", "group": "b"}}}})
    with pytest.raises(ConfigError, match="produces 'support_tickets' or 'survey_responses', "
                                          "not 'events'"):
        parse_settings({"tables": {"events": {"connector": "intercom"}}})


# -- the build: check's report ---------------------------------------------------------------


def _write_csv(path: Path, header, rows) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The Mixpanel export and Intercom's conversations beside subscriptions."""
    root = tmp_path_factory.mktemp("build")
    (root / "tool").mkdir()
    _write_csv(root / "tool" / "subscriptions.csv",
               ["subscription_id", "customer_id", "start_date", "end_date", "mrr"],
               SUBSCRIPTIONS)
    shutil.copy(ref.FIXTURES / "mixpanel" / "mixpanel_export.jsonl", root / "tool")
    shutil.copy(ref.FIXTURES / "intercom" / "conversations.jsonl", root / "tool")
    return root


CONFIG = {"as_of": AS_OF, "timezone": "Europe/Paris", "tables": {
    "events": {"connector": "mixpanel", "customer": {"property": "company_id"}},
    "support_tickets": {"connector": "intercom", "customer": {"property": "company_id"}},
    "survey_responses": {"connector": "intercom", "customer": {"property": "company_id"}}}}


def test_check_reports_what_each_connector_found(sources):
    report = check(sources / "tool", parse_settings(CONFIG))
    _, counts = ref.mixpanel("Europe/Paris")
    assert report.connectors["mixpanel"] == {"mixpanel_export": counts["rows_read"]}
    found = report.summaries["events"]
    assert found["rows_read"] == counts["rows_read"]
    assert found["duplicates_dropped"] == counts["duplicates"] == 1
    assert found["anonymous_left_out"] == counts["anonymous"] == 1
    assert found["unresolved_left_out"] == counts["unresolved"] == 1
    assert (found["users"], found["customers"]) == (counts["users"], counts["customers"])
    assert found["first_event_at"] == dt.datetime(2024, 1, 1, 10, 0)
    warnings = "\n".join(str(w) for w in report.warnings)
    assert "duplicate events dropped as Mixpanel drops them" in warnings
    assert "anonymous_id='d9'" in warnings and "known_user='u3'" in warnings
    assert report.summaries["support_tickets"]["rows_kept"] == 3
    assert report.summaries["survey_responses"]["customers"] == 1
    # the line the CLI prints (cli.check; one staging per test is enough)
    from saas_retention.cli import _connector_summary

    assert _connector_summary(found) == (
        "11 rows read, 8 kept; 2 users, 2 customers resolved; 2024-01-01 10:00 to "
        "2024-03-31 23:30 UTC; left out: 1 duplicates, 1 anonymous, 1 unresolved")
    assert _connector_summary(report.summaries["support_tickets"]).startswith(
        "3 rows, 2 customers resolved; 2024-01-02 to 2024-04-01 (local time)")


def test_identity_table_is_read_from_the_source(sources, tmp_path):
    # the identity table named in the config is read from --source like the tool's tables
    shutil.copy(sources / "tool" / "mixpanel_export.jsonl", tmp_path)
    shutil.copy(sources / "tool" / "subscriptions.csv", tmp_path)
    _write_csv(tmp_path / "accounts_users.csv", ["id", "account_id"],
               [["u1", "acme"], ["u2", "globex"], ["u3", "initech"]])
    settings = parse_settings({"as_of": AS_OF, "identity": {
        "table": "accounts_users", "columns": {"user_id": "id", "customer_id": "account_id"}},
        "tables": {"events": {"connector": "mixpanel"}}})
    report = check(tmp_path, settings)
    assert report.connectors["mixpanel"] == {"mixpanel_export": 11, "accounts_users": 3}
    expected, counts = ref.mixpanel(identity={"u1": "acme", "u2": "globex", "u3": "initech"},
                                    hints=False)
    assert report.tables["events"] == len(expected)
    assert report.summaries["events"]["customers"] == 3 == counts["customers"]
    (tmp_path / "accounts_users.csv").unlink()
    with pytest.raises(SourceError, match="no table 'accounts_users'"):
        check(tmp_path, settings)


def test_unknown_time_units_are_an_error_with_examples(sources, tmp_path):
    shutil.copy(sources / "tool" / "subscriptions.csv", tmp_path)
    lines = (sources / "tool" / "mixpanel_export.jsonl").read_text()
    # microseconds: not a unit Mixpanel writes
    lines += ('{"event":"Logged In","properties":{"time":1711927800000000,'
              '"distinct_id":"u1","$insert_id":"zz1"}}\n')
    (tmp_path / "mixpanel_export.jsonl").write_text(lines)
    with pytest.raises(SourceProblems) as info:
        check(tmp_path, parse_settings({"as_of": AS_OF, "tables": {"events": {
            "connector": "mixpanel", "customer": {"property": "company_id"}}}}))
    text = str(info.value)
    assert ("mixpanel_export: properties.time is not seconds or milliseconds since 1970 "
            "(or is missing) (1 row)") in text
    assert "known_user='u1'" in text
