"""The Superset bundle, checked without Superset: structure, stable UUIDs, no credentials,
saved-metric SQL that runs, and every shipped chart's query — run by a small evaluator of the
saved query context on a built demo — giving the numbers of its ``check`` query.

The same charts run through a real Superset in tests/e2e/test_superset_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import zipfile

import duckdb
import pytest
import yaml
from sqlglot import exp, parse_one

from saas_retention.catalog.templates import load_catalog
from saas_retention.export.dist import ROOT, artefacts, generated_dirs
from saas_retention.superset_plugin.bundle import (
    DIGEST_KEY,
    GENERATED_DIR,
    LABEL_COLORS,
    Target,
    build_bundle,
    demo_bundle,
    load_dashboards,
    metric_bindings,
    percent_format,
    stable_uuid,
    stored_digest,
)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """A small demo built like `saas-retention demo` (fewer customers, same shape)."""
    from saas_retention.builders.duckdb.run import build
    from saas_retention.core.config import parse_settings
    from saas_retention.datagen.demo import generate

    folder = tmp_path_factory.mktemp("demo")
    end = dt.date(2025, 12, 31)
    generate(str(folder / "source.duckdb"), customers=300, months=24, end_date=end)
    database = folder / "saas_retention.duckdb"
    build(folder / "source.duckdb", parse_settings({"as_of": end}), database=database)
    return database


@pytest.fixture(scope="module")
def bundle(demo_db):
    return demo_bundle(demo_db)


@pytest.fixture(scope="module")
def con(demo_db):
    c = duckdb.connect(str(demo_db), read_only=True)
    yield c
    c.close()


# --- structure --------------------------------------------------------------------------------


def test_every_file_is_versioned_and_linked_by_uuid(bundle):
    datasets = {c["uuid"]: c for _k, _p, c in bundle.objects("datasets")}
    charts = {c["uuid"]: c for _k, _p, c in bundle.objects("charts")}
    (database,) = [c for _k, _p, c in bundle.objects("databases")]
    assert bundle.files["metadata.yaml"]["type"] == "assets"
    for _kind, _path, content in bundle.objects():
        assert content["version"] == "1.0.0"
    for ds in datasets.values():
        assert ds["database_uuid"] == database["uuid"]
    for chart in charts.values():
        assert chart["dataset_uuid"] in datasets
        json.loads(chart["query_context"])
    for _k, _p, board in bundle.objects("dashboards"):
        placed = [v["meta"]["uuid"] for v in board["position"].values()
                  if isinstance(v, dict) and v.get("type") == "CHART"]
        assert placed and all(u in charts for u in placed)
        for f in board["metadata"]["native_filter_configuration"]:
            for t in f["targets"]:
                assert not t or t["datasetUuid"] in datasets


def test_a_dataset_per_model_and_the_four_dashboards(bundle):
    catalog = load_catalog()
    models = {n for n, m in catalog.models.items() if m.dataset}
    assert "reporting_periods" in set(catalog.models) - models  # a spine, not a subject
    tables = {c["table_name"]: c for _k, _p, c in bundle.objects("datasets")}
    assert set(tables) == models
    for name, ds in tables.items():  # the certification names the template's real path
        path = ds["extra"]["certification"]["details"].split("(", 1)[1].split(")", 1)[0]
        assert (ROOT / path).is_file() and path.endswith(f"/{name}.sql"), path
    titles = {c["dashboard_title"] for _k, _p, c in bundle.objects("dashboards")}
    assert {"Retention", "Revenue", "Customer value", "Engagement"} <= titles
    assert not bundle.skipped


def test_uuids_are_stable_and_depend_on_the_name():
    a = stable_uuid("dataset", "db", "main", "retention")
    assert a == stable_uuid("dataset", "db", "main", "retention")
    assert a != stable_uuid("dataset", "other", "main", "retention")
    one = build_bundle(Target("warehouse", "postgres", schema="analytics"))
    two = build_bundle(Target("warehouse", "postgres", schema="analytics"))
    assert one.texts() == two.texts()


def test_demo_database_is_read_only_without_file_access_and_with_the_udf_plugin(bundle):
    (database,) = [c for _k, _p, c in bundle.objects("databases")]
    params = database["extra"]["engine_params"]
    assert params["connect_args"] == {"read_only": True, "config": {
        "enable_external_access": False, "lock_configuration": True}}
    assert params["plugins"] == ["saas_retention"]
    assert database["sqlalchemy_uri"].startswith("duckdb:////")
    assert not database["allow_dml"] and not database["allow_file_upload"]


def test_no_credentials_anywhere(bundle):
    for path, text in bundle.texts().items():
        low = text.lower()
        for word in ("password", "secret", "token", "access_key"):
            assert word not in low, f"{path} mentions {word}"
    assert not any(p.startswith("databases/") for p in build_bundle(
        Target("warehouse", "snowflake")).files)


def test_zip_and_directory_forms_hold_the_same_files(bundle, tmp_path):
    z = zipfile.ZipFile(io.BytesIO(bundle.zip_bytes("saas_retention")))
    names = {n.removeprefix("saas_retention/"): z.read(n).decode() for n in z.namelist()}
    assert names == bundle.texts()
    written = bundle.write_dir(tmp_path / "dir")
    assert {str(p.relative_to(tmp_path / "dir")) for p in written} == set(names)


def test_digests_change_with_the_definition_only(bundle, demo_db):
    again = demo_bundle(demo_db)
    for (kind, path, content), (_k, _p, other) in zip(bundle.objects(), again.objects(),
                                                       strict=True):
        assert stored_digest(kind, content) == stored_digest(kind, other), path
    _k, _p, chart = bundle.objects("charts")[0]
    assert chart["params"][DIGEST_KEY]


# --- saved metrics -----------------------------------------------------------------------------


def test_saved_metrics_come_from_the_superset_blocks(bundle):
    catalog = load_catalog()
    datasets = {c["table_name"]: c for _k, _p, c in bundle.objects("datasets")}
    for metric in catalog.metrics.values():
        for binding in metric_bindings(metric):
            if binding["dataset"] not in datasets:
                continue
            saved = {m["metric_name"]: m for m in datasets[binding["dataset"]]["metrics"]}
            m = saved[metric.name]
            assert m["verbose_name"] == metric.label
            if metric.unit == "percent":  # a fraction, so that d3 prints the "%"
                assert m["d3format"] == percent_format(metric.format) and "%" in m["d3format"]
                assert m["expression"].endswith("/ 100.0")
            else:
                assert m["d3format"] == metric.format
            assert m["warning_text"] == (metric.caveats or None)
            assert m["extra"]["certification"]["certified_by"] == "saas-retention"
            assert metric.sql in m["extra"]["certification"]["details"]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery", "tsql"])
def test_saved_metric_sql_is_in_the_target_dialect(dialect):
    b = build_bundle(Target("warehouse", dialect))
    (ds,) = [c for _k, _p, c in b.objects("datasets") if c["table_name"] == "retention"]
    crr = next(m for m in ds["metrics"] if m["metric_name"] == "crr")
    parse_one(crr["expression"], read=dialect)  # valid in its dialect
    assert "sum(customers_start)" in crr["expression"].lower()


def test_every_saved_metric_runs_on_the_built_demo(bundle, con):
    for _k, _p, ds in bundle.objects("datasets"):
        exprs = ", ".join(m["expression"] for m in ds["metrics"])
        con.execute(f'select {exprs} from "{ds["table_name"]}"').fetchall()


def test_crr_from_customer_periods_equals_the_retention_model(con):
    """The customer_periods bindings reproduce the retention model period by period."""
    catalog = load_catalog()
    from saas_retention.catalog.compile import metric_expression

    names = ["crr", "customer_churn_rate", "nrr", "grr", "quick_ratio", "arpa", "arr",
             "retention_rate", "gross_mrr_churn", "net_mrr_churn"]
    sql = []
    for name in names:
        (binding,) = [b for b in metric_bindings(catalog.metrics[name])
                      if b["dataset"] == "customer_periods"]
        sql.append(metric_expression(name, binding["args"]).sql("duckdb") + f" as {name}")
    got = con.execute(f"select date_month, {', '.join(sql)} from customer_periods "
                      "group by 1 order by 1").fetchall()
    want = con.execute(f"select date_month, {', '.join(n if n != 'retention_rate' else 'net_customer_growth' for n in names)} "  # noqa: E501
                       "from retention order by 1").fetchall()
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[0] == w[0]
        for a, b in zip(g[1:], w[1:], strict=True):
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9), (g, w)


# --- charts: the saved query context, evaluated ------------------------------------------------

GRAIN_UNITS = {"P1D": "day", "P1W": "week", "P1M": "month", "P3M": "quarter", "P1Y": "year"}


def _column_sql(column) -> tuple[str, str]:
    if isinstance(column, str):
        return f'"{column}"', column
    expr = column["sqlExpression"]
    if column.get("timeGrain"):
        expr = f"date_trunc('{GRAIN_UNITS[column['timeGrain']]}', {expr})"
    return expr, column["label"]


def _metric_sql(metric, saved: dict[str, str]) -> tuple[str, str]:
    if isinstance(metric, str):
        return saved[metric], metric
    if metric["expressionType"] == "SIMPLE":
        return f'{metric["aggregate"]}("{metric["column"]["column_name"]}")', metric["label"]
    return metric["sqlExpression"], metric["label"]


def run_query_context(con, query_context: dict, table: str, saved: dict[str, str],
                      calculated: dict[str, str] | None = None) -> list:
    """What Superset's SQL for this query object returns (rows as dicts), for the subset of
    features the shipped charts use: x axis with time grain, group by (calculated columns
    too), saved and ad-hoc metrics, simple filters."""
    (query,) = query_context["queries"]
    calculated = calculated or {}
    cols = []
    for c in query["columns"]:
        name = c if isinstance(c, str) else c["sqlExpression"]
        if name in calculated and (isinstance(c, str) or c.get("isColumnReference")):
            cols.append((f"({calculated[name]})", name))
        else:
            cols.append(_column_sql(c))
    mets = [_metric_sql(m, saved) for m in query["metrics"]]
    select = [f'{e} as "{label}"' for e, label in cols + mets]
    where = []
    for f in query["filters"]:
        if f["op"] == "TEMPORAL_RANGE":
            assert f["val"] == "No filter"
            continue
        value = exp.convert(f["val"]).sql("duckdb")
        where.append(f'"{f["col"]}" {f["op"]} {value}')
    sql = f'select {", ".join(select)} from "{table}"'
    if where:
        sql += " where " + " and ".join(where)
    if mets and cols:
        sql += " group by " + ", ".join(str(i + 1) for i in range(len(cols)))
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _key(value):
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def compare_rows(got: list[dict], want: list[dict], keys: list[str], where: str) -> None:
    assert got and len(got) == len(want), f"{where}: {len(got)} rows, expected {len(want)}"
    index = {tuple(_key(r[k]) for k in keys): r for r in want}
    for row in got:
        key = tuple(_key(row[k]) for k in keys)
        assert key in index, f"{where}: unexpected row {key}"
        for name, value in row.items():
            if name in keys:
                continue
            expected = index[key][name]
            if value is None or expected is None:
                assert value is None and expected is None, (where, key, name, value, expected)
            elif isinstance(expected, str | dt.date):
                assert _key(value) == expected, (where, key, name, value, expected)
            else:
                assert math.isclose(float(value), float(expected), rel_tol=1e-9,
                                    abs_tol=1e-9), (where, key, name, value, expected)


def chart_cases():
    return [(board["name"], chart) for board in load_dashboards() for chart in board["charts"]]


@pytest.mark.parametrize("board, spec", chart_cases(), ids=lambda v: v if isinstance(v, str)
                         else v["name"])
def test_chart_query_gives_the_check_numbers(board, spec, bundle, con):
    charts = {c["slice_name"]: c for _k, _p, c in bundle.objects("charts")}
    chart = charts[spec["title"]]
    datasets = {c["uuid"]: c for _k, _p, c in bundle.objects("datasets")}
    ds = datasets[chart["dataset_uuid"]]
    saved = {m["metric_name"]: m["expression"] for m in ds["metrics"]}
    calculated = {c["column_name"]: c["expression"] for c in ds["columns"] if c["expression"]}
    query_context = json.loads(chart["query_context"])
    got = run_query_context(con, query_context, ds["table_name"], saved, calculated)
    cursor = con.execute(spec["check"])
    names = [d[0] for d in cursor.description]
    want = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    keys = [_column_sql(c)[1] for c in query_context["queries"][0]["columns"]]
    if not query_context["queries"][0]["metrics"]:  # a raw table: the first column is the key
        keys = keys[:1]
    compare_rows(got, want, keys, f"{board}/{spec['name']}")


def test_semantic_colours_reach_the_names_superset_looks_them_up_by(bundle):
    """Superset's timeseries charts look a series' colour up by the column or saved metric its
    label stands for in the dataset's verbose map: each dashboard maps those names too, so
    negative sentiment is red, not the scheme's third colour (green)."""
    boards = {c["slug"].rsplit("-demo-", 1)[1]: c["metadata"]["label_colors"]
              for _k, _p, c in bundle.objects("dashboards")}
    red, green, blue = LABEL_COLORS["Churn"], LABEL_COLORS["New"], LABEL_COLORS[
        "Customer retention rate (CRR)"]
    voice = boards["voice-of-the-customer"]
    assert (voice["Negative"], voice["negative"], voice["positive"]) == (red, red, green)
    retention = boards["retention"]
    assert (retention["crr"], retention["customer_churn_rate"]) == (blue, red)
    for colours in boards.values():  # the labels themselves stay, whatever else is added
        assert LABEL_COLORS.items() <= colours.items()


