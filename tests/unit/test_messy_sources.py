"""Property test of issue #8: generated messy sources fed to ``check`` and ``build``.

Each example is a clean random history (the one the invariant tests use) with defects mixed
in — NULL ids, unparseable dates, negative or non-numeric MRR, duplicate ids, end before
start, billing interval counts that are not positive whole numbers, zero-length and future
subscriptions, customers missing from ``customers``, events with
naive and offset timestamps mixed, events after as_of or of unknown customers, survey scores
off the scale — written as CSV or Parquet. This file's own plain-Python reading of the rows
says what must happen:

- any error-kind defect: ``SourceProblems`` listing exactly the expected (table, column,
  row count) problems, each with examples (the CLI: exit code 3, no traceback, the same
  ``table.column`` lines);
- otherwise: exactly the expected warnings with their counts, and a build whose models equal
  the independent reference of every valid subscription (nothing dropped), satisfy the
  invariants (start MRR + movements = end MRR, 0 ≤ GRR ≤ 100 ≤ …), and whose events add up to
  the events read minus those reported as after as_of;
- or, when no subscription counts before as_of, the documented SourceError saying so.

Anything else — another exception, a missing or extra problem, a wrong count — fails.
"""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import MODELS, Sub, assert_matches, compute, load_tables
from test_bad_input_corpus import expected_local
from test_properties import check_invariants, histories

from saas_retention.builders.duckdb.run import build, check
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import SaasRetentionError, SourceError, SourceProblems

SUB_HEADER = ["subscription_id", "customer_id", "start_date", "end_date", "mrr", "is_trial",
              "billing_interval_count"]
NOT_NUMBERS = ("ten", "12,50", "$5", "n/a")
NOT_COUNTS = ("0", "-1", "1.5", "0.5", "-2.5")  # billing interval counts
NOT_DATES = ("01/02/2024", "2024-02-30", "March 3 2024", "2024-13-01", "yesterday")
OFFSETS = ("", "", "Z", "z", "+00:00", "+02:00", "-05:00", " +0530", " UTC", " Asia/Tokyo")

# defect -> severity; error defects each add one row (or one duplicate row) that is otherwise
# clean, so the expected problems follow from the rows alone
SUB_ERRORS = ("null_subscription_id", "null_customer_id", "null_start", "bad_start", "bad_end",
              "end_before_start", "negative_mrr", "text_mrr", "null_mrr", "duplicate_id",
              "bad_interval_count")
SUB_WARNINGS = ("zero_length", "future_start", "unknown_customer")
EVENT_ERRORS = ("event_null_customer", "event_bad_time")
EVENT_WARNINGS = ("event_future", "event_unknown_customer")
SURVEY_ERRORS = ("score_off_scale",)


@dataclass
class Messy:
    subs: list[Sub]  # the valid subscription rows (base + warning defects)
    sub_rows: list[dict]  # every subscription row written, as text (None = empty)
    customers: dict[str, dict]
    events: list[dict]
    surveys: list[dict]
    as_of: dt.date
    grain: str
    week_start: str
    timezone: str
    fmt: str
    defects: list[str] = field(default_factory=list)

    def settings(self) -> dict:
        return {"as_of": self.as_of, "grain": self.grain, "week_start": self.week_start,
                "timezone": self.timezone}


def _event_time(draw, day: dt.date, offset: str) -> str:
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    sep = draw(st.sampled_from((" ", "T")))
    return f"{day.isoformat()}{sep}{hour:02d}:{minute:02d}:00{offset}"


ALL_DEFECTS = SUB_ERRORS + SUB_WARNINGS + EVENT_ERRORS + EVENT_WARNINGS + SURVEY_ERRORS


