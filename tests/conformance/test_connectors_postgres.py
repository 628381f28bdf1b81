"""The product and voice connectors (issue 16) on a real PostgreSQL server: each tool's fixture
loaded as a warehouse holds it (top-level fields as columns, nested records as jsonb) gives
the rows the independent reading of the documented format gives
(tests/helpers/connector_reference.py) — the same queries the DuckDB tests run, compiled for
PostgreSQL; and a warehouse build stages a connector as src_events and reports its checks."""

from __future__ import annotations

import csv
import json

import connector_reference as ref
import pytest
from engines import pg_url

from saas_retention.connectors import connector_for
from saas_retention.core.config import parse_settings
from saas_retention.relations.target import Target

pytestmark = pytest.mark.postgres

AS_OF = "2024-06-30"
IDENTITY = {"u3": "initech", "u2": "globex", "65d4f301": "initech", "361088": "initech"}
SCHEMA = "tools"


def _load(con, table: str, rows: list[dict]) -> None:
    columns = sorted({k for r in rows for k in r})
    nested = {c for c in columns if any(isinstance(r.get(c), (dict, list)) for r in rows)}
    con.execute(f"create table {SCHEMA}.{table} (" + ", ".join(
        f'"{c}" {"jsonb" if c in nested else "text"}' for c in columns) + ")")

    def value(v):
        if v is None or v == "":
            return None
        return json.dumps(v) if isinstance(v, (dict, list)) else str(v)

    for r in rows:
        con.execute(f"insert into {SCHEMA}.{table} values ({', '.join(['%s'] * len(columns))})",
                    [value(r.get(c)) for c in columns])


@pytest.fixture(scope="module")
def pg(postgres_module_dsn):
    # module-scoped: the module's marker (pytestmark) puts every test of it in the postgres
    # tier
    psycopg = pytest.importorskip("psycopg")
    con = psycopg.connect(postgres_module_dsn, autocommit=True)
    con.execute(f"drop schema if exists {SCHEMA} cascade")
    con.execute(f"create schema {SCHEMA}")
    _load(con, "mixpanel_export", ref.json_lines(ref.FIXTURES / "mixpanel" /
                                                 "mixpanel_export.jsonl"))
    _load(con, "ga4_events", ref.json_lines(ref.FIXTURES / "ga4" / "ga4_events.jsonl"))
    _load(con, "amplitude_events", ref.json_lines(ref.FIXTURES / "amplitude" /
                                                  "amplitude_events.jsonl"))
    _load(con, "posthog_events", ref.json_lines(ref.FIXTURES / "posthog" /
                                                "posthog_events.jsonl"))
    _load(con, "conversations", ref.json_lines(ref.FIXTURES / "intercom" /
                                               "conversations.jsonl"))
    for name in ("tracks", "identifies", "groups"):
        with (ref.FIXTURES / "segment" / f"{name}.csv").open(newline="") as f:
            _load(con, name, list(csv.DictReader(f)))
    _load(con, "users", [{"id": u, "account_id": c} for u, c in IDENTITY.items()])
    _load(con, "surveymonkey_responses", ref.surveymonkey_long_rows())
    _load(con, "hotjar_responses", ref.hotjar_long_rows())
    _load(con, "zendesk_tickets", ref.json_lines(ref.FIXTURES / "zendesk" /
                                                 "zendesk_tickets.jsonl"))
    _load(con, "typeform_responses", ref.json_lines(ref.FIXTURES / "typeform" /
                                                    "typeform_responses.jsonl"))
    yield con
    con.close()


def _settings(connector, table="events", tz="UTC", identity=False, **mapping):
    data = {"as_of": AS_OF, "timezone": tz,
            "tables": {table: {"connector": connector, **mapping}}}
    if identity:
        data["identity"] = {"table": "users", "columns": {"user_id": "id",
                                                          "customer_id": "account_id"}}
    return parse_settings(data)


def _run(pg, settings, table="events"):
    query = connector_for(settings, table).query(Target("postgres", settings,
                                                        source_schema=SCHEMA))
    cursor = pg.execute(query.sql("postgres"))
    return [tuple(r) for r in cursor.fetchall()], [d.name for d in cursor.description]


def _events(rows, names):
    i = {n: names.index(n) for n in ref.EVENT_COLUMNS}
    return sorted(tuple(r[i[c]] for c in ref.EVENT_COLUMNS) for r in rows)


# RudderStack's warehouse schema is Segment's (tracks, identifies, groups): the same rows
REFERENCE = {"mixpanel": ref.mixpanel, "ga4": ref.ga4, "segment": ref.segment,
             "rudderstack": ref.segment, "amplitude": ref.amplitude, "posthog": ref.posthog}
