"""The product and voice connectors' bad input and settings (issue 16): a time the tool's
export cannot hold is an error naming the tool's table, column, row count and examples
(never the engine's conversion error); Amplitude's insert_id duplicates are dropped as
Amplitude drops them and counted; Intercom's customer from the conversation's company; a
reporting time zone MySQL or SQLite cannot convert the connectors' times to is refused.

Each case is a tiny file written in a temporary folder, read by the DuckDB build's ``check``
(one staging, no models)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
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
SUBSCRIPTIONS = "subscription_id,customer_id,start_date,end_date,mrr\ns1,acme,2024-01-01,,100\n"


def _source(folder: Path, files: dict[str, str]) -> Path:
    (folder / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    for name, content in files.items():
        (folder / name).write_text(content)
    return folder


def _settings(table: str, connector: str, tz: str = "UTC", **mapping):
    return parse_settings({"as_of": AS_OF, "timezone": tz,
                           "tables": {table: {"connector": connector, **mapping}}})


def _csv(rows: list[dict]) -> str:
    from io import StringIO

    out = StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _segment(bad_tracks: bool) -> dict[str, str]:
    track = {"id": "m1", "user_id": "u1", "anonymous_id": "a1", "event": "Signed Up",
             "timestamp": "2024-01-01T10:00:00.000Z"}
    group = {"user_id": "u1", "group_id": "acme", "timestamp": "2024-01-01T10:00:00Z"}
    tracks = [track, {**track, "id": "m2", "timestamp": "yesterday" if bad_tracks
                      else "2024-01-02T10:00:00Z"}]
    groups = [group, {**group, "timestamp": "2024-01-01T10:00:00Z" if bad_tracks
                      else "1704103200"}]
    return {"tracks.csv": _csv(tracks), "groups.csv": _csv(groups),
            "identifies.csv": "user_id,anonymous_id\nu1,a1\n"}


AMPLITUDE = {"uuid": "e1", "insert_id": "i1", "event_type": "Signed Up",
             "event_time": "2024-01-01 10:00:00.000000", "user_id": "u1", "device_id": "d1",
             "session_id": -1, "event_properties": {}, "user_properties": {},
             "groups": {"company": "acme"}}
POSTHOG = {"uuid": "p1", "event": "Signed Up", "timestamp": "2024-01-01T10:00:00+00:00",
           "distinct_id": "u1", "person_id": "person-1",
           "properties": {"$groups": {"company": "acme"}}}


# (case, files, table, connector, mapping, the tool table and column named, the key shown)
TIME_CASES = {
    "segment tracks": (_segment(True), "events", "segment", {"customer": {"group": "company"}},
                       "tracks.timestamp", "id='m2'", "'yesterday'"),
    "segment groups": (_segment(False), "events", "rudderstack",
                       {"customer": {"group": "company"}}, "groups.timestamp",
                       "user_id='u1'", "'1704103200'"),
    "amplitude": ({"amplitude_events.jsonl": _jsonl([AMPLITUDE, {
        **AMPLITUDE, "uuid": "e2", "insert_id": "i2", "event_time": "1704103200"}])},
        "events", "amplitude", {"customer": {"group": "company"}},
        "amplitude_events.event_time", "uuid='e2'", "'1704103200'"),
    "posthog": ({"posthog_events.jsonl": _jsonl([POSTHOG, {
        **POSTHOG, "uuid": "p2", "timestamp": "01/02/2024 10:00"}])},
        "events", "posthog", {"customer": {"group": "company"}},
        "posthog_events.timestamp", "uuid='p2'", "'01/02/2024 10:00'"),
    "intercom": ({"conversations.jsonl": _jsonl([
        {"id": "c1", "created_at": 1704189600, "state": "closed",
         "statistics": {"last_close_at": 1704196800}, "contacts": {"contacts": []},
         "custom_attributes": {"company_id": "acme"}},
        {"id": "c2", "created_at": 1704189600, "state": "closed",
         "statistics": {"last_close_at": "2024-01-02T10:00:00Z"},
         "contacts": {"contacts": []}, "custom_attributes": {"company_id": "acme"}}])},
        "support_tickets", "intercom", {"customer": {"property": "company_id"}},
        "conversations.statistics.last_close_at", "id='c2'", "'2024-01-02T10:00:00Z'"),
    "hotjar": ({"hotjar_responses.csv": "Number,Date Submitted,company_id,How likely?\n"
                "1,2024-01-10 09:03:10,acme,9\n2,last week,acme,7\n"
                "3,01/11/2024 09:03:10 AM,acme,8\n"},
               "survey_responses", "hotjar",
               {"customer": {"column": "company_id"}, "questions": {"nps": "How likely"}},
               "hotjar_responses.Date Submitted", "Number='2'", "'last week'"),
}


@pytest.mark.parametrize("case", sorted(TIME_CASES))
def test_a_time_the_export_cannot_hold_is_an_error_naming_the_tool_table(tmp_path, case):
    files, table, connector, mapping, where, key, value = TIME_CASES[case]
    source = _source(tmp_path, files)
    with pytest.raises(SourceProblems) as info:
        check(source, _settings(table, connector, **mapping))
    text = str(info.value)
    assert f"{where}: values that are not " in text, text
    assert "(1 row)" in text and key in text and value in text
    assert "Conversion Error" not in text and "cannot be converted" not in text
    # one error only: the warnings' queries (which convert the times) did not run
    assert len(info.value.problems) == 1


MIXPANEL = {"event": "Signed Up", "properties": {
    "time": 1704103200, "distinct_id": "u1", "$insert_id": "m1", "company_id": "acme"}}
GA4 = {"event_timestamp": 1704103200000000, "event_name": "login", "user_pseudo_id": "p1",
       "user_id": "u1", "event_params": [{"key": "company_id",
                                          "value": {"string_value": "acme"}}],
       "user_properties": []}


@pytest.mark.parametrize(("tool", "file", "rows", "message", "key"), [
    ("mixpanel", "mixpanel_export.jsonl",
     [MIXPANEL, {**MIXPANEL, "properties": {**MIXPANEL["properties"], "time": "yesterday",
                                            "$insert_id": "m2"}}],
     "mixpanel_export: properties.time is not seconds or milliseconds since 1970", "u1"),
    ("ga4", "ga4_events.jsonl", [GA4, {**GA4, "event_timestamp": "1704103200 UTC"}],
     "ga4_events: event_timestamp is not microseconds since 1970", "p1"),
])
def test_an_epoch_time_that_is_no_number_is_counted(tmp_path, tool, file, rows, message,
                                                    key):
    """Mixpanel's and GA4's epoch times given as other text: the unknown time unit error
    (never the engine's failed cast)."""
    source = _source(tmp_path, {file: _jsonl(rows)})
    with pytest.raises(SourceProblems) as info:
        check(source, _settings("events", tool, customer={"property": "company_id"}))
    text = str(info.value)
    assert f"{message} (or is missing) (1 row)" in text, text
    assert key in text and "Conversion Error" not in text


def test_the_cli_exits_as_for_other_contract_errors(tmp_path):
    source = _source(tmp_path, TIME_CASES["segment tracks"][0])
    config = tmp_path / "retention.yml"
    config.write_text(f"as_of: {AS_OF}\ntables:\n  events:\n    connector: segment\n"
                      "    customer: {group: company}\n")
    done = subprocess.run([sys.executable, "-m", "saas_retention.cli", "check", "--source",
                           str(source), "--config", str(config)],
                          capture_output=True, text=True)
    assert done.returncode == SourceError.exit_code, done.stderr
    assert "Traceback" not in done.stderr
    assert "tracks.timestamp: values that are not an ISO 8601 time" in done.stderr


def test_amplitude_drops_insert_id_duplicates_as_amplitude_does(tmp_path):
    """Amplitude ignores a later event with the same insert_id on the same device_id within
    seven days (its HTTP V2 API): a retry five minutes later is dropped and counted; the same
    insert_id eight days later, or on another device, is a new event."""
    retry = {**AMPLITUDE, "uuid": "e2"}  # a new uuid: the retry of the same send
    later = {**AMPLITUDE, "uuid": "e3", "event_time": "2024-01-09 10:00:01.000000"}
    other = {**AMPLITUDE, "uuid": "e4", "device_id": "d2"}
    overlap = dict(later)  # the same uuid twice: overlapping exports
    source = _source(tmp_path, {"amplitude_events.jsonl": _jsonl(
        [AMPLITUDE, retry, later, other, overlap])})
    report = check(source, _settings("events", "amplitude", customer={"group": "company"}))
    assert report.tables["events"] == 3
    assert report.summaries["events"]["duplicates_dropped"] == 2
    [warning] = [w for w in report.warnings if "duplicate events" in str(w)]
    assert warning.count == 2
    assert "same insert_id on the same device_id within 7 days" in warning.message
    # the fixture's retry (line 9) is dropped, the reuse beyond 7 days and on another device
    # are kept (the reference reads the documented rule in Python)
    expected, counts = ref.amplitude()
    assert counts["duplicates"] == 2 and len(expected) == 7


def test_intercom_customer_from_the_conversation_company(tmp_path):
    """API 2.15+ conversations carry their company: customer: {group: company} reads the
    company_id you gave it (conversation 1004 resolves; 1003 has no company)."""
    shutil.copy(ref.FIXTURES / "intercom" / "conversations.jsonl", tmp_path)
    tickets, ratings, unresolved = ref.intercom("Europe/Paris", customer_from="company")
    con = duckdb.connect()
    try:
        relation = open_source(tmp_path).relations()["conversations"]
        con.execute(exp.Create(this=exp.to_table("raw_tool_conversations"), kind="TABLE",
                               expression=exp.select("*").from_(relation.reader))
                    .sql("duckdb"))
        for table in ("support_tickets", "survey_responses"):
            each = _settings(table, "intercom", tz="Europe/Paris",
                             customer={"group": "company"})
            query = connector_for(each, table).query(
                Target("duckdb", each, tool_prefix="raw_tool_"))
            rows = sorted(con.execute(query.sql("duckdb")).fetchall(), key=repr)
            assert rows == (tickets if table == "support_tickets" else ratings)
        assert unresolved == 1 and len(tickets) == 4  # 1004 from its company; 1003 has none
    finally:
        con.close()
    team = _settings("support_tickets", "intercom", customer={"group": "team"})
    with pytest.raises(ConfigError, match="one group, their company"):
        connector_for(team, "support_tickets").query(Target("duckdb", team))


@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
@pytest.mark.parametrize(("table", "connector", "mapping"), [
    ("events", "segment", {"customer": {"group": "company"}}),
    ("events", "amplitude", {"customer": {"group": "company"}}),
    ("support_tickets", "intercom", {"customer": {"property": "company_id"}}),
    ("support_tickets", "zendesk", {"customer": {"property": "organization_id"}}),
    ("survey_responses", "typeform", {"customer": {"property": "account_id"},
                                      "questions": {"nps": "nps"}}),
])
def test_a_zone_mysql_and_sqlite_cannot_convert_to_is_refused(dialect, table, connector,
                                                              mapping):
    """sqlglot drops AT TIME ZONE for MySQL (a warning only) and SQLite fails on it at run
    time: another zone than UTC is a ConfigError naming it; UTC needs no conversion."""
    settings = _settings(table, connector, tz="Europe/Paris", **mapping)
    with pytest.raises(ConfigError, match="timezone: 'Europe/Paris'.*set timezone: UTC"):
        connector_for(settings, table).query(Target(dialect, settings)).sql(dialect)
    utc = _settings(table, connector, **mapping)
    sql = connector_for(utc, table).query(Target(dialect, utc)).sql(dialect)
    assert "AT TIME ZONE" not in sql.upper() and "CONVERT_TZ" not in sql.upper()
