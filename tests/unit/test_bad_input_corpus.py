"""The rest of the bad-input corpus of issue #8: timestamps with and without a time zone mixed
in one column, and the event-table defects that are warnings (rows after as_of, customers
unknown to the customers table) — each checked for what happens to every row, not only for
"no error"."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from saas_retention.builders.duckdb.run import build
from saas_retention.builders.duckdb.sources import open_source
from saas_retention.builders.duckdb.stage import Stager
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import SourceProblems

AS_OF = dt.date(2024, 6, 30)
SUBSCRIPTIONS = ["subscription_id,customer_id,start_date,end_date,mrr",
                 "s1,c1,2024-01-01,,100", "s2,c2,2024-02-15,2024-04-01,50"]


def write(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def staged(source: Path, table: str, columns: str, **settings):
    con = duckdb.connect()
    try:
        report = Stager(con, open_source(source), parse_settings({"as_of": AS_OF, **settings})
                        ).run()
        rows = con.execute(f"select {columns} from stg_{table}").fetchall()
    finally:
        con.close()
    return report, rows


# One column, naive and offset values mixed. The rule (docs/definitions.md#timestamps): a naive
# value is reporting-time-zone local time, kept as written; a value with an offset (or Z) is that
# instant, converted to the reporting time zone. Each row is checked against zoneinfo.
MIXED = {
    "naive": "2024-03-10 23:30:00",
    "naive_no_seconds": "2024-03-10 23:30",
    "utc_offset": "2024-03-10 23:30:00+00:00",
    "zulu_t": "2024-03-10T22:30:00Z",
    "minus_five": "2024-03-10 23:30:00-05",
    "compact_offset_fraction": "2024-03-10 23:30:00.5+0100",
    "dst_switch_utc": "2024-03-31 01:30:00+00:00",  # Paris jumps from 02:00 to 03:00 then
    "naive_gap": "2024-03-31 02:30:00",  # a local time that doesn't exist in Paris
    # spellings DuckDB's own cast refuses, read like the others all the same
    "space_before_offset": "2024-03-10 23:30:00 +0200",  # git's date format
    "space_before_z": "2024-03-10 22:30:00 Z",
    "lower_z": "2024-03-10T22:30:00z",
    # a zone name is a zone: never dropped to read the value as local time
    "named_utc": "2024-03-10 22:30:00 UTC",
    "named_zone": "2024-03-10 18:30:00 America/New_York",
    "named_zone_ending_in_z": "2024-03-10 18:30:00 America/La_Paz",
}
_ZONED = re.compile(r"(.*?[0-9])(?: ?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?|[A-Za-z][A-Za-z0-9_/+-]*))?")


def expected_local(text: str, zone: str) -> dt.datetime | None:
    """The independent reading of a timestamp string in reporting time zone ``zone``:
    Python's parser and zoneinfo; None when it is not a timestamp."""
    match = _ZONED.fullmatch(text.strip())
    if match is None:  # no digit at all, e.g. "yesterday"
        return None
    value, suffix = match.groups()
    try:
        naive = dt.datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        return None
    if suffix is None:
        return naive
    if suffix in ("Z", "z"):
        tz: dt.tzinfo = dt.timezone.utc
    elif suffix[0] in "+-":
        digits = suffix[1:].replace(":", "")
        delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = dt.timezone(delta if suffix[0] == "+" else -delta)
    else:
        try:
            tz = ZoneInfo(suffix)
        except (KeyError, ValueError):
            return None
    return naive.replace(tzinfo=tz).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "UTC"])
def test_mixed_naive_and_offset_timestamps_in_one_column(tmp_path, zone):
    write(tmp_path, "subscriptions.csv", SUBSCRIPTIONS)
    write(tmp_path, "events.csv", ["customer_id,event_time,event_name",
                                   *(f"c1,{text},{name}" for name, text in MIXED.items())])
    report, rows = staged(tmp_path, "events", "event_name, event_time, activity_date, hour_of_day",
                          timezone=zone)
    assert report.warnings == []
    got = {name: (when, day, hour) for name, when, day, hour in rows}
    assert set(got) == set(MIXED)  # no row lost
    for name, text in MIXED.items():
        local = expected_local(text, zone)
        assert got[name] == (local, local.date(), local.hour), (name, text, zone)


def test_an_unknown_zone_name_is_not_a_timestamp(tmp_path):
    write(tmp_path, "subscriptions.csv", SUBSCRIPTIONS)
    write(tmp_path, "events.csv", ["customer_id,event_time,event_name",
                                   "c1,2024-03-10 10:00:00 Mars/Olympus,login",
                                   "c1,2024-03-10 10:00:00 UTC,login"])
    with pytest.raises(SourceProblems) as info:
        staged(tmp_path, "events", "*")
    (problem,) = info.value.problems
    assert str(problem).startswith("error: events.event_time: values that are not a timestamp "
                                   "(1 row)")
    assert "Mars/Olympus" in str(problem)