CUSTOMER = {"mixpanel": {"property": "company_id"}, "ga4": {"property": "company_id"},
            "segment": {"group": "company"}, "rudderstack": {"group": "company"},
            "amplitude": {"group": "company"}, "posthog": {"group": "company"}}


@pytest.mark.parametrize("tool", sorted(REFERENCE))
def test_event_connectors_on_postgres(pg, tool):
    tz = "Europe/Paris"
    expected, _ = REFERENCE[tool](tz)
    assert _events(*_run(pg, _settings(tool, tz=tz, customer=CUSTOMER[tool]))) == expected
    expected, _ = REFERENCE[tool]("UTC", identity=IDENTITY, hints=False)
    assert _events(*_run(pg, _settings(tool, identity=True))) == expected


def test_intercom_on_postgres(pg):
    tickets, ratings, _ = ref.intercom("Europe/Paris", identity=IDENTITY)
    common = {"tz": "Europe/Paris", "identity": True, "customer": {"property": "company_id"}}
    rows, _ = _run(pg, _settings("intercom", "support_tickets", **common), "support_tickets")
    assert sorted(rows, key=repr) == tickets
    rows, _ = _run(pg, _settings("intercom", "survey_responses", **common), "survey_responses")
    assert sorted(rows, key=repr) == ratings


def test_surveymonkey_on_postgres(pg):
    expected, _ = ref.surveymonkey()
    settings = parse_settings({"as_of": AS_OF, "tables": {"survey_responses": {
        "connector": "surveymonkey", "customer": {"column": "Account ID"},
        "questions": {"nps": ref.NPS_QUESTION, "csat": ref.CSAT_QUESTION}}}})
    rows, _ = _run(pg, settings, "survey_responses")
    assert sorted(rows, key=repr) == expected


def test_hotjar_on_postgres(pg):
    expected, _ = ref.hotjar()
    settings = parse_settings({"as_of": AS_OF, "tables": {"survey_responses": {
        "connector": "hotjar", "customer": {"column": "company_id"},
        "questions": {"nps": ref.HOTJAR_QUESTION}}}})
    rows, _ = _run(pg, settings, "survey_responses")
    assert sorted(rows, key=repr) == expected


def test_zendesk_and_typeform_on_postgres(pg):
    tickets, _ = ref.zendesk("Europe/Paris", identity=IDENTITY)
    rows, _ = _run(pg, _settings("zendesk", "support_tickets", tz="Europe/Paris",
                                 identity=True, customer={"property": "organization_id"}),
                   "support_tickets")
    assert sorted(rows, key=repr) == tickets
    expected, _ = ref.typeform("Europe/Paris")
    rows, _ = _run(pg, _settings("typeform", "survey_responses", tz="Europe/Paris",
                                 customer={"property": "account_id"},
                                 questions={"nps": "nps", "csat": "csat"}),
                   "survey_responses")
    assert sorted(rows, key=repr) == expected


def test_warehouse_build_stages_a_connector(pg, pg_dsn):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    pg.execute(f"drop table if exists {SCHEMA}.subscriptions")
    pg.execute(f"create table {SCHEMA}.subscriptions (subscription_id text, customer_id text, "
               "start_date date, end_date date, mrr double precision)")
    pg.execute(f"insert into {SCHEMA}.subscriptions values ('s1', 'acme', '2024-01-01', null, "
               "100), ('s2', 'globex', '2024-01-15', null, 50)")
    url = pg_url(pg_dsn)
    settings = _settings("mixpanel", customer={"property": "company_id"})
    result = build_on_warehouse(url, settings, schema=SCHEMA, target_schema="out")
    assert "active_customers" in result.models
    expected, counts = ref.mixpanel("UTC")
    staged = pg.execute("select customer_id, user_id, event_time, event_name, session_id, "
                        "duration_seconds from out.src_events").fetchall()
    assert sorted(tuple(r) for r in staged) == expected
    warnings = "\n".join(str(w) for w in result.warnings)
    assert "duplicate events dropped as Mixpanel drops them" in warnings
    assert f"({counts['anonymous']} row)" in warnings


def test_intercom_company_on_postgres(pg):
    tickets, ratings, _ = ref.intercom("Europe/Paris", customer_from="company")
    common = {"tz": "Europe/Paris", "customer": {"group": "company"}}
    rows, _ = _run(pg, _settings("intercom", "support_tickets", **common), "support_tickets")
    assert sorted(rows, key=repr) == tickets
    rows, _ = _run(pg, _settings("intercom", "survey_responses", **common), "survey_responses")
    assert sorted(rows, key=repr) == ratings