@st.composite
def messy_sources(draw, required: tuple[str, ...] = ()):
    subs, customers, as_of, grain, week_start = draw(histories())
    subs = list(subs)
    defects = draw(st.lists(st.sampled_from(ALL_DEFECTS), max_size=4))
    # about half the examples carry no error defect, so builds are exercised as much as errors
    if draw(st.booleans()):
        defects = [d for d in defects if d in SUB_WARNINGS + EVENT_WARNINGS]
    defects += required
    rows = [_sub_row(s) for s in subs]
    n = len(rows)

    def fresh(**changes) -> dict:
        nonlocal n
        n += 1
        row = {"subscription_id": f"x{n}", "customer_id": "c0", "start_date": "2023-01-01",
               "end_date": "", "mrr": "10", "is_trial": "false",
               "billing_interval_count": ""}
        row.update(changes)
        return row

    for d in defects:
        if d == "null_subscription_id":
            rows.append(fresh(subscription_id=""))
        elif d == "null_customer_id":
            rows.append(fresh(customer_id=""))
        elif d == "null_start":
            rows.append(fresh(start_date=""))
        elif d == "bad_start":
            rows.append(fresh(start_date=draw(st.sampled_from(NOT_DATES))))
        elif d == "bad_end":
            rows.append(fresh(end_date=draw(st.sampled_from(NOT_DATES))))
        elif d == "end_before_start":
            rows.append(fresh(start_date="2023-05-01", end_date="2023-03-01"))
        elif d == "negative_mrr":
            rows.append(fresh(mrr=f"-{draw(st.integers(1, 500))}"))
        elif d == "text_mrr":
            rows.append(fresh(mrr=draw(st.sampled_from(NOT_NUMBERS))))
        elif d == "null_mrr":
            rows.append(fresh(mrr=""))
        elif d == "bad_interval_count":
            rows.append(fresh(billing_interval_count=draw(st.sampled_from(NOT_COUNTS))))
        elif d == "duplicate_id":
            rows.append(fresh(subscription_id=draw(st.sampled_from(
                [r["subscription_id"] for r in rows if r["subscription_id"]]))))
        elif d in SUB_WARNINGS:
            start = {"zero_length": draw(st.dates(dt.date(2022, 1, 1), as_of)),
                     "future_start": as_of + dt.timedelta(days=draw(st.integers(1, 400))),
                     "unknown_customer": draw(st.dates(dt.date(2022, 1, 1), as_of))}[d]
            end = start if d == "zero_length" else None
            cid = f"ghost{n}" if d == "unknown_customer" else "c0"
            sub = Sub(f"x{n + 1}", cid, start, end, float(draw(st.sampled_from((10, 25)))),
                      False)
            # whole positive billing interval counts are fine (or none at all)
            rows.append(fresh(**(_sub_row(sub) | {"billing_interval_count": draw(
                st.sampled_from(("", "1", "3", "12.0")))})))
            subs.append(sub)
    # a customers table is always written (maybe header only, as the invariant tests do):
    # customers missing from it are the "unknown customer" warnings
    known = set(customers)

    events: list[dict] = []
    if draw(st.booleans()) or any(d.startswith("event") for d in defects):
        ids = sorted({s.customer_id for s in subs})
        for _ in range(draw(st.integers(1, 8))):
            day = draw(st.dates(dt.date(2022, 1, 1), as_of))
            events.append({"customer_id": draw(st.sampled_from(ids)),
                           "event_time": _event_time(draw, day, draw(st.sampled_from(OFFSETS))),
                           "event_name": draw(st.sampled_from(("login", "export")))})
        for d in defects:
            if d == "event_null_customer":
                events.append({"customer_id": "", "event_time": "2023-02-01 10:00:00",
                               "event_name": "login"})
            elif d == "event_bad_time":
                events.append({"customer_id": ids[0],
                               "event_time": draw(st.sampled_from(NOT_DATES)),
                               "event_name": "login"})
            elif d == "event_future":
                day = as_of + dt.timedelta(days=draw(st.integers(2, 60)))
                events.append({"customer_id": ids[0], "event_time": _event_time(draw, day, ""),
                               "event_name": "login"})
            elif d == "event_unknown_customer":
                events.append({"customer_id": "stranger", "event_time": "2022-01-05 10:00:00",
                               "event_name": "login"})
    surveys: list[dict] = []
    if "score_off_scale" in defects:
        who = sorted(known or {s.customer_id for s in subs})[0]
        surveys = [{"customer_id": who, "responded_at": "2022-01-03 09:00:00", "survey": "nps",
                    "score": "9"},
                   {"customer_id": who, "responded_at": "2022-01-04 09:00:00",
                    "survey": draw(st.sampled_from(("nps", "csat", "NPS"))),
                    "score": draw(st.sampled_from(("11", "-1", "0", "6")))}]
        if surveys[1]["survey"] != "csat" and surveys[1]["score"] in ("0", "6"):
            surveys[1]["score"] = "12"  # in scale for NPS: make it a defect
    return Messy(subs, rows, customers, events, surveys, as_of, grain, week_start,
                 draw(st.sampled_from(("UTC", "Europe/Paris", "America/New_York"))),
                 draw(st.sampled_from(("csv", "parquet", "parquet-typed"))), defects)


def _sub_row(s: Sub) -> dict:
    amount = int(s.mrr) if float(s.mrr).is_integer() else s.mrr
    return {"subscription_id": s.subscription_id, "customer_id": s.customer_id,
            "start_date": s.start_date.isoformat(),
            "end_date": s.end_date.isoformat() if s.end_date else "",
            "mrr": str(amount), "is_trial": "true" if s.is_trial else "false",
            "billing_interval_count": ""}


# --- writing -------------------------------------------------------------------------------------


