"""Every warehouse model gives DuckDB's rows on real engines (floats to 1e-9 relative), through
the warehouse SQL: staging, calendar and models compiled for the engine's dialect."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest
from engines import (
    ClickHouseEngine,
    DuckDBEngine,
    PostgresEngine,
    SparkEngine,
    SQLiteEngine,
    engine_cases,
    normalise,
    pg_url,
)

from saas_retention.builders.duckdb.run import build
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError
from saas_retention.export.standalone import standalone_sql
from saas_retention.relations.graph import relation_order, relation_sql, warehouse_models
from saas_retention.relations.target import Target

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# the models of these fixtures; the dated tables' models are in test_warehouse_events.py
SUBSCRIPTION_INPUTS = ("subscriptions", "customers")
SUB_COLUMNS = [("subscription_id", "text"), ("customer_id", "text"), ("start_date", "date"),
               ("end_date", "date"), ("mrr", "number"), ("is_trial", "bool"),
               ("billing_interval", "text"), ("cancel_reason", "text")]


def _date(s):
    return dt.date.fromisoformat(s) if s else None


def playbook_case():
    with (FIXTURES / "mrr_playbook" / "subscription_periods.csv").open() as f:
        rows = [(r["subscription_id"], r["customer_id"], _date(r["start_date"]),
                 _date(r["end_date"]), float(r["monthly_amount"]), None, None, None)
                for r in csv.DictReader(f)]
    return {"subscriptions": rows}, None, dt.date(2020, 6, 30)


def edge_case():
    rows = [
        # reactivation after a gap; same-day upgrade; one of two parallel cancelled
        ("a1", "a", "2023-01-15", "2023-03-10", 10, None),
        ("a2", "a", "2023-06-01", None, 10, None),
        ("b1", "b", "2023-02-01", "2023-05-20", 20, None),
        ("b2", "b", "2023-05-20", None, 35, None),
        ("c1", "c", "2023-01-01", None, 30, None),
        ("c2", "c", "2023-01-01", "2023-04-30", 5, None),
        # boundary days: ends on a month's last day vs the next month's first day
        ("d1", "d", "2023-01-10", "2023-03-31", 12, None),
        ("e1", "e", "2023-01-10", "2023-04-01", 12, None),
        # trial then paid; free plan only; starts after as_of
        ("f0", "f", "2023-02-01", "2023-02-15", 0, True),
        ("f1", "f", "2023-02-15", None, 40, False),
        ("g1", "g", "2023-01-01", None, 0, None),
        ("h1", "h", "2024-03-01", None, 50, None),
        # churn and return within one month: invisible to end-of-month snapshots
        ("i1", "i", "2023-01-01", "2023-03-05", 25, None),
        ("i2", "i", "2023-03-20", None, 25, None),
        # an annual plan, and cancel reasons: what the demo case shows churn_reasons and the
        # terms on engines that run only this case (Spark)
        ("j1", "j", "2023-02-01", "2023-11-20", 120, None),
    ]
    intervals = {"j1": "year"}
    reasons = {"a1": "too_expensive", "d1": "missing_feature", "j1": "too_expensive",
               "i1": "switched_to_competitor"}
    subs = [(s, c, _date(a), _date(b), float(m), t, intervals.get(s, "month"), reasons.get(s))
            for s, c, a, b, m, t in rows]
    customers = [("a", "smb", "pro"), ("b", "smb", "starter"), ("c", "enterprise", "pro"),
                 ("d", None, "pro"), ("e", "smb", "pro"), ("f", "smb", None)]
    return ({"subscriptions": subs, "customers": customers},
            [("customer_id", "text"), ("segment", "text"), ("plan", "text")],
            dt.date(2024, 1, 20))


def demo_case():
    from saas_retention.datagen.demo import generate

    con = duckdb.connect()
    try:
        generate(con, customers=150, months=20, seed=11, end_date=dt.date(2024, 8, 31),
                 events=False)
        subs = con.execute("select subscription_id, customer_id, start_date, end_date, mrr, "
                           "is_trial, billing_interval, cancel_reason from subscriptions"
                           ).fetchall()
        customers = con.execute("select customer_id, plan, segment from customers").fetchall()
    finally:
        con.close()
    return ({"subscriptions": subs, "customers": customers},
            [("customer_id", "text"), ("plan", "text"), ("segment", "text")],
            dt.date(2024, 8, 31))


CASES = {"playbook": playbook_case, "edges": edge_case, "demo": demo_case}
# settings beyond as_of: the demo's billing interval (month or year) as a period dimension,
# so the compiler's period-dimension CTEs run on every engine
CASE_SETTINGS = {"demo": {"tables": {"subscriptions": {"dimensions": ["billing_interval"]}}}}


def reference(tmp_path, tables, customer_columns, as_of, settings=None):
    """The DuckDB build (the reference engine) of the same source."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    eng = DuckDBEngine()
    try:
        eng.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
        eng.execute(f"copy subscriptions to '{src / 'subscriptions.parquet'}' (format parquet)")
        if customer_columns:
            eng.load("customers", customer_columns, tables["customers"])
            eng.execute(f"copy customers to '{src / 'customers.parquet'}' (format parquet)")
    finally:
        eng.close()
    db = tmp_path / "reference.duckdb"
    result = build(src, parse_settings({"as_of": as_of, **(settings or {})}), database=db)
    return db, result