def test_a_time_that_is_no_time_is_a_contract_error_on_postgres(pg, pg_dsn):
    """The warehouse build runs the connector's checks before its query: a Segment timestamp
    that is not ISO text is the error naming tracks.timestamp, not the driver's."""
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse
    from saas_retention.core.errors import SourceProblems

    pg.execute("drop schema if exists bad_tools cascade")
    pg.execute("create schema bad_tools")
    pg.execute("create table bad_tools.tracks (id text, user_id text, anonymous_id text, "
               "event text, timestamp text)")
    pg.execute("insert into bad_tools.tracks values ('m1', 'u1', 'a1', 'Signed Up', "
               "'2024-01-01T10:00:00Z'), ('m2', 'u1', 'a1', 'Logged In', 'yesterday')")
    pg.execute("create table bad_tools.identifies (user_id text, anonymous_id text)")
    pg.execute("create table bad_tools.groups (user_id text, group_id text, timestamp text)")
    pg.execute("insert into bad_tools.groups values ('u1', 'acme', '2024-01-01T10:00:00Z')")
    pg.execute("create table bad_tools.subscriptions (subscription_id text, customer_id text, "
               "start_date date, end_date date, mrr double precision)")
    pg.execute("insert into bad_tools.subscriptions values ('s1', 'acme', '2024-01-01', null, "
               "100)")
    url = pg_url(pg_dsn)
    with pytest.raises(SourceProblems) as info:
        build_on_warehouse(url, _settings("segment", customer={"group": "company"}),
                           schema="bad_tools", target_schema="bad_out")
    text = str(info.value)
    assert "tracks.timestamp: values that are not an ISO 8601 time" in text, text
    assert "(1 row)" in text and "id='m2'" in text and "'yesterday'" in text


def test_check_on_a_warehouse_reports_each_connector_and_writes_nothing(pg, pg_dsn):
    # saas-retention check --source <URL>: the connector's checks and summary, the contract
    # rules on its rows (read as a CTE of its query), the row counts; no relation is created
    pytest.importorskip("sqlalchemy")
    import datetime as dt

    from saas_retention.builders.warehouse.run import check_on_warehouse
    from saas_retention.core.errors import SourceProblems

    pg.execute("drop schema if exists checked cascade")
    pg.execute("create schema checked")
    pg.execute(f"create table checked.mixpanel_export as select * from {SCHEMA}.mixpanel_export")
    pg.execute("create table checked.subscriptions (subscription_id text, customer_id text, "
               "start_date date, end_date date, mrr double precision)")
    pg.execute("insert into checked.subscriptions values ('s1', 'acme', '2024-01-01', null, "
               "100)")
    url = pg_url(pg_dsn)

    def relations():
        return pg.execute("select table_schema, table_name from information_schema.tables "
                          "where table_schema not in ('pg_catalog', 'information_schema') "
                          "order by 1, 2").fetchall()

    before = relations()
    settings = _settings("mixpanel", customer={"property": "company_id"})
    report = check_on_warehouse(url, settings, schema="checked")
    assert relations() == before
    expected, counts = ref.mixpanel("UTC")
    assert report.connectors == {"mixpanel": {"mixpanel_export": counts["rows_read"]}}
    assert report.tables == {"subscriptions": 1, "events": len(expected)}
    found = report.summaries["events"]
    assert (found["rows_read"], found["rows_kept"]) == (counts["rows_read"], len(expected))
    assert (found["duplicates_dropped"], found["anonymous_left_out"],
            found["unresolved_left_out"]) == (counts["duplicates"], counts["anonymous"],
                                              counts["unresolved"])
    assert (found["users"], found["customers"]) == (counts["users"], counts["customers"])
    assert found["first_event_at"] == min(e[2] for e in expected)
    assert isinstance(found["last_event_at"], dt.datetime)
    warnings = "\n".join(str(w) for w in report.warnings)
    assert "duplicate events dropped as Mixpanel drops them" in warnings
    # the contract rule on the connector's rows: customers without a subscription
    others = sum(1 for e in expected if e[0] != "acme")
    unknown = [w for w in report.warnings if w.column == "customer_id"
               and w.table.startswith("events (from the 'mixpanel' connector")]
    assert others and [w.count for w in unknown] == [others]
    # one bad row: an event time in microseconds, an error naming the tool's table
    pg.execute("insert into checked.mixpanel_export (event, properties) values ('Logged In', "
               "'{\"time\": 1711927800000000, \"distinct_id\": \"u1\", \"$insert_id\": \"z\"}')")
    with pytest.raises(SourceProblems) as info:
        check_on_warehouse(url, settings, schema="checked")
    (problem,) = [p for p in info.value.problems if p.severity == "error"]
    assert (problem.table, problem.count) == ("checked.mixpanel_export", 1)
    assert "not seconds or milliseconds" in problem.message
    assert relations() == before
