"""Smoke run of the benchmark (``saas-retention bench``) so it never rots: it runs end to end on
a small source and its JSON has every figure, positive. No timing is asserted: the numbers
belong to the machine, the benchmark records them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from saas_retention.bench.runner import parse_sizes
from saas_retention.cli import main


@pytest.mark.slow
def test_bench_smoke_run(tmp_path):
    out = tmp_path / "results"
    result = CliRunner().invoke(main, [
        "bench", "--sizes", "10k", "--months", "3", "--udf-rows", "50000",
        "--data", str(tmp_path / "data"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert "(b) ÷ (a)" in (out / "RESULTS.md").read_text(encoding="utf-8")

    assert data["command"].startswith("saas-retention bench --sizes 10k")
    assert data["machine"]["nproc"] >= 1 and data["machine"]["duckdb"]
    [size] = data["sizes"]
    assert size["customers"] == 10_000
    assert all(size["rows"][t] > 0 for t in ("customers", "subscriptions", "events"))
    for key in ("seconds", "cpu_seconds", "events_seconds", "subscriptions_seconds",
                "customer_days"):
        assert size["baseline"][key] > 0, key
    build = size["build"]
    for key in ("seconds", "cpu_seconds", "templates_seconds", "staging_seconds", "compile_seconds",
                "models_seconds", "prepare_seconds", "finish_seconds", "peak_rss_bytes",
                "database_bytes"):
        assert build[key] > 0, key
    assert not build["skipped"]  # the generated source has every table
    assert {"customer_periods", "customer_daily_activity", "retention"} <= set(build["models"])
    assert all(m["rows"] >= 0 and m["seconds"] >= 0 for m in build["models"].values())
    # the parts add up to the whole
    parts = (build["templates_seconds"] + build["staging_seconds"] + build["compile_seconds"]
             + build["models_seconds"] + build["prepare_seconds"] + build["finish_seconds"])
    assert parts == pytest.approx(build["seconds"], rel=1e-6)
    assert build["peak_rss_bytes"] > 50 * 2**20  # a Python + DuckDB process, in bytes
    assert size["ratio_build_to_baseline"] > 0 and size["cpu_ratio_build_to_baseline"] > 0
    # the storage floor rewrote every table the build stored, no more, no fewer
    floor = size["storage_floor"]
    assert floor["tables"] == len(build["models"]) + 2  # the models and both calendars
    assert floor["rows"] >= sum(m["rows"] for m in build["models"].values())
    assert floor["seconds"] > 0 and floor["bytes"] > 0 and size["ratio_storage_to_baseline"] > 0
    assert "How close to the machine's limit" in (out / "RESULTS.md").read_text(encoding="utf-8")
    assert size["events_per_second"]["baseline"] > 0 and size["events_per_second"]["build"] > 0

    refresh = size["incremental"]  # build --incremental after one more day of events
    assert refresh["refresh"]["incremental"] and all(refresh["same_result"].values())
    assert refresh["ratio"] > 0 and refresh["appended_events"] > 0
    assert refresh["next_day"]["incremental"] and refresh["next_day_ratio"] > 0
    floor = refresh["floor"]  # copying the database plus fingerprinting the events
    assert floor["copy_seconds"] > 0 and floor["fingerprint_seconds"] > 0
    assert floor["seconds"] == pytest.approx(floor["copy_seconds"] + floor["fingerprint_seconds"])
    assert "Incremental refresh: one more day of events" in (out / "RESULTS.md").read_text(
        encoding="utf-8")
    for run in (refresh["refresh"], refresh["next_day"]):
        # the steps add up to the refresh as the child timed it (from before loading the
        # templates to the return)
        steps = run["steps"]
        assert sum(steps.values()) <= run["seconds"]
        assert sum(steps.values()) == pytest.approx(run["seconds"], rel=0.05)
        assert "`customer_daily_activity` (from the first new day)" in steps
        assert "`customer_periods` (closed periods kept)" in steps
        assert all(s >= 0 for s in steps.values())
    assert "Where the refresh time goes" in (out / "RESULTS.md").read_text(encoding="utf-8")

    comparison = size["comparison"]
    assert set(comparison["same_result"].values()) == {True}, comparison
    assert all(s > 0 for s in comparison["seconds"].values())
    assert comparison["fastest"] in comparison["seconds"]

    metrics = data["metric_functions"]["metrics"]
    assert set(metrics) == {"crr", "nrr"}
    for m in metrics.values():
        assert m["same_result"]
        assert all(s > 0 for s in m["seconds"].values())
        assert m["arrow_vs_inline"] > 0 and m["macro_vs_inline"] > 0
    assert data["growth"] is None  # one size: nothing to grow from
    # the timed children kept their compiled bytecode, as an installed package has it
    assert any((tmp_path / "data" / "pycache").rglob("runner*.pyc"))


def test_children_keep_their_bytecode(monkeypatch, tmp_path):
    from saas_retention.bench.measure import child_env

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = child_env(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")


def test_refresh_steps_split_the_refresh_between_its_messages():
    from saas_retention.bench.incremental import refresh_steps

    steps = refresh_steps([
        (1.0, "copied db.duckdb (12 MiB) to refresh the copy in 0.60 s"),
        (1.5, "read the source in 0.50 s"),
        (1.75, "fingerprinted the source's events by day in 0.25 s"),
        (1.8, "incremental refresh from 2025-12-30: 2 new days of events"),
        (2.0, "checked and staged the source (the events from 2025-12-30 on) in 0.20 s"),
        (2.5, "staged 10 event rows from 2025-12-30 on (of 99 in the source)"),
        (3.0, "refreshed customer_daily_activity from 2025-12-30: 5 rows in 0.40 s"),
        (4.0, "kept customer_periods before 2025-12-01: recomputed the rest in 0.9 s"),
        (4.5, "built retention_curves: 7 rows in 0.50 s"),
        (4.75, "refreshed customer_value for 3 customers whose inputs changed or whose row "
               "as_of may change (x) in 0.2 s"),
        (5.0, "something new"),
        (6.0, ""),
    ])
    assert steps == {
        "start (load the templates), copy the database (a refresh is swapped in whole)": 1.0,
        "read the source": 0.5,
        "fingerprint every source event day": 0.25,
        "compare with the refresh state, decide": pytest.approx(0.05),
        "check and stage the source (events: the window)": pytest.approx(0.2),
        "replace the window in the stored staged events": 0.5,
        "`customer_daily_activity` (from the first new day)": 0.5,
        "`customer_periods` (closed periods kept)": 1.0,
        "`retention_curves` (in full)": 0.5,
        "`customer_value` (changed customers)": 0.25,
        "something new": 0.25,
        "after the models: manifest, drop staging, checkpoint, swap": 1.0,
    }


def test_parse_sizes():
    assert parse_sizes("10k,100k,1m") == [10_000, 100_000, 1_000_000]
    assert parse_sizes(" 2.5k , 7 ") == [2_500, 7]
    for bad in ("", "ten", "1.5", "0", "-3k"):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_bad_sizes_are_a_usage_error():
    result = CliRunner().invoke(main, ["bench", "--sizes", "lots"])
    assert result.exit_code == 2
    assert "not a size" in result.output