def _write(folder: Path, name: str, rows: list[dict], header: list[str], fmt: str) -> None:
    if fmt == "csv":
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows([[r[h] for h in header] for r in rows])
    else:
        # "parquet": text columns, empty = NULL, as an export of messy data would be;
        # "parquet-typed": each column whose values all convert gets its real type
        table = pa.table({h: _arrow_column([r[h] or None for r in rows],
                                           fmt == "parquet-typed" and not h.endswith("_id"))
                          for h in header})
        pq.write_table(table, folder / f"{name}.parquet")


def _arrow_column(values: list[str | None], typed: bool) -> pa.Array:
    present = [v for v in values if v is not None]
    if typed and present:
        if all(v in ("true", "false") for v in present):
            return pa.array([None if v is None else v == "true" for v in values], pa.bool_())
        if all(_date(v) for v in present):
            return pa.array([None if v is None else _date(v) for v in values], pa.date32())
        if all(_number(v) is not None for v in present):
            return pa.array([None if v is None else _number(v) for v in values], pa.float64())
    return pa.array(values, pa.string())


def write_messy(folder: Path, m: Messy) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, "subscriptions", m.sub_rows, SUB_HEADER, m.fmt)
    _write(folder, "customers", [{"customer_id": c, "plan": v.get("plan") or ""}
                                 for c, v in m.customers.items()], ["customer_id", "plan"], m.fmt)
    if m.events:
        _write(folder, "events", m.events, ["customer_id", "event_time", "event_name"], m.fmt)
    if m.surveys:
        _write(folder, "survey_responses", m.surveys,
               ["customer_id", "responded_at", "survey", "score"], m.fmt)
    return folder


# --- what must happen, read from the rows in plain Python -----------------------------------------


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _local_day(text: str, zone: str) -> dt.date | None:
    local = expected_local(text, zone)
    return local.date() if local else None


def expected(m: Messy) -> tuple[Counter, Counter]:
    """(errors, warnings): Counter of (table, column, message fragment) -> rows."""
    errors: Counter = Counter()
    warnings: Counter = Counter()
    rows = m.sub_rows
    for r in rows:
        for column in ("subscription_id", "customer_id", "start_date", "mrr"):
            if not r[column]:
                errors[("subscriptions", column, "missing (NULL) values")] += 1
        for column in ("start_date", "end_date"):
            if r[column] and _date(r[column]) is None:
                errors[("subscriptions", column, "values that are not a date")] += 1
        if r["mrr"] and _number(r["mrr"]) is None:
            errors[("subscriptions", "mrr", "values that are not a number")] += 1
        start, end, mrr = _date(r["start_date"]), _date(r["end_date"]), _number(r["mrr"] or "x")
        if start and end and end < start:
            errors[("subscriptions", "end_date", "end_date before start_date")] += 1
        if start and end and end == start:
            warnings[("subscriptions", "end_date", "zero-length subscriptions")] += 1
        if mrr is not None and mrr < 0:
            errors[("subscriptions", "mrr", "negative MRR")] += 1
        count = _number(r["billing_interval_count"] or "x")
        # a term lasts at most 100,000 billing intervals (the contract's documented limit)
        if count is not None and (count <= 0 or count > 100_000 or not count.is_integer()):
            errors[("subscriptions", "billing_interval_count",
                    "values that are not a positive whole number up to 100,000")] += 1
        if start and start > m.as_of:
            warnings[("subscriptions", "start_date", "subscriptions starting after as_of")] += 1
        if r["customer_id"] and r["customer_id"] not in m.customers:
            warnings[("subscriptions", "customer_id",
                      "customers missing from the customers table")] += 1
    ids = Counter(r["subscription_id"] for r in rows if r["subscription_id"])
    repeated = sum(n for n in ids.values() if n > 1)
    if repeated:
        errors[("subscriptions", "subscription_id", "duplicate values")] = repeated
    known = set(m.customers)
    for table, who, column, dated in (("events", "customer_id", "event_time", m.events),
                                      ("survey_responses", "customer_id", "responded_at",
                                       m.surveys)):
        for r in dated:
            if not r[who]:
                errors[(table, who, "missing (NULL) values")] += 1
            day = _local_day(r[column], m.timezone)
            if day is None:
                errors[(table, column, "values that are not a timestamp")] += 1
            elif day > m.as_of:
                warnings[(table, column, "rows dated after as_of")] += 1
            if r[who] and r[who] not in known:
                warnings[(table, who, "rows of customers unknown")] += 1
    for r in m.surveys:
        kind, score = r["survey"].lower(), float(r["score"])
        if (kind == "nps" and not 0 <= score <= 10) or (kind == "csat" and not 1 <= score <= 5):
            errors[("survey_responses", "score", "scores outside the survey's scale")] += 1
    return errors, warnings