def engine_rows(engine, name, key):
    order = ", ".join(engine.quote(k) for k in key)
    names, rows = engine.rows(f"select * from {engine.quote(name)} order by {order}")
    names = [n.lower() for n in names]
    rows = [tuple(normalise(v) for v in r) for r in rows]
    # rows the key leaves tied — a rollup's, whose key holds the dimensions the settings name —
    # in the order of their text columns (floats differ in the last digits between engines)
    at = [names.index(k.lower()) for k in key]
    text = [i for i in range(len(names)) if any(isinstance(r[i], str) for r in rows)]
    return names, sorted(rows, key=lambda r: tuple((r[i] is None, "" if r[i] is None else r[i])
                                                   for i in (*at, *text)))


def assert_same(expected, actual, label):
    (en, er), (an, ar) = expected, actual
    assert an == en, label
    assert len(ar) == len(er), f"{label}: {len(ar)} rows, expected {len(er)}"
    for i, (a, e) in enumerate(zip(ar, er, strict=True)):
        for col, x, y in zip(en, a, e, strict=True):
            if isinstance(y, float) and isinstance(x, float):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-9), f"{label} row {i} {col}"
            else:
                assert x == y, f"{label} row {i} {col}: {x!r} != {y!r}"


def make_engine(name, request):
    if name == "duckdb":
        return DuckDBEngine()
    if name == "sqlite":
        return SQLiteEngine()
    if name == "postgres":
        return PostgresEngine(request.getfixturevalue("pg_dsn"))
    if name == "clickhouse":
        pytest.importorskip("chdb")
        return ClickHouseEngine()
    if name == "spark":
        return SparkEngine(request.getfixturevalue("spark"))
    if name == "mysql":
        return request.getfixturevalue("mysql")
    raise ValueError(name)


ENGINES = ["duckdb", "sqlite", "postgres", "clickhouse",
           pytest.param("spark", marks=pytest.mark.slow)]


@pytest.mark.parametrize(("engine_name", "case"),
                         engine_cases(ENGINES, sorted(CASES), spark_cases={"edges"}))
def test_models_match_duckdb_on_engine(tmp_path, request, engine_name, case):
    tables, customer_columns, as_of = CASES[case]()
    db, result = reference(tmp_path, tables, customer_columns, as_of, CASE_SETTINGS.get(case))
    engine = make_engine(engine_name, request)
    try:
        if engine_name == "postgres":  # one server for the module: fresh tables per test
            for t in ("subscriptions", "customers"):
                engine.execute(f'drop table if exists "{t}" cascade')
        engine.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
        if customer_columns:
            engine.load("customers", customer_columns, tables["customers"])
        target = Target(
            engine.dialect, parse_settings({"as_of": as_of, **CASE_SETTINGS.get(case, {})}),
            dimensions=tuple(c for c, _ in (customer_columns or [])[1:]),
            has_customers=bool(customer_columns),
            optional_columns=frozenset({"end_date", "is_trial", "billing_interval",
                                        "cancel_reason"}),
        )
        done: list[str] = []
        for model in warehouse_models(inputs=SUBSCRIPTION_INPUTS):
            for name in relation_order(model):
                if name not in done:
                    engine.materialise(name, relation_sql(name, target, pretty=False))
                    done.append(name)
        catalog = load_catalog()
        ref = DuckDBEngine(str(db))
        try:
            for model in warehouse_models(inputs=SUBSCRIPTION_INPUTS):
                key = catalog.models[model].key
                assert_same(engine_rows(ref, model, key), engine_rows(engine, model, key),
                            f"{engine_name}/{case}/{model}")
        finally:
            ref.close()
    finally:
        engine.close()


