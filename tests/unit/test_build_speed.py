"""The shortcuts the build takes for speed (issue 7) change no number: staging only what the
models read, the events staged as a view, contract rules counted in one scan per table, no
dimension join without dimensions. Speed itself is measured by ``make bench``, never here."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from saas_retention.builders.atomic import connect as _connect
from saas_retention.builders.duckdb.run import build_models, relations_read
from saas_retention.builders.duckdb.sources import open_source
from saas_retention.builders.duckdb.stage import Stager
from saas_retention.catalog.compile import compile_model
from saas_retention.core.config import parse_settings
from saas_retention.datagen.synthetic import generate_parquet

AS_OF = dt.date(2024, 6, 30)


@pytest.fixture(scope="module")
def parquet_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("source")
    generate_parquet(folder, customers=300, months=8, seed=7, end_date=AS_OF)
    return folder


def _settings():
    return parse_settings({"as_of": AS_OF})


def _staged(con, source, needed=None):
    return Stager(con, open_source(source), _settings()).run(needed=needed)


def _relations(con) -> dict[str, str]:
    rows = con.execute("select table_name, table_type from information_schema.tables "
                       "where starts_with(table_name, 'stg_')").fetchall()
    return dict(rows)


def test_relations_read_follows_model_dependencies():
    read = relations_read(["mrr_movements"])
    assert {"mrr_movements", "customer_periods", "stg_subscriptions", "stg_customers",
            "calendar"} <= read
    assert "stg_events" not in read and "calendar_days" not in read
    assert relations_read(None) is None


def test_staging_leaves_out_what_no_chosen_model_reads(parquet_source):
    con = _connect()
    try:
        _staged(con, parquet_source, needed=relations_read(["customer_periods"]))
        staged = _relations(con)
        assert {"stg_subscriptions", "stg_customers"} <= set(staged)
        assert not {"stg_events", "stg_subscription_terms", "stg_customer_dimensions"} & set(
            staged)
    finally:
        con.close()
    con = _connect()
    try:
        _staged(con, parquet_source)
        staged = _relations(con)
        assert {"stg_events", "stg_subscription_terms", "stg_customer_dimensions"} <= set(staged)
        # a natively typed source: the events are a view over it, not a copy
        assert staged["stg_events"] == "VIEW"
        assert staged["stg_subscriptions"] != "VIEW"
    finally:
        con.close()


def test_mrr_models_alone_equal_the_full_build(parquet_source):
    models = ["customer_periods", "mrr_movements"]
    rows = {}
    for label, needed, only in (("alone", relations_read(models), models),
                                ("full", None, None)):
        con = _connect()
        try:
            report = _staged(con, parquet_source, needed=needed)
            build_models(con, _settings(), report, only=only)
            rows[label] = {m: con.execute(f"select * from {m} order by all").fetchall()
                           for m in models}
        finally:
            con.close()
    assert rows["alone"] == rows["full"]
    assert len(rows["full"]["customer_periods"]) > 100


def test_large_tables_store_no_hugeint(parquet_source):
    """DuckDB sums integers into a 128-bit HUGEINT, and summing a stored HUGEINT column again
    costs about 100 × a BIGINT one (1.5 s per column of customer_sessions at 1M customers):
    the per-customer tables and the cohort rollup, which marts and charts sum, store none."""
    from saas_retention.catalog.templates import load_catalog

    con = _connect()
    try:
        build_models(con, _settings(), _staged(con, parquet_source))
        large = sorted(name for name, model in load_catalog().models.items()
                       if "customer_id" in model.key or name == "cohort_customers_rollup")
        hugeint = {(name, column) for name in large for column, kind in con.execute(
            f"select column_name, column_type from (describe {name})").fetchall()
            if kind == "HUGEINT"}
    finally:
        con.close()
    assert "customer_sessions" in large and len(large) > 8
    assert hugeint == set()


def test_text_events_are_staged_once_as_a_table_with_the_same_rows(parquet_source, tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for path in parquet_source.iterdir():
        if path.suffix == ".parquet" or path.is_dir():
            # CSV: every column text, timestamps parsed per row by staging
            name = path.name.removesuffix('.parquet')
            pcsv.write_csv(pq.read_table(path), csv_dir / f"{name}.csv")
    staged = {}
    for label, source in (("parquet", parquet_source), ("csv", csv_dir)):
        con = _connect()
        try:
            _staged(con, source)
            staged[label] = (_relations(con)["stg_events"], con.execute(
                "select customer_id, event_name, day_index, hour_of_day, count(*) "
                "from stg_events group by all order by all").fetchall())
        finally:
            con.close()
    assert staged["parquet"][0] == "VIEW" and staged["csv"][0] != "VIEW"
    assert staged["csv"][1] == staged["parquet"][1]


def test_rules_counted_together_report_what_one_query_per_rule_reports(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "subscriptions.csv").write_text(
        "subscription_id,customer_id,start_date,end_date,mrr\n"
        "s1,c1,2024-01-01,2023-12-01,10\n"
        "s2,,2024-01-01,,-5\n"
        "s2,c3,notadate,,x\n"
        "s4,c4,2024-07-15,,10\n"
        "s5,c5,2024-02-01,2024-02-01,10\n"
    )
    (folder / "events.csv").write_text(
        "customer_id,event_time,event_name\n"
        "c1,2024-01-05 10:00:00,login\n"
        "c9,2024-08-01 10:00:00,login\n"
        ",yesterday,login\n"
    )

    def problems(batched: bool):
        stager = Stager(_connect(), open_source(folder), _settings())
        try:
            stager.read()
            stager.type_tables()
            if batched:
                stager.check_rules()
            else:
                stager._check_rules()  # every rule and duplicate check as its own query
            return ([(p.table, p.column, p.count, p.message, p.examples) for p in stager.problems],
                    [(p.table, p.column, p.count, p.message, p.examples)
                     for p in stager.report.warnings])
        finally:
            stager.con.close()

    batched, one_by_one = problems(True), problems(False)
    assert batched == one_by_one
    errors, warnings = batched
    messages = " | ".join(e[3] for e in errors)
    assert "end_date before start_date" in messages and "negative MRR" in messages
    assert "duplicate values" in messages and "not a date" in messages
    assert any("after as_of" in w[3] for w in warnings)


def test_no_dimension_join_without_dimensions():
    plain = compile_model("customer_periods", "duckdb", grain="month", dimensions=())
    with_dims = compile_model("customer_periods", "duckdb", grain="month",
                              dimensions=("plan",))
    assert "stg_customers" not in plain
    assert "stg_customers" in with_dims and '"plan"' in with_dims


def test_retention_curves_read_the_feature_rows_of_their_named_events_only():
    from saas_retention.core.params import model_params

    def compiled(curves):
        params = model_params(parse_settings({"retention_curves": curves}))
        return compile_model("retention_curves", "duckdb", params=params, pretty=False)

    any_only = compiled([])
    assert "customer_daily_features WHERE 1 = 0" in any_only
    named = compiled([{"name": "a", "start_event": "it's new", "return_event": "any"},
                      {"name": "b", "start_event": "login", "return_event": "report"}])
    assert "WHERE event_name IN ('it''s new', 'login', 'report')" in named
    assert "sr_retention_curve_events" not in named + any_only


def test_memory_limit_from_the_environment(monkeypatch):
    from saas_retention.builders.atomic import MEMORY_LIMIT_ENV
    from saas_retention.core.errors import ConfigError

    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1GB")
    con = _connect()
    try:
        limit = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    finally:
        con.close()
    assert limit.endswith("MiB") and 900 < float(limit.split()[0]) < 1000
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "plenty")
    with pytest.raises(ConfigError, match=MEMORY_LIMIT_ENV):
        _connect()


def test_default_memory_limit_is_a_share_of_the_machine(monkeypatch):
    from saas_retention.builders.atomic import MEMORY_LIMIT_ENV, default_memory_limit

    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    expected = max(total // 6, 1 << 30) >> 20
    assert default_memory_limit() == f"{expected}MiB"
    con = _connect()
    try:
        limit, spill = con.execute("select current_setting('memory_limit'), "
                                   "current_setting('temp_directory')").fetchall()[0]
    finally:
        con.close()
    value, unit = limit.split()
    mib = float(value) * {"MiB": 1, "GiB": 1024}[unit]
    assert abs(mib - expected) / expected < 0.01
    # an in-memory build spills into the system's temp directory, not the working directory
    assert Path(spill).parent == Path(tempfile.gettempdir())


def test_spill_directory_of_a_killed_build_is_removed(tmp_path):
    from saas_retention.builders.atomic import remove_stale_builds as _remove_stale_builds

    target = tmp_path / "models.duckdb"
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    spill = tmp_path / f".models.duckdb.{dead}.abc.building.tmp"
    spill.mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"x")
    (tmp_path / f".models.duckdb.{dead}.abc.building").write_bytes(b"x")
    _remove_stale_builds(target)
    assert list(tmp_path.iterdir()) == []