def _found(problems) -> Counter:
    return Counter({(p.table, p.column, p.message): p.count for p in problems})


def assert_same_problems(problems, want: Counter, severity: str) -> None:
    """Each expected (table, column, fragment) matches one reported problem with that count,
    and nothing else is reported."""
    got = _found(problems)
    unmatched = dict(got)
    for (table, column, fragment), count in want.items():
        hits = [k for k in unmatched if k[0] == table and k[1] == column and fragment in k[2]]
        assert len(hits) == 1, (f"expected one {severity} {table}.{column}: {fragment}", got)
        assert unmatched.pop(hits[0]) == count, (f"{table}.{column}: {fragment}", count, got)
    assert not unmatched, f"unexpected {severity}s: {unmatched}"
    for p in problems:
        assert p.severity == severity
        assert p.examples, str(p)  # every problem shows a few of its rows


def run_checks(m: Messy, folder: Path) -> str:
    """Check and build ``m`` through the Python API; returns what happened."""
    src = write_messy(folder / "src", m)
    errors, warnings = expected(m)
    if errors:
        with pytest.raises(SourceProblems) as info:
            check(src, parse_settings(m.settings()))
        assert_same_problems(info.value.problems, errors, "error")
        db = folder / "m.duckdb"
        with pytest.raises(SourceProblems):
            build(src, parse_settings(m.settings()), database=db)
        assert not db.exists()
        return "error"
    report = check(src, parse_settings(m.settings()))
    assert_same_problems(report.warnings, warnings, "warning")
    ref = compute(m.subs, m.as_of, m.grain, m.week_start, m.customers, ("plan",))
    db = folder / "m.duckdb"
    if not ref.any_active:
        with pytest.raises(SourceError) as info:
            build(src, parse_settings(m.settings()), database=db)
        assert "no subscription is active on or before as_of" in str(info.value)
        return "nothing active"
    result = build(src, parse_settings(m.settings()), database=db)
    assert result.staging.tables["subscriptions"] == len(m.sub_rows)
    assert all(model in result.models for model in MODELS)
    actual = load_tables(db)
    assert_matches(actual, ref)  # every valid subscription counted, none invented
    check_invariants(actual, m.as_of, m.grain)
    if m.events:
        after = warnings[("events", "event_time", "rows dated after as_of")]
        con = duckdb.connect(str(db), read_only=True)
        try:
            (total,) = con.execute("select coalesce(sum(events), 0) from "
                                   "customer_daily_activity").fetchone()
        finally:
            con.close()
        assert total == len(m.events) - after  # kept = read - reported as after as_of
    return "built"


SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated_sources(draw):
    """One of the seeded mutations below, drawn by hypothesis: a value or file mutation of a
    contract table, or one of the sources the DuckDB reading of files does not cover (a
    converted amount, a Stripe amount, an incremental append, a SQLite warehouse)."""
    kind = draw(st.sampled_from(("table", *SOURCE_MUTATIONS)))
    if kind != "table":
        return (kind, draw(st.sampled_from(SOURCE_MUTATIONS[kind])))
    table = draw(st.sampled_from(sorted(TABLES)))
    fmt = draw(st.sampled_from(("csv", "parquet")))
    seed = draw(st.integers(0, 2 ** 16))
    return ("table", table, fmt, draw_mutations(table, fmt, 1, seed)[0])


@SETTINGS
@given(st.one_of(messy_sources(), mutated_sources()))
def test_messy_sources_fail_clearly_or_build_reconciling_numbers(m):
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(m, Messy):
            run_checks(m, Path(tmp))
        else:
            run_any_mutation(Path(tmp), m)


@settings(SETTINGS, max_examples=2)
@given(messy_sources())
def test_messy_sources_through_the_cli(m):
    """The same through the command line: exit 0 with the warnings printed, or exit 3 with
    every problem's ``table.column`` on stderr — never a traceback."""
    errors, warnings = expected(m)
    with tempfile.TemporaryDirectory() as tmp:
        src = write_messy(Path(tmp) / "src", m)
        config = Path(tmp) / "retention.yml"
        config.write_text(f"timezone: {m.timezone}\ngrain: {m.grain}\n"
                          f"week_start: {m.week_start}\n", encoding="utf-8")
        common = ["--source", str(src), "--config", str(config), "--as-of", m.as_of.isoformat()]
        for command in (["check"], ["build", "--database", str(Path(tmp) / "m.duckdb"),
                                    "--quiet"]):
            done = subprocess.run([sys.executable, "-m", "saas_retention.cli", *command,
                                   *common], capture_output=True, text=True)
            assert "Traceback" not in done.stderr + done.stdout
            if errors:
                assert done.returncode == SourceError.exit_code, done.stderr
                for table, column, fragment in errors:
                    assert f"{table}.{column}: {fragment}" in done.stderr, done.stderr
            elif done.returncode != 0:
                assert command[0] == "build" and done.returncode == SourceError.exit_code
                assert "no subscription is active on or before as_of" in done.stderr
            else:
                for table, column, fragment in warnings:
                    assert f"warning: {table}.{column}: {fragment}" in done.stdout, done.stdout