def test_dashboard_definitions_are_consistent():
    boards = load_dashboards()
    assert [b["name"] for b in boards][:4] == ["retention", "revenue", "customer_value",
                                               "engagement"]
    for board in boards:
        for chart in board["charts"]:
            assert chart.get("check"), f"{chart['name']} has no check query"


def test_benchmark_is_attached_to_weekly_usage_retention(bundle):
    charts = {c["slice_name"]: c for _k, _p, c in bundle.objects("charts")}
    curve = next(c for t, c in charts.items() if "35 % week-8" in t)
    labels = [m["label"] for m in curve["params"]["metrics"]]
    assert "Benchmark: 35 % at week 8" in labels
    nrr = next(c for t, c in charts.items() if t.startswith("NRR and GRR, trailing 12"))
    (layer,) = nrr["params"]["annotation_layers"]
    assert layer["annotationType"] == "FORMULA" and layer["value"] == "1"  # 100 % as a fraction


# --- committed copy and command line -------------------------------------------------------------


def test_no_stale_generated_files():
    made = set(artefacts())
    for folder in generated_dirs():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                assert path.relative_to(ROOT) in made, (
                    f"{path} is no longer generated; run `python -m saas_retention.generate`")
    assert any(str(p).startswith(str(GENERATED_DIR)) for p in made)


