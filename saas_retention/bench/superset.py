"""What a shipped chart costs in Superset: ``saas-retention bench --superset``.

For each benchmark size the database the bench built is served by a real Apache Superset
(``superset run`` on 127.0.0.1, SQLite metadata, started once per bench run from the Superset
of this environment), the shipped bundle is installed on it through the REST API (the demo
bundle: datasets, saved metrics, charts, dashboards and the read-only DuckDB database entry with
the engine plugin), and every shipped chart's saved ``query_context`` is posted to
``/api/v1/chart/data`` with ``force`` set — Superset builds the SQL from the query context
itself, runs it on the database (no cache), post-processes the rows with pandas and serialises
the answer, as for a dashboard. One unmeasured warm-up round, then ``samples`` rounds over all
charts (round-robin, so whatever else runs on the machine spreads over every chart).

Beside each request's wall time the SQL Superset ran for the chart (the ``query`` of the
warm-up answer) is timed alone on a read-only DuckDB connection in this process: the part of the
request that grows with the data. The request minus the SQL is Superset's own work (HTTP,
permissions, query building, connecting, post-processing, JSON), about constant per chart.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["SupersetBench", "TARGET_P95_SECONDS", "markdown", "percentile", "summarize"]

DATABASE_NAME = "saas_retention_bench"
TARGET_P95_SECONDS = 0.5  # issue 18: every shipped chart's p95 at 1M customers
START_TIMEOUT_SECONDS = 240
SQL_SAMPLES = 3


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values`` by linear interpolation between the closest
    ranks (numpy's default, "type 7").

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    >>> round(percentile([0.1, 0.2, 0.3, 0.4, 1.0], 0.95), 3)
    0.88
    """
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(charts: dict[str, dict]) -> dict:
    """Per chart (``{name: {"dashboard", "dataset", "seconds": [...], "sql_seconds": [...],
    "rows"}}``) its p50, p95 and max, and over all charts the worst p95 and how many charts
    are over :data:`TARGET_P95_SECONDS`."""
    out = {}
    for name, c in charts.items():
        seconds = c["seconds"]
        sql = c.get("sql_seconds") or []
        out[name] = {
            **{k: v for k, v in c.items() if k not in ("seconds", "sql_seconds")},
            "samples": [round(s, 4) for s in seconds],
            "p50": percentile(seconds, 0.5),
            "p95": percentile(seconds, 0.95),
            "max": max(seconds),
            "sql_samples": [round(s, 4) for s in sql],
            "sql_best": min(sql) if sql else None,
        }
    worst = max(out, key=lambda n: out[n]["p95"]) if out else None
    return {
        "charts": out,
        "worst": worst,
        "worst_p95": out[worst]["p95"] if worst else None,
        "over_target": sorted((n for n, c in out.items() if c["p95"] > TARGET_P95_SECONDS),
                              key=lambda n: -out[n]["p95"]),
        "target_p95_seconds": TARGET_P95_SECONDS,
    }