@pytest.mark.parametrize("defect", ALL_DEFECTS)
def test_each_defect_kind(defect):
    """Every kind of defect at least once per run, whatever the random draws above."""

    @settings(SETTINGS, max_examples=1)
    @given(messy_sources(required=(defect,)))
    def one(m):
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_checks(m, Path(tmp))
        assert outcome == "error" or defect not in SUB_ERRORS + EVENT_ERRORS + SURVEY_ERRORS

    one()


def test_documented_errors_are_package_errors():
    assert issubclass(SourceProblems, SourceError)
    assert issubclass(SourceError, SaasRetentionError) and SourceError.exit_code == 3


# --- seeded mutations of every contract table (issue #20) -----------------------------------
#
# A tiny valid source holding every contract table, then one mutation at a time of one table
# written as CSV or Parquet: the file's bytes (truncated, BOM, CRLF, another delimiter, invalid
# UTF-8, empty) or one value (NaN/inf/blank/text/huge amounts, impossible and extreme dates,
# quotes and newlines inside ids, very long ids…). Each built in-process must end in exit 0
# with finite numbers that reconcile, or in a package error (exit 2/3) naming the table with
# nothing written — never another exception. The mutations are drawn from a seed (the case's
# name), so a failure replays exactly; MUTATIONS_PER_CASE keeps the cost within CI's budget
# (SAAS_RETENTION_MUTATIONS raises it for a longer local run).

import os  # noqa: E402
import random  # noqa: E402

from saas_retention.core.contract import TABLES  # noqa: E402

MUTATION_AS_OF = dt.date(2024, 6, 30)
# per case: CSV has more ways to go wrong (its bytes) than Parquet
MUTATIONS_PER_CASE = {"csv": int(os.environ.get("SAAS_RETENTION_MUTATIONS", "2")),
                      "parquet": int(os.environ.get("SAAS_RETENTION_MUTATIONS", "1"))}
BASE_ROWS = 3
# values of the columns whose meaning the rules check (the rest follow their kind)
BASE_VALUES = {
    "subscription_id": lambda i: f"s{i}",
    "customer_id": lambda i: f"c{i}",
    "referrer_customer_id": lambda i: f"c{i}",
    "referred_customer_id": lambda i: f"c{(i + 1) % BASE_ROWS}",
    "start_date": lambda i: ("2024-01-01", "2023-11-10", "2024-02-15")[i],
    "end_date": lambda i: ("", "", "2024-04-01")[i],
    "signup_date": lambda i: "2023-06-01",
    "mrr": lambda i: ("100", "20.5", "50")[i],
    # the reporting currency: subscriptions need no rate, exchange_rates rows are valid
    "currency": lambda i: "usd",
    "is_trial": lambda i: "false",
    "billing_interval": lambda i: ("month", "year", "month")[i],
    "billing_interval_count": lambda i: "1",
    "survey": lambda i: "nps",
    "score": lambda i: str(6 + i),
    "event_name": lambda i: "login",
    "resolved_at": lambda i: f"2024-03-1{i} 12:00:00",
}
BY_KIND = {"id": lambda c, i: f"{c}{i}", "text": lambda c, i: "x",
           "number": lambda c, i: "1", "bool": lambda c, i: "false",
           "date": lambda c, i: f"2024-0{i + 1}-05",
           "timestamp": lambda c, i: f"2024-03-0{i + 1} 10:00:00"}
# bad or extreme values by column kind; a few are valid (the build must then reconcile)
BAD_VALUES = {
    "number": ("NaN", "nan", "inf", "-Infinity", "", "ten", "1e308", "1e12", "-1e15",
               "999999999999.99", "1e-300", "1,5", " 7 ", "0x10", "1e400"),
    "date": ("0000-01-01", "0001-01-01", "1899-12-30", "1900-01-01", "9999-12-31",
             "10000-01-01", "2024-02-30", "", "-2024-01-01", "2024-1-1", "20240101",
             "2024-01-01T00:00:00+14:00"),
    "timestamp": ("0000-01-01 00:00:00", "1899-12-30 00:00:00", "9999-12-31 23:59:59",
                  "2024-01-01 25:00:00", "", "2024-03-01T10:00:00Z", "1e308",
                  "2024-03-01 10:00:00 Mars/Olympus", "2024-13-01 00:00:00"),
    "id": ('"a,b"', "a\nb", 'quo"te', "", "x" * 100_000, "  ", "ünï😀", "c0"),
    "text": ('"a,b"', "a\nb", "", "x" * 10_000, "NULL"),
    "bool": ("maybe", "", "1", "TRUE", "yes"),
}
FILE_MUTATIONS = {"csv": ("truncated", "bom", "crlf", "semicolons", "tabs", "latin1", "empty",
                          "header_only", "ragged"),
                  "parquet": ("truncated", "zero_rows", "typed")}


