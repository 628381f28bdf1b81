"""Subscription terms and renewals on every engine.

``stg_subscription_terms`` is portable SQL (month indexes, day numbers, a numbers relation);
here every engine's rows are compared with an independent Python computation of the same
rule (anniversary k = start date + k × term months, the day clamped to the month's last day,
which is DuckDB's ``date + INTERVAL n MONTH``), and ``renewals`` with the DuckDB build."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt

import duckdb
import pytest
from engines import DuckDBEngine, engine_cases, normalise
from test_warehouse import assert_same, engine_rows, make_engine

from saas_retention.builders.duckdb.run import build
from saas_retention.builders.duckdb.stage import Stager
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.core.periods import period_index
from saas_retention.relations.graph import relation_order, relation_sql
from saas_retention.relations.target import Target

COLUMNS = [("subscription_id", "text"), ("customer_id", "text"), ("start_date", "date"),
           ("end_date", "date"), ("mrr", "number"), ("is_trial", "bool"),
           ("billing_interval", "text"), ("billing_interval_count", "number")]
AS_OF = dt.date(2024, 1, 20)
TERM_MONTHS = {"year": 12, "annual": 12, "quarter": 3}


def _d(s):
    return dt.date.fromisoformat(s) if s else None


def edge_rows():
    rows = [
        # month-end starts: Jan 31 -> Feb 28 -> Mar 31 (counted from the start, not chained)
        ("m31", "a", "2023-01-31", None, 10, None, "month", None),
        ("m30", "a", "2023-01-30", "2023-06-30", 10, None, "month", None),
        # Feb 29 starts on annual terms: Feb 28 in common years, Feb 29 again in 2020
        ("y29", "b", "2020-02-29", None, 100, None, "year", None),
        ("y29e", "b", "2016-02-29", "2023-02-28", 100, None, "annual", None),
        ("q31", "c", "2022-08-31", None, 30, None, "quarter", None),
        # long terms: two quarters, three years
        ("q2", "c", "2021-11-30", "2023-11-30", 30, None, "quarter", 2),
        ("y3", "d", "2015-03-31", None, 300, None, "year", 3),
        ("m3", "d", "2023-10-31", None, 5, None, " Month ", 3),
        # a trial converting; a start after as_of; an end on an anniversary; as_of on one
        ("t1", "e", "2023-12-01", "2023-12-15", 0, True, "month", None),
        ("p1", "e", "2023-12-15", None, 40, False, "month", None),
        ("fut", "f", "2024-03-01", None, 50, None, "month", None),
        ("end_on_ann", "g", "2023-03-15", "2023-05-15", 10, None, "month", None),
        ("asof_ann", "h", "2023-12-20", None, 10, None, "month", None),
        # a term of zero months: only its final end (no anniversaries)
        ("zero", "i", "2023-01-10", "2023-08-01", 10, None, "month", 0),
        ("old", "j", "1999-12-31", "2001-03-01", 10, None, "month", None),
        # a renewal by a new subscription within the grace window, and one too late
        ("r1", "k", "2023-01-05", "2023-09-05", 20, None, "month", None),
        ("r2", "k", "2023-09-10", None, 25, None, "month", None),
        ("l1", "l", "2023-01-05", "2023-09-05", 20, None, "month", None),
        ("l2", "l", "2023-09-20", None, 25, None, "month", None),
    ]
    return [(s, c, _d(a), _d(b), float(m), t, i, None if n is None else float(n))
            for s, c, a, b, m, t, i, n in rows]


def built_rows():
    """edge_rows as a build accepts them: a billing_interval_count of 0 is bad input there
    (test_bad_input.py), so only the terms query itself sees that row."""
    return [r for r in edge_rows() if r[7] is None or r[7] > 0]


def sweep_rows():
    """Starts on the 28th–31st of every month of 2019–2024 (every clamping case, leap years),
    on monthly, quarterly, annual and two-year terms."""
    rows = []
    for year in range(2019, 2025):
        for month in range(1, 13):
            last = pycalendar.monthrange(year, month)[1]
            for day in range(28, last + 1):
                for interval, count in (("month", 1), ("quarter", 1), ("year", 1), ("year", 2)):
                    sid = f"{year}{month:02}{day}{interval}{count}"
                    rows.append((sid, sid, dt.date(year, month, day), None, 1.0, None,
                                 interval, float(count)))
    return rows


def add_months(day: dt.date, n: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + n
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, pycalendar.monthrange(year, month)[1]))


def python_terms(rows, as_of: dt.date, grace: int = 7):
    """Independent reference: (subscription_id, term_end, is_final, term_months,
    term_end_period_index, renewal_deadline) for every staged subscription."""
    out = []
    for sid, _cid, start, end, _mrr, _trial, interval, count in rows:
        if start > as_of:
            continue  # never in a snapshot: not staged
        term = TERM_MONTHS.get((interval or "").strip().lower(), 1) * int(
            1 if count is None else count)
        ends = []
        k = 1
        while term > 0:
            term_end = add_months(start, k * term)
            if term_end > as_of or (end is not None and term_end >= end):
                break
            ends.append((term_end, 0))
            k += 1
        if end is not None and end <= as_of:
            ends.append((end, 1))
        for term_end, final in ends:
            out.append((sid, term_end.isoformat(), final, float(term),
                        float(period_index(term_end, "month")),
                        (term_end + dt.timedelta(days=grace)).isoformat()))
    return sorted(out)


def engine_terms(engine, rows, settings):
    engine.load("subscriptions", COLUMNS, rows)
    target = Target(engine.dialect, settings, optional_columns=frozenset(
        {"end_date", "is_trial", "billing_interval", "billing_interval_count"}))
    for name in relation_order("stg_subscription_terms"):
        engine.materialise(name, relation_sql(name, target, pretty=False))
    _, got = engine.rows(
        "select subscription_id, term_end, is_final, term_months, term_end_period_index, "
        "renewal_deadline from stg_subscription_terms")
    return sorted(tuple(normalise(v) for v in r) for r in got)


ENGINES = ["duckdb", "sqlite", "postgres", "clickhouse",
           pytest.param("spark", marks=pytest.mark.slow)]


def _fresh(engine, engine_name):
    if engine_name == "postgres":  # one server for the module
        for t in ("subscriptions", "stg_subscriptions", "stg_subscription_terms"):
            engine.execute(f'drop table if exists "{t}" cascade')


# On Spark the boundary rows only: the sweep repeats the same month arithmetic on more dates.
@pytest.mark.parametrize(("engine_name", "rows"), engine_cases(
    ENGINES, ["edge_rows", "sweep_rows"], spark_cases={"edge_rows"}))
def test_terms_match_python_month_arithmetic(request, engine_name, rows):
    rows = {"edge_rows": edge_rows, "sweep_rows": sweep_rows}[rows]
    engine = make_engine(engine_name, request)
    try:
        _fresh(engine, engine_name)
        settings = parse_settings({"as_of": AS_OF})
        expected = python_terms(rows(), AS_OF)
        assert len(expected) > 40
        assert engine_terms(engine, rows(), settings) == expected
    finally:
        engine.close()


def test_term_ends_are_duckdb_interval_months():
    """The portable term ends equal DuckDB's own ``start + INTERVAL n MONTH`` (which the
    staging used before it was made portable) for every start day 2019–2024."""
    engine = DuckDBEngine()
    try:
        rows = []
        day = dt.date(2019, 1, 1)
        while day <= dt.date(2024, 12, 31):
            for interval, count in (("month", 1), ("quarter", 1), ("year", 1), ("year", 3)):
                sid = f"{day}{interval}{count}"
                rows.append((sid, sid, day, None, 1.0, None, interval, float(count)))
            day += dt.timedelta(days=1)
        as_of = dt.date(2030, 12, 31)
        engine_terms(engine, rows, parse_settings({"as_of": as_of}))
        _, diff = engine.rows(
            "with expected as (select t.subscription_id, t.term_end, "
            "cast(s.start_date + to_months(cast(t.term_months * row_number() over ("
            "partition by t.subscription_id order by t.term_end) as integer)) as date) as native "
            "from stg_subscription_terms t join stg_subscriptions s using (subscription_id)) "
            "select count(*), count(*) filter (where term_end <> native) from expected")
        total, different = diff[0]
        assert total > 40_000 and different == 0
    finally:
        engine.close()


def test_duckdb_staging_uses_the_portable_terms(tmp_path):
    """One definition: the DuckDB build stages the same rows as the warehouse query."""
    src = tmp_path / "src"
    src.mkdir()
    eng = DuckDBEngine()
    try:
        eng.load("subscriptions", COLUMNS, built_rows())
        eng.execute(f"copy subscriptions to '{src / 'subscriptions.parquet'}' (format parquet)")
    finally:
        eng.close()
    from saas_retention.builders.duckdb.sources import open_source

    con = duckdb.connect()
    try:
        Stager(con, open_source(src), parse_settings({"as_of": AS_OF})).run()
        got = con.execute("select subscription_id, term_end, is_final, term_months, "
                          "term_end_period_index, renewal_deadline "
                          "from stg_subscription_terms").fetchall()
    finally:
        con.close()
    assert sorted(tuple(normalise(v) for v in r) for r in got) == python_terms(built_rows(),
                                                                               AS_OF)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_renewals_match_duckdb_build(tmp_path, request, engine_name):
    src = tmp_path / "src"
    src.mkdir()
    eng = DuckDBEngine()
    try:
        eng.load("subscriptions", COLUMNS, built_rows())
        eng.execute(f"copy subscriptions to '{src / 'subscriptions.parquet'}' (format parquet)")
    finally:
        eng.close()
    settings = parse_settings({"as_of": AS_OF})
    db = tmp_path / "reference.duckdb"
    build(src, settings, database=db)
    engine = make_engine(engine_name, request)
    try:
        if engine_name == "postgres":
            for t in ("subscriptions", *relation_order("renewals")):
                engine.execute(f'drop table if exists "{t}" cascade')
        engine.load("subscriptions", COLUMNS, built_rows())
        target = Target(engine.dialect, settings, optional_columns=frozenset(
            {"end_date", "is_trial", "billing_interval", "billing_interval_count"}))
        for name in relation_order("renewals"):
            engine.materialise(name, relation_sql(name, target, pretty=False))
        key = load_catalog().models["renewals"].key
        ref = DuckDBEngine(str(db))
        try:
            expected = engine_rows(ref, "renewals", key)
            assert sum(r[expected[0].index("due")] for r in expected[1]) > 10
            assert_same(expected, engine_rows(engine, "renewals", key),
                        f"{engine_name}/renewals")
        finally:
            ref.close()
    finally:
        engine.close()