@pytest.mark.parametrize("engine_name", ["duckdb", "sqlite", "postgres", "clickhouse"])
def test_standalone_queries_run_as_shipped(tmp_path, request, engine_name):
    tables, _, as_of = playbook_case()
    db, _ = reference(tmp_path, tables, None, as_of)
    engine = make_engine(engine_name, request)
    try:
        if engine_name == "postgres":
            engine.execute('drop table if exists "subscriptions" cascade')
        engine.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
        target = Target(engine.dialect, parse_settings({"as_of": as_of}))
        ref = DuckDBEngine(str(db))
        try:
            for model in warehouse_models(inputs=SUBSCRIPTION_INPUTS):
                key = load_catalog().models[model].key
                engine.materialise(f"standalone_{model}", standalone_sql(model, target)
                                   .rstrip().rstrip(";"))
                assert_same(engine_rows(ref, model, key),
                            engine_rows(engine, f"standalone_{model}", key),
                            f"{engine_name}/standalone/{model}")
        finally:
            ref.close()
    finally:
        engine.close()


def test_unsupported_dialect_lists_supported():
    with pytest.raises(ConfigError) as info:
        standalone_sql("retention", Target("oracle", parse_settings({})))
    assert "unsupported dialect 'oracle'" in str(info.value)
    assert "postgres" in str(info.value) and "snowflake" in str(info.value)


# -- building inside a warehouse through a SQLAlchemy URL ------------------------------------

def test_build_inside_postgres_matches_duckdb(tmp_path, pg_dsn):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, customer_columns, as_of = edge_case()
    db, _ = reference(tmp_path, tables, customer_columns, as_of)
    engine = PostgresEngine(pg_dsn)
    try:
        engine.execute("drop schema if exists app cascade")
        engine.execute("drop schema if exists analytics cascade")
        engine.execute("create schema app")
        engine.load("app_subs", SUB_COLUMNS, tables["subscriptions"])
        engine.load("accounts", customer_columns, tables["customers"])
        engine.execute('alter table "app_subs" set schema app')
        engine.execute('alter table "accounts" set schema app')
        settings = parse_settings({"as_of": as_of, "tables": {
            "subscriptions": {"table": "app_subs"}, "customers": {"table": "accounts"}}})
        for _ in range(2):  # a rebuild swaps the tables in place
            result = build_on_warehouse(pg_url(pg_dsn), settings, schema="app",
                                        target_schema="analytics")
        # cohort_value too: its sBG fit runs in the client (test_warehouse_value.py)
        assert set(result.models) == {*warehouse_models(inputs=SUBSCRIPTION_INPUTS),
                                      "cohort_value"}
        ref = DuckDBEngine(str(db))
        try:
            for model in warehouse_models(inputs=SUBSCRIPTION_INPUTS):
                key = load_catalog().models[model].key
                assert_same(engine_rows(ref, model, key),
                            engine_rows(engine, f"analytics.{model}".replace(".", '"."'), key),
                            f"postgres-build/{model}")
        finally:
            ref.close()
        leftovers = engine.rows("select table_name from information_schema.tables where "
                                "table_name like '%sr_building'")[1]
        assert leftovers == []
    finally:
        engine.close()


def test_warehouse_errors_name_the_warehouse_table(tmp_path, pg_dsn):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse
    from saas_retention.core.errors import SourceError, SourceProblems

    engine = PostgresEngine(pg_dsn)
    try:
        engine.execute("drop table if exists bad_subs")
        engine.execute("create table bad_subs (subscription_id text, customer_id text, "
                       "start_date date, end_date date, amount double precision)")
        engine.execute("insert into bad_subs values ('s1', 'c1', '2024-02-01', '2024-01-01', 5)")
        settings = parse_settings({"as_of": dt.date(2024, 6, 30),
                                   "tables": {"subscriptions": {"table": "bad_subs"}}})
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(pg_url(pg_dsn), settings)
        assert "bad_subs.mrr: required column missing from the warehouse table" in str(
            info.value)
        assert "columns found: subscription_id, customer_id, start_date, end_date, amount" in \
            str(info.value)
        settings = parse_settings({"as_of": dt.date(2024, 6, 30), "tables": {
            "subscriptions": {"table": "bad_subs", "columns": {"mrr": "amount"}}}})
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(pg_url(pg_dsn), settings)
        assert "bad_subs.end_date: end_date before start_date (1 row)" in str(info.value)
        settings = parse_settings({"tables": {"subscriptions": {"table": "nope"}}})
        with pytest.raises(SourceError) as info:
            build_on_warehouse(pg_url(pg_dsn), settings)
        assert "no table 'nope' for the required input 'subscriptions'" in str(info.value)
        assert "tables found: " in str(info.value) and "bad_subs" in str(info.value)
    finally:
        engine.close()