def base_rows(table: str) -> list[dict]:
    columns = TABLES[table].columns
    return [{c.name: BASE_VALUES.get(c.name, lambda i, c=c: BY_KIND[c.kind](c.name, i))(i)
             for c in columns} for i in range(BASE_ROWS)]


def draw_mutations(table: str, fmt: str, n: int, seed: int | None = None) -> list[tuple]:
    """``n`` mutations of ``table`` drawn from the case's seed (or ``seed``): ("file", kind)
    or ("value", column, row, value)."""
    rng = random.Random(f"{table}-{fmt}" if seed is None else f"{table}-{fmt}-{seed}")
    columns = TABLES[table].columns
    out = []
    for _ in range(n):
        if rng.random() < 0.3:
            out.append(("file", rng.choice(FILE_MUTATIONS[fmt])))
        else:
            column = rng.choice(columns)
            out.append(("value", column.name, rng.randrange(BASE_ROWS),
                        rng.choice(BAD_VALUES[column.kind])))
    return out


def _csv_text(rows: list[dict], header: list[str], delimiter: str = ",") -> str:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[r[h] for h in header] for r in rows])
    return buffer.getvalue()


def write_mutated(folder: Path, table: str, fmt: str, mutation: tuple, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # the mutated table and the one required table: fewer models to build per mutation
    for name in dict.fromkeys(("subscriptions", table)):
        rows = base_rows(name)
        header = list(rows[0])
        kind = mutation[1] if mutation[0] == "file" and name == table else None
        if mutation[0] == "value" and name == table:
            rows[mutation[2]][mutation[1]] = mutation[3]
        if fmt == "parquet" or name != table:
            _write_parquet_or_csv(folder, name, rows, header, fmt if name == table else "csv",
                                  kind, rng)
            continue
        text = _csv_text(rows, header, {"semicolons": ";", "tabs": "\t"}.get(kind, ","))
        if kind == "crlf":
            text = text.replace("\n", "\r\n")
        elif kind == "ragged":
            text += "s9,c9\n"
        elif kind == "header_only":
            text = text.splitlines(keepends=True)[0]
        data = text.encode("utf-8")
        if kind == "bom":
            data = b"\xef\xbb\xbf" + data
        elif kind == "latin1":
            data = data.replace(b"x", b"\xe9", 1) + b"\xe9t\xe9," * 3 + b"\n"
        elif kind == "truncated":
            data = data[: rng.randrange(1, len(data))]
        elif kind == "empty":
            data = b""
        (folder / f"{name}.csv").write_bytes(data)


def _write_parquet_or_csv(folder: Path, name: str, rows: list[dict], header: list[str],
                          fmt: str, kind: str | None, rng) -> None:
    if fmt == "csv":
        (folder / f"{name}.csv").write_text(_csv_text(rows, header), encoding="utf-8")
        return
    if kind == "zero_rows":
        rows = []
    # "typed": every column whose values all convert gets its Arrow type (float, date…), as
    # a typed export would; otherwise text, empty = NULL
    columns = {h: _arrow_column([r[h] or None for r in rows],
                                kind == "typed" and not h.endswith("_id"))
               if rows else pa.array([], pa.string()) for h in header}
    path = folder / f"{name}.parquet"
    pq.write_table(pa.table(columns), path)
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: rng.randrange(1, len(data))])