def test_committed_demo_bundle_loads_as_yaml():
    for path in (ROOT / GENERATED_DIR).rglob("*.yaml"):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))


def test_usage_retention_metric_ignores_future_cells(con):
    """Dragged onto event_retention by week_number, the saved metric equals the retention of
    the cohorts observed that far (future cells are NULL and must not dilute it)."""
    from saas_retention.catalog.compile import metric_expression

    (binding,) = [b for b in metric_bindings(load_catalog().metrics["usage_retention"])
                  if b["dataset"] == "event_retention"]
    expression = metric_expression("usage_retention", binding["args"]).sql("duckdb")
    got = dict(con.execute(f"select week_number, {expression} from event_retention "
                           "group by 1").fetchall())
    rows = con.execute("select week_number, cohort_size, retained_customers "
                       "from event_retention").fetchall()
    for week in (0, 8, 52):
        observed = [(size, kept) for w, size, kept in rows if w == week and kept is not None]
        want = 100 * sum(k for _, k in observed) / sum(s for s, _ in observed)
        assert math.isclose(got[week], want, rel_tol=1e-9), (week, got[week], want)


def test_per_customer_models_add_up_to_the_period_models_and_split_by_plan(con):
    """cohort_customers and trailing_year_customers (which let the cohort heatmap and the
    12-month NRR follow the Plan filter) sum to cohort_retention / retention, and one plan's
    12-month NRR equals a hand computation over customer_periods."""
    diff = con.execute("""
        select count(*) from (
            select cohort_month, period_number, count(*) as size, sum(is_retained) as kept
            from cohort_customers group by all) as mine
        full join cohort_retention as theirs using (cohort_month, period_number)
        where theirs.retained_customers is not null
            and (mine.kept is distinct from theirs.retained_customers
                 or mine.size is distinct from theirs.cohort_size)""").fetchone()[0]
    assert diff == 0
    assert con.execute("select count(*) from cohort_retention where retained_customers is null "
                       "and (cohort_month, period_number) in (select cohort_month, "
                       "period_number from cohort_customers)").fetchone()[0] == 0
    nrr = dict(con.execute("select date_month, 100 * sum(mrr_now_12m) / sum(mrr_base_12m) "
                           "from trailing_year_customers group by 1").fetchall())
    want = dict(con.execute("select date_month, nrr_12m from retention "
                            "where nrr_12m is not null").fetchall())
    assert nrr.keys() == want.keys() and all(math.isclose(nrr[k], want[k]) for k in want)
    plan = con.execute("select plan from customer_periods where plan is not null "
                       "limit 1").fetchone()[0]
    mrr = {(c, i): float(m) for c, i, m in con.execute(
        "select customer_id, period_index, mrr from customer_periods where plan = ?",
        [plan]).fetchall()}
    got = dict(con.execute("select period_index, sum(mrr_now_12m) / sum(mrr_base_12m) from "
                           "trailing_year_customers where plan = ? group by 1", [plan]).fetchall())
    for period, value in got.items():
        base = {c: m for (c, i), m in mrr.items() if i == period - 12 and m > 0}
        now = sum(mrr.get((c, period), 0.0) for c in base)
        assert math.isclose(value, now / sum(base.values())), (plan, period)