def test_mixed_time_zones_in_a_date_column_give_the_local_day(tmp_path):
    """A start date given as an instant late on the 31st in UTC is already the next day in
    Paris (and the subscription counts from that day); a naive one stays on its day."""
    write(tmp_path, "subscriptions.csv", [
        "subscription_id,customer_id,start_date,end_date,mrr",
        "s1,c1,2024-01-31 23:30:00+00:00,,100",
        "s2,c2,2024-01-31 23:30:00,,50",
        "s3,c3,2024-01-31,2024-03-31T22:30:00Z,10",
    ])
    _report, rows = staged(tmp_path, "subscriptions",
                           "subscription_id, start_date, end_date, first_period_index",
                           timezone="Europe/Paris")
    got = {r[0]: r[1:3] for r in rows}
    assert got == {"s1": (dt.date(2024, 2, 1), None), "s2": (dt.date(2024, 1, 31), None),
                   "s3": (dt.date(2024, 1, 31), dt.date(2024, 4, 1))}
    periods = {r[0]: r[3] for r in rows}
    assert periods["s1"] == periods["s2"] + 1  # February's, not January's


def test_event_rows_after_as_of_are_a_warning_and_left_out_of_every_model(tmp_path):
    write(tmp_path, "subscriptions.csv", SUBSCRIPTIONS)
    write(tmp_path, "events.csv", ["customer_id,event_time,event_name",
                                   "c1,2024-06-30 23:59:00,login", "c1,2024-07-01 00:00:00,login",
                                   "c2,2025-01-01 10:00:00,export"])
    report, rows = staged(tmp_path, "events", "customer_id, event_time")
    (warning,) = [str(w) for w in report.warnings]
    assert warning.startswith("warning: events.event_time: rows dated after as_of (2024-06-30); "
                              "left out of every model (2 rows)")
    assert "customer_id='c2'" in warning and "event_time='2025-01-01 10:00:00'" in warning
    assert rows == [("c1", dt.datetime(2024, 6, 30, 23, 59))]
    assert report.tables["events"] == 3  # read, and reported: nothing disappears silently


def test_events_of_unknown_customers_are_a_warning_and_kept(tmp_path):
    write(tmp_path, "subscriptions.csv", SUBSCRIPTIONS)
    write(tmp_path, "customers.csv", ["customer_id,plan", "c1,pro", "c2,starter"])
    write(tmp_path, "events.csv", ["customer_id,event_time,event_name",
                                   "c1,2024-03-01 10:00:00,login",
                                   "ghost,2024-03-02 10:00:00,login",
                                   "ghost,2024-03-03 10:00:00,export"])
    report, rows = staged(tmp_path, "events", "customer_id")
    (warning,) = [str(w) for w in report.warnings]
    assert warning.startswith("warning: events.customer_id: rows of customers unknown to the "
                              "customers/subscriptions tables; kept, counted under their own id "
                              "(2 rows)")
    assert "customer_id='ghost'" in warning
    assert sorted(r[0] for r in rows) == ["c1", "ghost", "ghost"]


def test_cli_reports_warnings_keeps_the_rows_and_exits_zero(tmp_path):
    src = tmp_path / "src"
    write(src, "subscriptions.csv", [*SUBSCRIPTIONS, "s3,c3,2025-01-01,,10"])
    write(src, "events.csv", ["customer_id,event_time,event_name",
                              "c1,2024-03-01 10:00:00+02:00,login",
                              "c1,2024-03-01 10:00:00,login", "c1,2024-09-01 10:00:00,login"])
    db = tmp_path / "m.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", "build", "--source", str(src),
         "--as-of", AS_OF.isoformat(), "--database", str(db), "--quiet"],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "warning: subscriptions.start_date: subscriptions starting after as_of" in done.stdout
    assert "warning: events.event_time: rows dated after as_of" in done.stdout
    assert "rows read: 6 (subscriptions 3, events 3)" in done.stdout
    con = duckdb.connect(str(db), read_only=True)
    try:
        # both March events kept (08:00 and 10:00 UTC local): one active day, two events
        (row,) = con.execute("select count(*), sum(events) from customer_daily_activity"
                             ).fetchall()
        assert row == (1, 2)
    finally:
        con.close()


def test_build_result_keeps_every_valid_subscription(tmp_path):
    write(tmp_path, "subscriptions.csv", [*SUBSCRIPTIONS, "s3,c3,2025-01-01,,10"])
    result = build(tmp_path, parse_settings({"as_of": AS_OF}), out_dir=tmp_path / "out")
    assert result.staging.tables["subscriptions"] == 3
    # the future one is kept in staging but not active yet: used = the two that are
    assert result.staging.used["subscriptions"] == 2
