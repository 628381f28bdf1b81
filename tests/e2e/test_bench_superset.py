"""``saas-retention bench --superset`` through a real Superset 6.1, at a tiny size: the bench's
own source and build, the bundle installed over REST, chart-data requests timed and their SQL
run alone, the section in RESULTS.md. One chart per dashboard keeps it short; the metadata
database migrated once per test process (``superset_server``) is copied, not made again.

Needs Superset in this environment (``nox -s superset``); skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import time

import pytest

pytestmark = pytest.mark.superset

if importlib.util.find_spec("superset") is None:
    pytest.skip("Apache Superset is not installed here (pip install 'saas-retention[superset]'; "
                "nox -s superset runs these tests)", allow_module_level=True)

from superset_server import ARTIFACTS, _metadata_template  # noqa: E402

from saas_retention.bench import runner  # noqa: E402
from saas_retention.superset_plugin.bundle import load_dashboards  # noqa: E402


def test_bench_times_the_shipped_charts_in_superset(tmp_path):
    timings: dict[str, float] = {}

    def timed(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 2)

    metadata = _metadata_template(timed)
    # the first chart of each dashboard: every kind of dataset the dashboards start with
    charts = {board["charts"][0]["title"] for board in load_dashboards()}
    started = time.perf_counter()
    result = runner.run([300], months=6, udf_rows=0, compare=False, incremental=False,
                        data_dir=tmp_path / "data", superset=True, superset_samples=2,
                        superset_options={"metadata": metadata, "charts": charts})
    timed("bench --superset at 300 customers", started)
    [size] = result["sizes"]
    got = size["superset"]
    timings.update({f"of which {k}": round(v, 2) for k, v in (
        ("build", size["build"]["seconds"]), ("Superset start", got["start_seconds"]),
        ("install", got["install_seconds"]))})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "bench_timings.json").write_text(json.dumps(timings, indent=2))

    assert got["superset"].startswith("6.")
    assert set(got["charts"]) == charts
    for name, chart in got["charts"].items():
        assert len(chart["samples"]) == 2, name
        assert 0 < chart["p50"] <= chart["p95"] <= chart["max"], name
        assert chart["rows"] > 0, name  # the chart answered with data, not an empty frame
        # the SQL alone is part of the request
        assert 0 < chart["sql_best"] < chart["max"], name
    assert got["worst"] in charts
    assert got["worst_p95"] == max(c["p95"] for c in got["charts"].values())
    assert not any((tmp_path / "data").glob("bench-superset-*"))  # the server's folder is gone

    text = runner.markdown(result)
    assert "## Superset chart data: every shipped chart" in text
    for name in charts:
        assert f"| {name} |" in text