def assert_finite_and_reconciling(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        floats = con.execute(
            "select table_name, column_name from information_schema.columns where "
            "table_schema = 'main' and data_type in ('DOUBLE', 'FLOAT')").fetchall()
        for table, column in floats:
            (bad,) = con.execute(f'select count(*) from "{table}" where isinf("{column}") '
                                 f'or isnan("{column}")').fetchone()
            assert not bad, f"{table}.{column}: {bad} non-finite values"
    finally:
        con.close()
    check_invariants(load_tables(db), MUTATION_AS_OF, "month")


def run_mutation(tmp: Path, table: str, fmt: str, mutation: tuple, index: int) -> str:
    rng = random.Random(f"{table}-{fmt}-{index}")
    src, db = tmp / f"src{index}", tmp / f"m{index}.duckdb"
    write_mutated(src, table, fmt, mutation, rng)
    settings = parse_settings({"as_of": MUTATION_AS_OF})
    try:
        build(src, settings, database=db)
    except SaasRetentionError as exc:
        assert exc.exit_code in (2, 3), (mutation, exc)
        assert table in str(exc), (mutation, str(exc))
        assert not db.exists() and not list(tmp.glob(f".m{index}*")), mutation
        return "refused"
    assert_finite_and_reconciling(db)
    return "built"


MUTATION_CASES = [(t, f) for t in TABLES for f in ("csv", "parquet")]
# issue #20's two tracebacks, in every case of subscriptions whatever the draw
ISSUE_MUTATIONS = [("value", "mrr", 1, "1e308"), ("value", "mrr", 1, "1e12"),
                   ("value", "start_date", 1, "0000-01-01")]


@pytest.mark.parametrize(("table", "fmt"), MUTATION_CASES,
                         ids=[f"{t}-{f}" for t, f in MUTATION_CASES])
def test_seeded_mutations_build_or_fail_clearly(tmp_path, table, fmt):
    drawn = draw_mutations(table, fmt, MUTATIONS_PER_CASE[fmt])
    for i, mutation in enumerate((ISSUE_MUTATIONS if table == "subscriptions" else []) + drawn):
        shown = mutation if mutation[0] == "file" else (*mutation[:3], mutation[3][:40])
        try:
            run_mutation(tmp_path, table, fmt, mutation, i)
        except AssertionError:
            raise
        except Exception as exc:  # what the CLI would print as a traceback (exit 1)
            raise AssertionError(f"{table} ({fmt}) mutated {shown}: {exc!r}") from exc


# --- the sources a folder of files does not cover (issue #20's audit) -------------------------
#
# kind -> its cases: the value written, and whether the build must refuse it
SOURCE_MUTATIONS = {
    # an eur subscription's mrr and eur's rate (staging converts mrr × rate to the money type)
    "converted": (("100", "1.1", False), ("100", "2e10", True), ("9e11", "1.5", True),
                  ("9e11", "0.001", False), ("100", "1e308", True)),
    # the amount (minor units) of the fixture account's first line, a monthly usd price
    "stripe": (("5000", False), ("100000000000000", True), ("1e308", True),
               ("123456", False)),
    # an event appended to a source built with --incremental
    "incremental": (("2024-06-29 10:00:00", False), ("0000-01-01 10:00:00", True),
                    ("10000-01-01 10:00:00", True), ("1899-12-31 23:00:00", True)),
    # one value of a SQLite subscriptions table (mrr REAL, dates DATE: SQLite keeps any text):
    # refused exactly as the DuckDB build of the same rows refuses it
    "sqlite": (("mrr", "abc"), ("mrr", "12,5"), ("mrr", " 7 "), ("mrr", "1e12"), ("mrr", ""),
               ("start_date", "2024-02-30"), ("end_date", "2024-04-31"),
               ("start_date", "0000-01-01"), ("start_date", "2024-02-29")),
}
STRIPE_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
SQLITE_TYPES = {"mrr": "REAL", "billing_interval_count": "REAL", "start_date": "DATE",
                "end_date": "DATE"}


def _build_or_refuse(run, refused: bool, where: str, db: Path,
                     before: bytes | None = None) -> None:
    """``run`` (a build into ``db``) refuses the source, exit 3 naming ``where`` with the
    database as it was (``before``; None: no file), when ``refused``; else builds finite,
    reconciling numbers."""
    try:
        run()
    except SaasRetentionError as exc:
        assert refused, str(exc)
        assert exc.exit_code == SourceError.exit_code, str(exc)
        assert where in str(exc), str(exc)
        if before is None:
            assert not db.exists()
        else:
            assert db.read_bytes() == before  # the previous build stays as it was
        return
    assert not refused
    assert_finite_and_reconciling(db)


def run_converted(tmp: Path, mrr: str, rate: str, refused: bool) -> None:
    rows = base_rows("subscriptions")
    rows[1].update(mrr=mrr, currency="eur")
    src, db = tmp / "src", tmp / "m.duckdb"
    src.mkdir()
    (src / "subscriptions.csv").write_text(_csv_text(rows, list(rows[0])), encoding="utf-8")
    (src / "exchange_rates.csv").write_text(f"date,currency,rate\n2023-01-01,eur,{rate}\n",
                                            encoding="utf-8")
    _build_or_refuse(lambda: build(src, parse_settings({"as_of": MUTATION_AS_OF}), database=db),
                     refused, "subscriptions.mrr", db)


def run_stripe(tmp: Path, amount: str, refused: bool) -> None:
    src, db = tmp / "src", tmp / "m.duckdb"
    src.mkdir()
    for path in STRIPE_FIXTURE.glob("*.csv"):
        (src / path.name).write_bytes(path.read_bytes())
    lines = src / "invoice_line_items.csv"
    with lines.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("amount")] = amount
    with lines.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    settings = parse_settings({"as_of": MUTATION_AS_OF, "billing": "stripe"})
    _build_or_refuse(lambda: build(src, settings, database=db), refused,
                     "invoice_line_items.amount", db)