# --------------------------------------------------------------------------------------------
# A Superset on 127.0.0.1
# --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SupersetBench:
    """One Superset served from ``folder`` for the whole bench run; :meth:`measure` installs
    the bundle on a built database and times every chart. ``metadata``: a migrated metadata
    folder (``superset.db``, ``secret_key``) and its admin password, copied instead of running
    ``superset db upgrade``, ``fab create-admin`` and ``init`` (the tests reuse theirs);
    ``charts``: only the charts of these titles (a quick look, or a test)."""

    def __init__(self, folder: Path, *, samples: int = 10,
                 metadata: tuple[Path, str] | None = None,
                 charts: Collection[str] | None = None,
                 say: Callable[[str], None] | None = None):
        from saas_retention.superset_plugin.demo import superset_executable

        self.exe = superset_executable()  # a clear error when Superset is not installed
        self.folder = Path(folder).resolve()
        self.samples = samples
        self.metadata = metadata
        self.charts_wanted = None if charts is None else set(charts)
        self.say = say or (lambda _m: None)
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.password = ""
        self.database = self.folder / "saas_retention.duckdb"
        self.timings: dict[str, float] = {}
        self.version = ""

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        from saas_retention.superset_plugin.demo import (
            SupersetMissing,
            init_superset,
            superset_env,
            write_config,
        )

        started = time.perf_counter()
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.metadata:
            template, self.password = self.metadata
            for name in ("secret_key", "superset.db"):
                shutil.copy2(Path(template) / name, self.folder / name)
            write_config(self.folder)
        else:
            self.say("db upgrade, create-admin, init")
            self.password = init_superset(self.folder, echo=lambda _m: None) or ""
            if not self.password:  # an admin made earlier in this folder: not ours to know
                raise SupersetMissing(f"{self.folder} already has a Superset admin; use an "
                                      "empty folder")
        self.timings["metadata_seconds"] = time.perf_counter() - started
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(self.folder / "superset.log", "w")  # noqa: SIM115 - closed in close()
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [self.exe, "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
            env=superset_env(self.folder), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.folder / "superset.log").read_text(errors="replace")[-2000:]
                self.close()
                raise SupersetMissing(f"Superset did not start on {self.url}:\n{tail}")
            time.sleep(0.5)
        self.timings["start_seconds"] = time.perf_counter() - started
        self.version = _superset_version()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self._log.close()

    def __enter__(self) -> SupersetBench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- one size -----------------------------------------------------------------------------
    def measure(self, built: Path) -> dict:
        """Move the database file ``built`` to the served path, install the bundle on it and
        time every chart (see the module docstring)."""
        from saas_retention.superset_plugin.bundle import demo_bundle
        from saas_retention.superset_plugin.install import (
            InstallReport,
            RestClient,
            apply_rest,
        )

        if self.proc is None:
            self.start()
        charts_wanted = self.charts_wanted
        os.replace(built, self.database)
        api = RestClient(self.url, "admin", self.password)
        started = time.perf_counter()
        bundle = demo_bundle(self.database, database_name=DATABASE_NAME)
        apply_rest(api, self._to_install(bundle, charts_wanted),
                   InstallReport(DATABASE_NAME, "duckdb", "main"))
        install_seconds = time.perf_counter() - started
        ids = {r["uuid"]: r["id"] for r in api.paged("/api/v1/chart/", ["id", "uuid"])}
        boards = {}
        for _k, _p, board in bundle.objects("dashboards"):
            for v in board["position"].values():
                if isinstance(v, dict) and v.get("type") == "CHART":
                    boards[str(v["meta"]["uuid"])] = board["dashboard_title"]
        datasets = {str(d["uuid"]): d["table_name"] for _k, _p, d in bundle.objects("datasets")}
        contexts, charts = {}, {}
        for _k, _p, chart in bundle.objects("charts"):
            name = chart["slice_name"]
            if charts_wanted is not None and name not in charts_wanted:
                continue
            saved = api.get(f"/api/v1/chart/{ids[chart['uuid']]}")["result"]["query_context"]
            contexts[name] = {**json.loads(saved), "force": True}
            charts[name] = {"dashboard": boards.get(chart["uuid"], ""),
                            "dataset": datasets[str(chart["dataset_uuid"])],
                            "seconds": [], "sql_seconds": []}
        if charts_wanted is not None and set(charts_wanted) - set(charts):
            from saas_retention.superset_plugin.install import InstallError

            raise InstallError(f"no shipped chart {sorted(set(charts_wanted) - set(charts))}")
        sqls = {}
        for name, context in contexts.items():  # warm-up, not counted; gives the SQL run
            _seconds, charts[name]["rows"], sqls[name] = _post(api, name, context)
        for i in range(self.samples):
            self.say(f"chart-data round {i + 1}/{self.samples}")
            for name, context in contexts.items():
                charts[name]["seconds"].append(_post(api, name, context)[0])
        for name, seconds in _time_sql(self.database, sqls).items():
            charts[name]["sql_seconds"] = seconds
        return {"superset": self.version, "samples": self.samples,
                "install_seconds": install_seconds, **self.timings, **summarize(charts)}


    @staticmethod
    def _to_install(bundle, charts_wanted):
        """The whole bundle; for a subset of the charts, only the database, those charts and
        their datasets (every dataset's column refresh is most of an install)."""
        if charts_wanted is None:
            return bundle
        charts = [(p, c) for _k, p, c in bundle.objects("charts")
                  if c["slice_name"] in charts_wanted]
        datasets = {str(c["dataset_uuid"]) for _p, c in charts}
        return bundle.subset([p for _k, p, _c in bundle.objects("databases")]
                             + [p for _k, p, c in bundle.objects("datasets")
                                if str(c["uuid"]) in datasets]
                             + [p for p, _c in charts])


def _superset_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apache-superset")
    except PackageNotFoundError:
        return "unknown"


def _post(api, name: str, context: dict) -> tuple[float, int, list[str]]:
    """(seconds, rows of the first query, the SQL of each query) of one chart-data request;
    a failed one is an error naming the chart."""
    from saas_retention.superset_plugin.install import InstallError

    started = time.perf_counter()
    status, body = api.post_chart_data(context)
    seconds = time.perf_counter() - started
    results = body.get("result") if isinstance(body, dict) else None
    failed = [r.get("error") for r in results or [] if r.get("error") or
              r.get("status") not in (None, "success")]
    if status != 200 or not results or failed:
        detail = failed[0] if failed else json.dumps(body)[:500]
        raise InstallError(f"chart {name!r}: chart data failed (HTTP {status}): {detail}")
    return seconds, int(results[0].get("rowcount") or 0), [r.get("query") for r in results]