def _url_warehouse(engine_name: str, tmp_path, request):
    """A warehouse reached through a SQLAlchemy URL (SQLite in a file, or the PostgreSQL
    fixture) and a test engine on the same database to load and read it."""
    if engine_name == "sqlite":
        import sqlite3

        path = tmp_path / "warehouse.db"
        engine = SQLiteEngine()
        engine.con.close()
        engine.con = sqlite3.connect(path)
        return engine, f"sqlite:///{path}"
    dsn = request.getfixturevalue("pg_dsn")
    return PostgresEngine(dsn), pg_url(dsn)


INTERVAL_COLUMNS = [("subscription_id", "text"), ("customer_id", "text"),
                    ("start_date", "date"), ("end_date", "date"), ("mrr", "number"),
                    ("billing_interval", "text"), ("billing_interval_count", "number")]
INTERVAL_ROWS = [("s1", "c1", dt.date(2024, 1, 1), None, 100.0, "month", None),
                 ("s2", "c2", dt.date(2024, 1, 1), None, 50.0, "year", 2.0),
                 ("s3", "c3", dt.date(2024, 1, 1), None, 10.0, "month", 0.0),
                 ("s4", "c4", dt.date(2024, 1, 1), None, 10.0, "month", -3.0),
                 ("s5", "c5", dt.date(2024, 1, 1), None, 10.0, "quarter", 1.5)]


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
def test_warehouse_refuses_billing_interval_counts_that_are_not_positive_whole_numbers(
        tmp_path, request, engine_name):
    """As the DuckDB staging does: 0 or less would give a subscription no renewal
    anniversary, a fraction a term each engine rounds its own way."""
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse
    from saas_retention.core.errors import SourceProblems

    engine, url = _url_warehouse(engine_name, tmp_path, request)
    try:
        engine.load("interval_subs", INTERVAL_COLUMNS, INTERVAL_ROWS)
        if engine_name == "sqlite":
            engine.con.commit()
        settings = parse_settings({"as_of": dt.date(2024, 6, 30),
                                   "tables": {"subscriptions": {"table": "interval_subs"}}})
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(url, settings)
        (problem,) = info.value.problems
        assert str(problem).startswith(
            "error: interval_subs.billing_interval_count: values that are not a positive "
            "whole number up to 100,000 (a term lasts this many billing intervals) (3 rows)"
        ), str(problem)
        assert sorted(e["subscription_id"] for e in problem.examples) == ["s3", "s4", "s5"]
        assert all("billing_interval_count" in e for e in problem.examples)
        engine.execute("delete from interval_subs where subscription_id in ('s3', 's4', 's5')")
        if engine_name == "sqlite":
            engine.con.commit()
        assert build_on_warehouse(url, settings).models["renewals"] >= 1
    finally:
        engine.close()


def test_warehouse_cli_exits_3_on_a_billing_interval_count_of_zero(tmp_path):
    pytest.importorskip("sqlalchemy")
    import sqlite3
    import subprocess
    import sys

    path = tmp_path / "warehouse.db"
    engine = SQLiteEngine()
    engine.con.close()
    engine.con = sqlite3.connect(path)
    engine.load("subscriptions", INTERVAL_COLUMNS, INTERVAL_ROWS[:3])
    engine.con.commit()
    engine.close()
    done = subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", "build", "--source", f"sqlite:///{path}",
         "--as-of", "2024-06-30"], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert ("subscriptions.billing_interval_count: values that are not a positive whole "
            "number up to 100,000 (a term lasts this many billing intervals) (1 row)"
            ) in done.stderr


