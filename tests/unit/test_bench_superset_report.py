"""The pure parts of ``saas-retention bench --superset``: percentiles, the per-chart summary,
the RESULTS.md section, and the error when Superset is missing. The real Superset run is in
``tests/e2e/test_bench_superset.py`` (the ``superset`` tier)."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

from saas_retention.bench.runner import markdown as results_markdown
from saas_retention.bench.superset import TARGET_P95_SECONDS, markdown, percentile, summarize
from saas_retention.cli import main


@pytest.mark.parametrize(("values", "q", "want"), [
    ([3.0], 0.95, 3.0),
    ([1.0, 2.0], 0.5, 1.5),
    ([4.0, 1.0, 3.0, 2.0], 0.5, 2.5),  # unsorted input
    ([1.0, 2.0, 3.0, 4.0, 5.0], 0.0, 1.0),
    ([1.0, 2.0, 3.0, 4.0, 5.0], 1.0, 5.0),
    # rank 0.95 × (11 − 1) = 9.5: halfway between the 10th and 11th smallest
    ([float(i) for i in range(1, 11)] + [30.0], 0.95, 20.0),
    ([0.1, 0.2, 0.3, 0.4, 1.0], 0.95, 0.88),  # 0.4 + 0.8 × (1.0 − 0.4)
])
def test_percentile_interpolates_between_the_closest_ranks(values, q, want):
    assert percentile(values, q) == pytest.approx(want)


def test_percentile_refuses_nothing_and_bad_quantiles():
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def _chart(seconds, sql=(0.01,), dataset="customer_periods", dashboard="Retention"):
    return {"dashboard": dashboard, "dataset": dataset, "rows": 36,
            "seconds": list(seconds), "sql_seconds": list(sql)}


def _measured(charts: dict) -> dict:
    return {"superset": "6.1.0", "samples": 4, "install_seconds": 12.5,
            "metadata_seconds": 20.0, "start_seconds": 9.0, **summarize(charts)}


def test_summary_finds_the_worst_chart_and_those_over_the_target():
    charts = {
        "ARR": _chart([0.2, 0.3, 0.25, 0.2]),
        "Heatmap": _chart([0.4, 0.9, 0.5, 0.45], sql=(0.3, 0.2, 0.25), dataset="cohorts"),
        "Funnel": _chart([0.5, 0.6, 0.55, 0.52]),
    }
    got = summarize(charts)
    heat = got["charts"]["Heatmap"]
    assert heat["p50"] == pytest.approx(0.475)  # (0.45 + 0.5) / 2
    assert heat["p95"] == pytest.approx(0.5 + 0.85 * 0.4)  # rank 2.85 of 0.4 0.45 0.5 0.9
    assert heat["max"] == 0.9 and heat["sql_best"] == 0.2
    assert heat["dataset"] == "cohorts" and heat["rows"] == 36
    assert got["worst"] == "Heatmap" and got["worst_p95"] == pytest.approx(0.84)
    # both over 0.5 s, slowest first; ARR is within it
    assert got["over_target"] == ["Heatmap", "Funnel"]
    assert got["target_p95_seconds"] == TARGET_P95_SECONDS == 0.5


def test_section_names_every_chart_slowest_first_and_each_size():
    small = _measured({"ARR": _chart([0.2, 0.22]), "Heatmap": _chart([0.3, 0.32])})
    large = _measured({"ARR": _chart([0.25, 0.27]),
                       "Heatmap": _chart([0.6, 0.8], sql=(0.4,), dataset="cohorts")})
    lines = markdown([{"customers": 10_000, "superset": small},
                      {"customers": 100_000, "superset": large}])
    text = "\n".join(lines)
    assert "## Superset chart data: every shipped chart" in text
    assert "/api/v1/chart/data" in text and "force: true" in text
    assert "Apache Superset 6.1.0 served by `superset run` on 127.0.0.1" in text
    assert "| 100,000 | 2 | **0.790** | Heatmap |" in text
    assert "| 10,000 | 2 | **0.319** | Heatmap |" in text
    heat = next(i for i, line in enumerate(lines) if line.startswith("| Heatmap |"))
    arr = next(i for i, line in enumerate(lines) if line.startswith("| ARR |"))
    assert heat < arr  # slowest first
    # the large size's p95 over the target is bold; its SQL alone is shown
    assert lines[heat] == ("| Heatmap | Retention | `cohorts` | 0.310 | 0.319 | 0.010 "
                           "| 0.700 | **0.790** | 0.400 |")
    assert text.rstrip().endswith("1 chart(s) have a p95 over 0.5 s: Heatmap.")


def test_section_is_absent_without_superset_and_says_when_every_chart_is_fast():
    assert markdown([{"customers": 10}]) == []
    lines = markdown([{"customers": 10, "superset": _measured({"ARR": _chart([0.1])})}])
    assert lines[-1] == "At 10 customers every chart's p95 is within 0.5 s."


def test_results_markdown_includes_the_section():
    """RESULTS.md of a run with --superset carries the section after the others."""
    entry = {
        "customers": 300, "months": 3,
        "rows": {"events": 10, "subscriptions": 5},
        "baseline": {"seconds": 1.0, "cpu_seconds": 1.0},
        "build": {"seconds": 2.0, "staging_seconds": 0.5, "models_seconds": 1.0,
                  "templates_seconds": 0.1, "compile_seconds": 0.1, "prepare_seconds": 0.1,
                  "finish_seconds": 0.2, "peak_rss_bytes": 2**28, "models": {},
                  "cpu_seconds": 2.0},
        "storage_floor": {"seconds": 1.0, "tables": 3, "rows": 10, "bytes": 2**20},
        "ratio_build_to_baseline": 2.0, "cpu_ratio_build_to_baseline": 2.0,
        "ratio_storage_to_baseline": 1.0, "ratio_build_to_storage": 2.0,
        "events_per_second": {"baseline": 10.0, "build": 5.0},
        "input_rows_per_second": {"build": 7.5},
        "load_average": {"before": [1.0, 1.0, 1.0], "after": [1.0, 1.0, 1.0]},
        "superset": _measured({"ARR": _chart([0.1, 0.2])}),
    }
    result = {"command": "saas-retention bench --superset", "started_at": "2026-12-07",
              "machine": {"nproc": 2, "cpu": "x", "memory_bytes": 2**30, "platform": "p",
                          "python": "3.11", "duckdb": "1", "pyarrow": "1", "numpy": "1",
                          "sqlglot": "1", "pandas": None},
              "parameters": {"months": 3, "end_date": "2025-12-31",
                             "events_per_customer_month": 10, "seed": 42, "repeat": 1},
              "sizes": [entry], "growth": None}
    text = results_markdown(result)
    assert "## Superset chart data: every shipped chart" in text
    assert "| ARR | Retention | `customer_periods` |" in text


def test_without_superset_the_flag_is_a_clear_error(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "superset" else real(name, *a))
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["bench", "--sizes", "300", "--superset", "--data",
                                       str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 5, result.output
    assert "Apache Superset is not installed" in result.output
    assert "pip install 'saas-retention[superset]'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not data.exists() or not any(data.iterdir())  # nothing generated or started


@pytest.mark.slow
def test_the_charts_get_the_first_build_whatever_the_repeat(tmp_path):
    """With --repeat above 1 the database of the first build (the one kept) is what the
    chart section serves, not the path of a later build that was deleted."""
    from saas_retention.bench.runner import _size

    class Charts:
        served: list = []

        def measure(self, built):
            Charts.served.append((built, built.is_file()))
            return {"worst_p95": 0.1, "worst": "a chart"}

    entry = _size(300, 3, 2.0, 42, 2, False, tmp_path, lambda m: None, incremental=False,
                  charts=Charts())
    [(built, existed)] = Charts.served
    assert built is not None and existed
    assert entry["superset"]["worst"] == "a chart" and len(entry["build"]["samples"]) == 2