def _time_sql(database: Path, sqls: dict[str, list[str]]) -> dict[str, list[float]]:
    """Best-of-:data:`SQL_SAMPLES` wall seconds of each chart's SQL on one read-only DuckDB
    connection with the Arrow UDFs registered (as the engine plugin opens Superset's)."""
    import duckdb

    from saas_retention.udfs.arrow import register_arrow_udfs

    con = duckdb.connect(str(database), read_only=True)
    try:
        register_arrow_udfs(con)
        out = {}
        for name, statements in sqls.items():
            seconds = []
            for _ in range(SQL_SAMPLES):
                started = time.perf_counter()
                for sql in statements:
                    if sql:
                        con.execute(sql).fetchall()
                seconds.append(time.perf_counter() - started)
            out[name] = seconds
        return out
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# The section of RESULTS.md
# --------------------------------------------------------------------------------------------
def markdown(entries: list[dict]) -> list[str]:
    """The "Superset chart data" section for the sizes that measured it (none: nothing)."""
    rows = [e for e in entries if e.get("superset")]
    if not rows:
        return []
    first = rows[0]["superset"]
    lines = [
        "",
        "## Superset chart data: every shipped chart",
        "",
        f"Apache Superset {first['superset']} served by `superset run` on 127.0.0.1 (SQLite "
        "metadata) from the database the build above made, with the shipped bundle installed "
        "on it (`saas_retention.superset_plugin.bundle.demo_bundle`: read-only DuckDB with the "
        "engine plugin). Each chart's saved `query_context` is posted to `/api/v1/chart/data` "
        "with `force: true`, so Superset builds the SQL itself, queries the database (no "
        "cache), post-processes and serialises the answer: the wall time of that HTTP request, "
        f"one warm-up round then {first['samples']} rounds over all charts. SQL s = the SQL "
        "Superset generated for the chart, run alone on a read-only DuckDB connection (best of "
        f"{SQL_SAMPLES}): the part that grows with the data; the rest is Superset's own work. "
        f"Target (issue 18): p95 ≤ {TARGET_P95_SECONDS} s for every chart at 1M customers.",
        "",
        "| customers | charts | **worst p95 s** | worst chart | median p50 s | charts over "
        f"{TARGET_P95_SECONDS} s | install s |",
        "|---:|---:|---:|---|---:|---:|---:|",
    ]
    for e in rows:
        s = e["superset"]
        p50s = [c["p50"] for c in s["charts"].values()]
        lines.append(
            f"| {e['customers']:,} | {len(s['charts'])} | **{s['worst_p95']:.3f}** "
            f"| {s['worst']} | {percentile(p50s, 0.5):.3f} | {len(s['over_target'])} "
            f"| {s['install_seconds']:.1f} |")
    sizes = [e["customers"] for e in rows]
    largest = rows[-1]["superset"]["charts"]
    order = sorted(largest, key=lambda n: -largest[n]["p95"])
    lines += [
        "",
        "Per chart, slowest first at the largest size (p50 / p95 of the requests; SQL = best "
        "SQL alone):",
        "",
        "| chart | dashboard | dataset | " + " | ".join(
            f"{n:,}: p50 s | {n:,}: p95 s | {n:,}: SQL s" for n in sizes) + " |",
        "|---|---|---|" + "---:|---:|---:|" * len(sizes),
    ]
    for name in order:
        c = largest[name]
        cells = []
        for e in rows:
            got = e["superset"]["charts"].get(name)
            if got is None:
                cells.append(" | | ")
                continue
            sql = "" if got.get("sql_best") is None else f"{got['sql_best']:.3f}"
            mark = "**" if got["p95"] > TARGET_P95_SECONDS else ""
            cells.append(f"{got['p50']:.3f} | {mark}{got['p95']:.3f}{mark} | {sql}")
        lines.append(f"| {name} | {c['dashboard']} | `{c['dataset']}` | " + " | ".join(cells)
                     + " |")
    over = rows[-1]["superset"]["over_target"]
    lines += ["", (f"At {sizes[-1]:,} customers {len(over)} chart(s) have a p95 over "
                   f"{TARGET_P95_SECONDS} s: {', '.join(over)}." if over else
                   f"At {sizes[-1]:,} customers every chart's p95 is within "
                   f"{TARGET_P95_SECONDS} s.")]
    return lines