PER_INTERVAL_ROWS = [("p1", "c1", dt.date(2024, 1, 1), None, 1200.0, "year", None),
                     ("p2", "c2", dt.date(2024, 1, 15), dt.date(2024, 5, 15), 30.0, " Week ", 2.0),
                     ("p3", "c3", dt.date(2024, 2, 1), None, 90.0, "MONTH", 3.0),
                     ("p4", "c1", dt.date(2024, 3, 1), None, 10.0, "day", 1.0)]


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
def test_warehouse_normalises_amounts_per_interval_like_duckdb(tmp_path, request, engine_name):
    """``amounts_per_interval: true`` (amounts charged per billing interval): the warehouse
    build gives the DuckDB build's monthly MRR; an unknown interval is refused by both."""
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse
    from saas_retention.core.errors import SourceProblems

    as_of = dt.date(2024, 6, 30)
    settings = parse_settings({"as_of": as_of, "tables": {"subscriptions": {
        "table": "per_interval", "amounts_per_interval": True}}})
    src = tmp_path / "src"
    src.mkdir()
    ref_engine = DuckDBEngine()
    try:
        ref_engine.load("per_interval", INTERVAL_COLUMNS, PER_INTERVAL_ROWS)
        ref_engine.execute(f"copy per_interval to '{src / 'per_interval.parquet'}' "
                           "(format parquet)")
    finally:
        ref_engine.close()
    db = tmp_path / "reference.duckdb"
    build(src, settings, database=db)
    engine, url = _url_warehouse(engine_name, tmp_path, request)
    engine.execute("drop table if exists per_interval")
    try:
        engine.load("per_interval", INTERVAL_COLUMNS, PER_INTERVAL_ROWS)
        if engine_name == "sqlite":
            engine.con.commit()
        build_on_warehouse(url, settings)
        ref = DuckDBEngine(str(db))
        try:
            for model in ("customer_periods", "mrr_movements", "retention"):
                key = load_catalog().models[model].key
                expected = engine_rows(ref, model, key)
                assert_same(expected, engine_rows(engine, model, key),
                            f"{engine_name}/{model}")
        finally:
            ref.close()
        # the reference itself: 1200 a year is 100 a month, 30 every 2 weeks 65 a month…
        mrr = dict(DuckDBEngine(str(db)).rows(
            "select customer_id, mrr from customer_periods where period_index = 24292 "
            "and mrr > 0")[1])
        assert {k: float(v) for k, v in mrr.items()} == pytest.approx(
            {"c1": 100.0 + 10.0 * 365 / 12, "c3": 30.0})
        engine.execute("update per_interval set billing_interval = 'fortnight' "
                       "where subscription_id = 'p3'")
        if engine_name == "sqlite":
            engine.con.commit()
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(url, settings)
        (problem,) = info.value.problems
        assert "per_interval.billing_interval: unknown billing interval" in str(problem)
        assert [e["subscription_id"] for e in problem.examples] == ["p3"]
    finally:
        engine.close()


# -- metric functions as the engine's own functions ------------------------------------------

def _metric_args(metric) -> list[float]:
    # plausible values for every argument (alpha/beta/t of sbg, rates, counts, amounts)
    picks = [3.0, 0.8, 2.0, 0.1, 5.0, 1.5, 7.0, 0.4, 2.5]
    return picks[: len(metric.args)]


@pytest.mark.parametrize("engine_name", ["postgres", "clickhouse"])
def test_metric_functions_as_engine_functions_match_duckdb_macros(request, engine_name):
    from saas_retention import register
    from saas_retention.export.functions import function_statements, skipped_functions

    engine = make_engine(engine_name, request)
    con = duckdb.connect()
    try:
        register(con, arrow=False)
        for statement in function_statements(engine.dialect):
            engine.execute(statement)
        skipped = skipped_functions(engine.dialect)
        for metric in load_catalog().metrics.values():
            if metric.name in skipped:
                continue
            args = _metric_args(metric)
            marks = ", ".join("?" for _ in args)
            expected = con.execute(f"select {metric.name}({marks})", args).fetchall()[0][0]
            literal = ", ".join(repr(a) for a in args)
            _, rows = engine.rows(f"select {metric.name}({literal}) as v")
            got = normalise(rows[0][0])
            if expected is None:
                assert got is None, metric.name
            else:
                assert got == pytest.approx(expected, rel=1e-9), metric.name
    finally:
        con.close()
        engine.close()