def run_incremental(tmp: Path, event_time: str, refused: bool) -> None:
    from saas_retention.builders.incremental.refresh import build_incremental

    src, db = tmp / "src", tmp / "m.duckdb"
    src.mkdir()
    for table in ("subscriptions", "events"):
        rows = base_rows(table)
        (src / f"{table}.csv").write_text(_csv_text(rows, list(rows[0])), encoding="utf-8")
    settings = parse_settings({"as_of": MUTATION_AS_OF})
    build_incremental(src, settings, database=db)
    before = db.read_bytes()
    events = base_rows("events")
    events.append(events[0] | {"event_time": event_time})
    (src / "events.csv").write_text(_csv_text(events, list(events[0])), encoding="utf-8")
    _build_or_refuse(lambda: build_incremental(src, settings, database=db), refused,
                     "events.event_time", db, before)


def _problems(run) -> set[tuple] | None:
    try:
        run()
    except SourceProblems as exc:
        return {(p.table, p.column, p.count) for p in exc.problems}
    return None


def run_sqlite(tmp: Path, column: str, value: str) -> None:
    """The same subscriptions as CSV read by DuckDB and as a SQLite table read through its
    URL: the same problems (table, column, rows), or the same MRR in every period."""
    import sqlite3

    from saas_retention.builders.warehouse.run import build_on_warehouse

    rows = base_rows("subscriptions")
    rows[1][column] = value
    header = list(rows[0])
    src, db, warehouse = tmp / "src", tmp / "m.duckdb", tmp / "w.sqlite"
    src.mkdir()
    (src / "subscriptions.csv").write_text(_csv_text(rows, header), encoding="utf-8")
    con = sqlite3.connect(warehouse)
    con.execute("create table subscriptions (" + ", ".join(
        f'"{h}" {SQLITE_TYPES.get(h, "TEXT")}' for h in header) + ")")
    con.executemany(f"insert into subscriptions values ({', '.join('?' * len(header))})",
                    [[r[h] or None for h in header] for r in rows])
    con.commit()
    con.close()
    settings = parse_settings({"as_of": MUTATION_AS_OF})
    on_duckdb = _problems(lambda: build(src, settings, database=db))
    on_sqlite = _problems(lambda: build_on_warehouse(f"sqlite:///{warehouse}", settings))
    assert on_sqlite == on_duckdb, (column, value)
    if on_duckdb is not None:
        assert ("subscriptions", column, 1) in on_duckdb
        return
    assert_finite_and_reconciling(db)
    query = "select customer_id, period_start, mrr from customer_periods"
    con = duckdb.connect(str(db), read_only=True)
    try:
        want = sorted((c, str(p), round(float(m), 6)) for c, p, m in con.execute(query).fetchall())
    finally:
        con.close()
    con = sqlite3.connect(warehouse)
    try:
        got = sorted((c, str(p), round(float(m), 6)) for c, p, m in con.execute(query).fetchall())
    finally:
        con.close()
    assert got == want, (column, value)


RUN_SOURCE = {"converted": run_converted, "stripe": run_stripe,
              "incremental": run_incremental, "sqlite": run_sqlite}


def run_any_mutation(tmp: Path, mutation: tuple) -> None:
    """A draw of ``mutated_sources``: what run_mutation or the source's own runner asserts,
    and never another exception than a package error."""
    kind = mutation[0]
    try:
        if kind == "table":
            run_mutation(tmp, *mutation[1:], 0)
        else:
            RUN_SOURCE[kind](tmp, *mutation[1])
    except AssertionError:
        raise
    except Exception as exc:  # what the CLI would print as a traceback (exit 1)
        raise AssertionError(f"{mutation!r:.200}: {exc!r}") from exc


SOURCE_CASES = [(kind, case) for kind, cases in SOURCE_MUTATIONS.items() for case in cases]


@pytest.mark.parametrize(("kind", "case"), SOURCE_CASES,
                         ids=[f"{k}-{'-'.join(map(str, c))}" for k, c in SOURCE_CASES])
def test_each_source_mutation(tmp_path, kind, case):
    """Every source mutation at least once per run, whatever the property test draws."""
    run_any_mutation(tmp_path, (kind, case))
