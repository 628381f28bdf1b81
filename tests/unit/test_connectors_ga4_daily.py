"""GA4's BigQuery export as its daily tables (issue 16): ``table: events_*`` reads every
``events_YYYYMMDD`` file of a folder (``bq extract`` writes one JSON Lines file per table, gzipped
or not), unioned by column name, and an ``events_intraday_YYYYMMDD`` file only for a day that
has no daily file (GA4 deletes the intraday table once the day's daily table is complete); in
BigQuery the same wildcard is queried where it lives. The fixture (tests/fixtures/ga4_daily) is
the single-file fixture's rows split by ``event_date``, so the rows expected are the
independent reference's for tests/fixtures/ga4 (tests/helpers/connector_reference.py)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import connector_reference as ref
import duckdb
import pytest
from sqlglot import exp

from saas_retention.builders.duckdb.run import check
from saas_retention.builders.duckdb.sources import open_source, superseded
from saas_retention.connectors import connector_for
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError, SourceError
from saas_retention.relations.target import Target

DAILY = ref.FIXTURES / "ga4_daily"
CUSTOMER = {"property": "company_id"}
SUBSCRIPTIONS = ("subscription_id,customer_id,start_date,end_date,mrr\n"
                 "s1,acme,2024-01-01,,100\ns2,globex,2024-01-15,,50\n")


def _settings(table: str = "events_*", tz: str = "Europe/Paris"):
    return parse_settings({"as_of": "2024-06-30", "timezone": tz, "tables": {"events": {
        "connector": "ga4", "table": table, "customer": CUSTOMER}}})


def _lines(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def _events(folder: Path, settings) -> tuple[list[tuple], str, int]:
    """The contract rows the ga4 connector gives over the folder, the label of what was read,
    and the number of export rows read."""
    relation = open_source(folder).find(settings, "ga4_events")
    con = duckdb.connect()
    try:
        con.execute(exp.Create(this=exp.to_table("raw_tool_ga4_events"), kind="TABLE",
                               expression=exp.select("*").from_(relation.reader))
                    .sql("duckdb"))
        read = con.execute("select count(*) from raw_tool_ga4_events").fetchone()[0]
        query = connector_for(settings, "events").query(
            Target("duckdb", settings, tool_prefix="raw_tool_"))
        names = list(query.named_selects)
        i = [names.index(c) for c in ref.EVENT_COLUMNS]
        rows = sorted(tuple(r[j] for j in i)
                      for r in con.execute(query.sql("duckdb")).fetchall())
    finally:
        con.close()
    return rows, relation.label, read


def test_the_daily_files_are_the_single_file_fixture_split_by_day():
    # the fixture itself, read in plain Python: each file holds one event_date, and together
    # the daily files are the single-file fixture's rows (one day's file without user_id, one
    # with a field the others lack, as GA4 adds fields); the intraday file repeats its day
    single = ref.json_lines(ref.FIXTURES / "ga4" / "ga4_events.jsonl")
    daily, columns = [], set()
    for path in sorted(DAILY.glob("events_2*")):
        rows = _lines(path)
        assert {r["event_date"] for r in rows} == {path.name[len("events_"):][:8]}
        columns.add(frozenset(rows[0]))
        daily += [{"user_id": None, **{k: v for k, v in r.items() if k != "is_active_user"}}
                  for r in rows]
    def key(row: dict) -> str:
        return json.dumps(row, sort_keys=True)

    assert sorted(daily, key=key) == sorted(single, key=key)
    assert len(columns) == 3
    assert _lines(DAILY / "events_intraday_20240331.jsonl") == [
        {k: v for k, v in r.items() if k != "is_active_user"}
        for r in _lines(DAILY / "events_20240331.jsonl.gz")]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_events_star_reads_every_daily_file_and_no_day_twice(tz):
    rows, label, read = _events(DAILY, _settings(tz=tz))
    assert rows == ref.ga4(tz)[0]
    # 7 rows: the intraday copy of March 31 is not read beside its daily table
    assert read == 7
    assert "6 files: events_20240101.jsonl, events_20240201.jsonl.gz" in label
    assert "not read, their day's daily table being there: events_intraday_20240331" in label


def test_an_intraday_file_is_read_for_a_day_without_its_daily_file(tmp_path):
    # the export's newest day before GA4 wrote its daily table: the intraday table holds it
    for item in DAILY.iterdir():
        if item.name not in ("README.md", "events_20240331.jsonl.gz"):
            shutil.copy(item, tmp_path)
    rows, label, read = _events(tmp_path, _settings())
    assert rows == ref.ga4("Europe/Paris")[0] and read == 7
    assert "events_intraday_20240331.jsonl" in label and "not read" not in label
    # the user's pattern decides too: events_2* leaves every intraday table out
    rows, label, read = _events(tmp_path, _settings("events_2*"))
    assert read == 6 and "intraday" not in label


@pytest.mark.parametrize(("stems", "left_out"), [
    (["events_20240330", "events_intraday_20240331"], []),
    (["events_20240331", "events_intraday_20240331"], ["events_intraday_20240331"]),
    # a table extracted to several files (bq extract with a wildcard URI)
    (["events_20240331-000000000000", "events_20240331-000000000001",
      "events_intraday_20240331-000000000000"], ["events_intraday_20240331-000000000000"]),
    (["events_20240331", "events_intraday_20240401", "events_intraday_20240331"],
     ["events_intraday_20240331"]),
])
def test_which_intraday_tables_a_daily_table_replaces(stems, left_out):
    assert superseded(sorted(stems)) == left_out


@pytest.fixture()
def source(tmp_path):
    for item in DAILY.iterdir():
        if item.name != "README.md":
            shutil.copy(item, tmp_path)
    (tmp_path / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    return tmp_path


def test_check_reads_the_daily_files(source):
    report = check(source, _settings())
    assert report.connectors["ga4"] == {"ga4_events": 7}
    # what check prints: the files read, and the intraday one left out
    note = report.connector_notes["ga4"]
    assert note.startswith("ga4_events: events_* (6 files: events_20240101.jsonl, ")
    assert note.endswith("not read, their day's daily table being there: "
                         "events_intraday_20240331.jsonl")
    assert report.tables["events"] == len(ref.ga4("Europe/Paris")[0])


def test_a_pattern_nothing_matches_lists_the_files_found(source):
    with pytest.raises(SourceError) as info:
        check(source, _settings("events_2023*"))
    text = str(info.value)
    assert "no file or table matches 'events_2023*'" in text
    assert ("files found: events_20240101.jsonl, events_20240201.jsonl.gz, "
            "events_20240202.ndjson") in text
    assert "events_intraday_20240331.jsonl, subscriptions.csv" in text
    assert "ga4's ga4_events table" in text


def test_a_malformed_line_names_its_daily_file_and_line(source):
    path = source / "events_20240201.jsonl.gz"
    text = gzip.decompress(path.read_bytes()).decode() + '{"event_name": "login",\n'
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(SourceError) as info:
        check(source, _settings())
    message = str(info.value)
    assert f"{path}: 1 of 2 lines is not a JSON object" in message
    assert 'line 2: {"event_name": "login",' in message
    assert "events_20240101" not in message  # the good days are not blamed


def test_mixing_text_and_parquet_days_is_refused(source):
    con = duckdb.connect()
    con.execute(f"copy (select * from read_json('{source / 'events_20240302.jsonl'}')) "
                f"to '{source / 'events_20240401.parquet'}' (format parquet)")
    con.close()
    with pytest.raises(SourceError, match="matches both CSV/JSON files and Parquet"):
        open_source(source).find(_settings(), "ga4_events")


def test_bigquery_queries_the_wildcard_table_without_double_counting_a_day():
    # no BigQuery here: the SQL is compiled, checked for its forms and re-parsed
    import sqlglot

    settings = _settings("analytics_123.events_*")
    sql = connector_for(settings, "events").query(Target("bigquery", settings)).sql("bigquery")
    assert "FROM `analytics_123`.`events_*`" in sql
    # an intraday table only for a day without its daily table, as with files
    assert ("WHERE NOT STARTS_WITH(_TABLE_SUFFIX, 'intraday_') OR NOT SUBSTRING("
            "_TABLE_SUFFIX, 10) IN (SELECT _TABLE_SUFFIX FROM `analytics_123`.`events_*`)"
            ) in sql
    tree = sqlglot.parse_one(sql, read="bigquery")
    assert {t.name for t in tree.find_all(exp.Table)} >= {"events_*"}
    # one daily table by name: no wildcard, no filter
    settings = _settings("analytics_123.events_20240101")
    sql = connector_for(settings, "events").query(Target("bigquery", settings)).sql("bigquery")
    assert "`analytics_123`.`events_20240101`" in sql and "_TABLE_SUFFIX" not in sql
    # elsewhere a wildcard names no table: refused by name
    settings = _settings("tools.events_*")
    with pytest.raises(ConfigError, match="'events_\\*' is a BigQuery wildcard table; on "
                                          "snowflake"):
        connector_for(settings, "events").query(Target("snowflake", settings))


def test_a_warehouse_wildcard_has_the_columns_of_its_newest_table(tmp_path):
    # what check and build introspect before reading a BigQuery wildcard table (BigQuery
    # gives it the schema of the newest table it matches); SQLite stands in for the catalog
    import sqlite3

    from saas_retention.builders.warehouse.run import WarehouseBuild

    path = tmp_path / "export.db"
    with sqlite3.connect(path) as db:
        db.execute("create table events_20240101 (event_timestamp, event_name)")
        db.execute("create table events_20240102 (event_timestamp, event_name, "
                   "is_active_user)")
        db.execute("create table users (id)")
    build = WarehouseBuild(f"sqlite:///{path}", _settings(), schema=None, target_schema=None)
    try:
        assert build._columns("events_*") == ["event_timestamp", "event_name",
                                              "is_active_user"]
        assert build._columns("events_2023*") is None
        assert build._columns("events_20240101") == ["event_timestamp", "event_name"]
    finally:
        build.engine.dispose()
