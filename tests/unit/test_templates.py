"""The single-source definitions: loader rules, inlining, macros equal to inlined SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from saas_retention.catalog.compile import compile_model, metric_expression
from saas_retention.catalog.templates import (
    Catalog,
    derived_args,
    load_catalog,
    load_metrics,
    load_models,
    validate,
)
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import TemplateError
from saas_retention.core.params import model_params
from saas_retention.core.periods import period_index, period_start
from saas_retention.dialects.periods import period_index_sql
from saas_retention.udfs import call, macro_sql, register

REQUIRED_METRICS = {"crr", "retention_rate", "customer_churn_rate", "nrr", "grr",
                    "gross_mrr_churn", "net_mrr_churn", "quick_ratio", "arpa"}


def test_catalog_loads_and_validates():
    catalog = load_catalog()
    assert REQUIRED_METRICS <= set(catalog.metrics)
    assert {"customer_periods", "retention", "mrr_movements", "cohort_retention"} <= set(
        catalog.models)
    order = catalog.model_order()
    assert order.index("customer_periods") < order.index("retention")
    for m in catalog.metrics.values():
        assert m.label and m.description and m.format and m.direction


def test_every_declared_model_column_is_produced(tmp_path):
    # the metadata documents exactly the columns the built tables have, in order; the demo
    # generator's source has every contract table, so every model is built
    from saas_retention.builders.duckdb.run import build
    from saas_retention.datagen.demo import generate

    src = tmp_path / "src.duckdb"
    generate(str(src), customers=60, months=14, seed=3, end_date=dt.date(2024, 12, 31))
    db = tmp_path / "m.duckdb"
    result = build(src, parse_settings({"as_of": dt.date(2024, 12, 31)}), database=db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for model in load_catalog().models.values():
            assert model.name in result.models, result.skipped
            produced = [r[0] for r in con.execute(f'describe "{model.name}"').fetchall()]
            declared = [c.replace("period", "month") if c in ("date_period", "cohort_period")
                        else c for c in model.columns]
            dims = result.staging.dimensions if "sr_dimensions" in model.sql else []
            assert produced == declared + dims, model.name
    finally:
        con.close()


def test_models_live_in_folders_by_layer_and_area():
    catalog = load_catalog()
    layers = {m.path.split("/")[0] for m in catalog.models.values()}
    assert layers == {"intermediate", "marts"}
    for model in catalog.models.values():
        assert model.path.rsplit("/", 1)[-1] == model.name
        assert model.path.startswith("marts/") == (model.path.count("/") == 2), model.path
    assert catalog.models["reporting_periods"].path == "intermediate/reporting_periods"
    assert catalog.models["retention"].path == "marts/retention/retention"
    assert list(catalog.models) == sorted(catalog.models)  # docs and logs list them by name


def _model_files(folder, path, name, sql="select 1 as x"):
    (folder / path).mkdir(parents=True, exist_ok=True)
    (folder / path / f"{name}.yml").write_text(
        f"name: {name}\ndescription: d\ngrain: g\ncolumns: {{x: x}}\n", encoding="utf-8")
    (folder / path / f"{name}.sql").write_text(sql, encoding="utf-8")


def test_loader_reads_subfolders_and_rejects_ambiguity(tmp_path):
    _model_files(tmp_path, "intermediate", "a")
    _model_files(tmp_path, "marts/x", "b", "select x from a")
    models = load_models(tmp_path)
    assert {n: m.path for n, m in models.items()} == {"a": "intermediate/a", "b": "marts/x/b"}
    assert models["b"].relations == {"a"}
    _model_files(tmp_path, "marts/y", "a")
    with pytest.raises(TemplateError, match="'a' is defined twice"):
        load_models(tmp_path)
    for suffix in (".sql", ".yml"):
        (tmp_path / "marts/y" / f"a{suffix}").unlink()
    (tmp_path / "marts/x/c.sql").write_text("select 1 as x", encoding="utf-8")
    with pytest.raises(TemplateError, match="without a .yml: marts/x/c.sql"):
        load_models(tmp_path)
    (tmp_path / "marts/x/c.sql").unlink()
    (tmp_path / "marts/x/b.sql").unlink()
    with pytest.raises(TemplateError, match="no marts/x/b.sql"):
        load_models(tmp_path)


def test_superset_arguments_derive_from_the_template_call():
    catalog = load_catalog()
    nrr = catalog.metrics["nrr"]
    (binding,) = [b for b in catalog.superset_bindings(nrr) if b["dataset"] == "retention"]
    assert binding["args"] == (
        "sum(mrr_start)", "sum(mrr_start) + sum(expansion_mrr) + sum(contraction_mrr) "
        "+ sum(churned_mrr)")
    # an input projected next to the call is summed under its output name
    (binding,) = catalog.superset_bindings(catalog.metrics["adoption_rate"])
    assert binding["args"] == ("sum(feature_customers)", "sum(active_customers)")
    # the template is the one place: changing the call changes the saved metric
    model = catalog.models["retention"]
    changed = dataclasses.replace(model, sql=model.sql.replace(
        "nrr(mrr_start, mrr_start + expansion_mrr", "nrr(mrr_end, mrr_start + expansion_mrr"))
    args = derived_args(nrr, changed, "nrr")
    assert args[0].sql("duckdb") == "SUM(mrr_end)"


@pytest.mark.parametrize(("metric", "column", "message"), [
    ("nrr", "grr", "0 calls of nrr"),
    ("grr", "grr_12m", "mrr_now_capped_12m is not a column of retention"),
])
def test_superset_binding_rules(metric, column, message):
    catalog = load_catalog()
    broken = dataclasses.replace(catalog.metrics[metric],
                                 superset={"dataset": "retention", "column": column})
    with pytest.raises(TemplateError, match=message):
        validate(Catalog({**catalog.metrics, metric: broken}, catalog.models))
    both = dataclasses.replace(catalog.metrics[metric], superset={
        "dataset": "retention", "column": metric, "args": ["sum(mrr_start)"]})
    with pytest.raises(TemplateError, match="not both or neither"):
        validate(Catalog({**catalog.metrics, metric: both}, catalog.models))


def _broken(**changes):
    catalog = load_catalog()
    metrics = dict(catalog.metrics)
    name = changes.pop("name", "crr")
    metrics[name] = dataclasses.replace(metrics[name], **changes)
    return Catalog(metrics, catalog.models)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"args": ("customers_start", "customers_end", "customers_new", "extra")},
         "arguments never used"),
        ({"args": ("customers_start", "customers_end")}, "undeclared arguments"),
        ({"sql": "crr(customers_start, customers_end, customers_new)"}, "calls itself"),
    ],
)
def test_metric_rules(changes, message):
    with pytest.raises(TemplateError, match=message):
        validate(_broken(**changes))


def test_duplicate_metric_names_rejected():
    text = "- {name: a, label: A, description: d, args: [x], sql: x}\n" * 2
    with pytest.raises(TemplateError, match="defined twice"):
        load_metrics(text)


def test_model_rules():
    catalog = load_catalog()
    model = catalog.models["retention"]
    bad = dataclasses.replace(model, sql=model.sql.replace("from reporting_periods",
                                                           "from reporting_period"))
    with pytest.raises(TemplateError, match="unknown relations"):
        validate(Catalog(catalog.metrics, {**catalog.models, "retention": bad}))
    bad = dataclasses.replace(model, params=())
    with pytest.raises(TemplateError, match="parameters declared"):
        validate(Catalog(catalog.metrics, {**catalog.models, "retention": bad}))
    bad = dataclasses.replace(model, sql=model.sql.replace("arpa(mrr_end", "arpu(mrr_end"))
    with pytest.raises(TemplateError, match="unknown function 'arpu'"):
        validate(Catalog(catalog.metrics, {**catalog.models, "retention": bad}))


def test_inlining_keeps_precedence():
    e = metric_expression("crr", ["a - b", "c", "d + e"])
    assert e.sql("duckdb") == (
        "(100 * (CAST((c - (d + e)) AS DOUBLE) / NULLIF(CAST((a - b) AS DOUBLE), 0)))")


def test_compiled_models_contain_no_metric_calls_or_placeholders():
    names = set(load_catalog().metrics)
    for model in load_catalog().models.values():
        sql = compile_model(model, params=model_params(parse_settings({})))
        tree = sqlglot.parse_one(sql, read="duckdb")
        assert not list(tree.find_all(sqlglot.exp.Placeholder))
        calls = {f.name.lower() for f in tree.find_all(sqlglot.exp.Anonymous)}
        assert not calls & names


def test_grain_names_the_date_columns():
    sql = compile_model("cohort_retention", grain="week")
    assert "AS cohort_week" in sql and "cohort_month" not in sql


# -- macros ---------------------------------------------------------------------------------

CASES = {
    "crr": ([100, 0, 10, None], [95, 5, 12, 3], [5, 5, 4, 1]),
    "customer_churn_rate": ([5, 0, 3], [100, 0, 0]),
    "nrr": ([1000.0, 0.0, 500.0], [1100.0, 50.0, 400.0]),
    "grr": ([1000.0, 0.0], [900.0, 0.0]),
    "quick_ratio": ([10.0, 0], [5.0, 0], [1.0, 0], [-4.0, 0], [-4.0, 0]),
    "arpa": ([1000.0, 0.0], [10, 0]),
    "net_mrr_churn": ([50.0], [-10.0], [-20.0], [1000.0]),
}
EXPECTED = {
    "crr": [90.0, None, 80.0, None],
    "customer_churn_rate": [5.0, None, None],
    "nrr": [110.0, None, 80.0],
    "grr": [90.0, None],
    "quick_ratio": [2.0, None],
    "arpa": [100.0, None],
    "net_mrr_churn": [-2.0],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_macro_and_python_call_agree_with_hand_values(name):
    args = CASES[name]
    con = duckdb.connect()
    try:
        register(con, arrow=False)
        register(con, arrow=False)  # idempotent
        rows = list(zip(*args, strict=False))
        placeholders = ", ".join("?" for _ in args)
        got = [con.execute(f"select {name}({placeholders})", list(r)).fetchall()[0][0]
               for r in rows]
    finally:
        con.close()
    expected = EXPECTED[name]
    assert [g is None for g in got] == [e is None for e in expected]
    values = [e for e in expected if e is not None]
    assert [g for g in got if g is not None] == pytest.approx(values)
    assert call(name, *args).to_pylist() == got


def test_division_by_zero_is_null_never_infinity():
    con = duckdb.connect()
    try:
        register(con, arrow=False)
        row = con.execute("select safe_divide(1, 0), safe_divide(0.0, 0.0), pct(1, 0), "
                          "nrr(0, 10), quick_ratio(1, 1, 1, 0, 0)").fetchall()[0]
    finally:
        con.close()
    assert row == (None, None, None, None, None)


def test_macros_work_on_more_rows_than_a_vector():
    n = duckdb.__standard_vector_size__ * 3 + 7
    con = duckdb.connect()
    try:
        register(con, arrow=False)
        got = con.execute(f"select count(*), sum(crr(i + 1, i + 1, 0)) from range({n}) t(i)"
                          ).fetchall()[0]
    finally:
        con.close()
    assert got == (n, pytest.approx(100.0 * n))


def test_macro_statements_are_generated_from_definitions():
    statements = macro_sql()
    assert len(statements) == len(load_catalog().metrics)
    assert any(s.startswith("CREATE OR REPLACE MACRO crr(customers_start, customers_end, "
                            "customers_new)") for s in statements)


# -- the period index: Python and SQL agree --------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(day=st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
       grain=st.sampled_from(["day", "week", "month", "quarter", "year"]),
       week_start=st.sampled_from(["monday", "sunday", "wednesday"]))
def test_period_index_python_and_sql_agree(day, grain, week_start):
    i = period_index(day, grain, week_start)
    assert period_start(i, grain, week_start) <= day < period_start(i + 1, grain, week_start)
    expr = period_index_sql(sqlglot.exp.cast(sqlglot.exp.Literal.string(day.isoformat()),
                                             "DATE"), grain, week_start)
    got = duckdb.sql(f"select {expr.sql('duckdb')}").fetchall()[0][0]
    assert got == i


def test_week_start_is_respected():
    sunday = dt.date(2024, 6, 2)
    assert period_start(period_index(sunday, "week", "sunday"), "week", "sunday") == sunday
    assert period_start(period_index(sunday, "week", "monday"), "week", "monday") == \
        dt.date(2024, 5, 27)
