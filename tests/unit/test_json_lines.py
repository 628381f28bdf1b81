"""JSON Lines as a source file format (issue 16): .jsonl/.ndjson/.json, gzipped too, read as
text columns like CSV; a malformed line is an error naming the file, the line and its text."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from saas_retention.builders.duckdb.run import check
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import SourceError

SUBS = [
    {"subscription_id": "s1", "customer_id": "c1", "start_date": "2024-01-01", "mrr": 10},
    {"subscription_id": "s2", "customer_id": "c2", "start_date": "2024-02-01",
     "end_date": "2024-04-01", "mrr": 25.5},
]
EVENTS = [
    {"customer_id": "c1", "event_time": "2024-03-01T10:00:00Z", "event_name": "login",
     "context": {"page": "/home"}},
    {"customer_id": "c2", "event_time": "2024-03-02 09:30:00", "event_name": "report"},
]
SETTINGS = parse_settings({"as_of": "2024-06-30"})


def _write(path, rows, *, gz=False, array=False):
    text = json.dumps(rows) if array else "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("names", [
    ("subscriptions.jsonl", "events.ndjson.gz"),
    ("subscriptions.json", "events.jsonl.gz"),
    ("subscriptions.json.gz", "events.json"),
])
def test_json_lines_source_is_read_like_csv(tmp_path, names):
    subs, events = names
    _write(tmp_path / subs, SUBS, gz=subs.endswith(".gz"), array=subs == "subscriptions.json")
    _write(tmp_path / events, EVENTS, gz=events.endswith(".gz"))
    report = check(tmp_path, SETTINGS)
    assert report.tables == {"subscriptions": 2, "events": 2}
    assert report.used["subscriptions"] == 2
    assert not report.warnings


def test_nested_fields_are_their_json_text(tmp_path):
    import duckdb
    from sqlglot import exp

    from saas_retention.builders.duckdb.sources import open_source

    _write(tmp_path / "events.jsonl", EVENTS)
    relation = open_source(tmp_path).relations()["events"]
    con = duckdb.connect()
    rows = con.execute(exp.select("event_time", "context").from_(relation.reader)
                       .sql("duckdb")).fetchall()
    # ISO text stays text (staging types it, offsets included); objects stay JSON
    assert rows == [("2024-03-01T10:00:00Z", '{"page":"/home"}'),
                    ("2024-03-02 09:30:00", None)]


def test_malformed_lines_named_by_file_line_and_text(tmp_path):
    _write(tmp_path / "subscriptions.jsonl", SUBS)
    lines = [json.dumps(EVENTS[0]), '{"customer_id": "c2", "event_time": "2024-03-02"',
             "", json.dumps(EVENTS[1]), "[1, 2]"]
    with gzip.open(tmp_path / "events.jsonl.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(SourceError) as err:
        check(tmp_path, SETTINGS)
    text = str(err.value)
    assert f"{tmp_path / 'events.jsonl.gz'}: 2 of 4 lines are not a JSON object" in text
    assert 'line 2: {"customer_id": "c2", "event_time": "2024-03-02"' in text
    assert "line 5: [1, 2]  (not a JSON object)" in text
    # the CLI: the same message, exit code 3, no traceback
    run = subprocess.run([sys.executable, "-c", "from saas_retention.cli import main; main()",
                          "check", "--source", str(tmp_path), "--as-of", "2024-06-30"],
                         capture_output=True, text=True)
    assert run.returncode == 3
    assert "line 2:" in run.stderr + run.stdout
    assert "Traceback" not in run.stderr
