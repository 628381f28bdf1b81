"""``cohort_value`` built inside a warehouse (SQL, a client-side sBG fit, SQL) gives the DuckDB
build's rows: same α, β and log-likelihood (the same fitting code on the same survivor
curves), same projections (the template's formula with the same C lgamma)."""

from __future__ import annotations

import sqlite3

import pytest
from engines import DuckDBEngine, PostgresEngine, SQLiteEngine, engine_cases, pg_url
from sqlglot import exp
from test_warehouse import (
    CASES,
    SUB_COLUMNS,
    SUBSCRIPTION_INPUTS,
    assert_same,
    engine_rows,
    reference,
)

from saas_retention.builders.warehouse.value import fit_rows, projection_model
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.relations.graph import warehouse_models

KEY = ["cohort_period_index", "period_number"]


def _compare(ref_db, engine, name, label):
    ref = DuckDBEngine(str(ref_db))
    try:
        expected = engine_rows(ref, "cohort_value", KEY)
        got = engine_rows(engine, name, KEY)
    finally:
        ref.close()
    alpha = expected[0].index("alpha")
    assert any(r[alpha] is not None for r in expected[1]), "no cohort was fitted"
    assert_same(expected, got, label)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cohort_value_built_in_sqlite_matches_duckdb(tmp_path, case):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, customer_columns, as_of = CASES[case]()
    db, _ = reference(tmp_path, tables, customer_columns, as_of)
    path = tmp_path / "warehouse.sqlite"
    engine = SQLiteEngine()
    engine.con.close()
    engine.con = sqlite3.connect(path)
    try:
        engine.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
        if customer_columns:
            engine.load("customers", customer_columns, tables["customers"])
        engine.con.commit()
        result = build_on_warehouse(f"sqlite:///{path}", parse_settings({"as_of": as_of}))
        assert "cohort_value" in result.models and "cohort_value" not in result.skipped
        assert set(result.models) == {*warehouse_models(inputs=SUBSCRIPTION_INPUTS), "cohort_value"}
        _compare(db, engine, "cohort_value", f"sqlite-build/{case}/cohort_value")
    finally:
        engine.close()


@pytest.mark.postgres
def test_cohort_value_built_in_postgres_matches_duckdb(tmp_path, request):
    pytest.importorskip("sqlalchemy")
    dsn = request.getfixturevalue("pg_dsn")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, customer_columns, as_of = CASES["demo"]()
    db, _ = reference(tmp_path, tables, customer_columns, as_of)
    engine = PostgresEngine(dsn)
    try:
        engine.execute("drop schema if exists value_src cascade")
        engine.execute("drop schema if exists value_out cascade")
        engine.execute("create schema value_src")
        engine.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
        engine.execute('alter table "subscriptions" set schema value_src')
        result = build_on_warehouse(pg_url(dsn), parse_settings({"as_of": as_of}),
                                    schema="value_src", target_schema="value_out")
        assert result.models["cohort_value"] > 0
        _compare(db, engine, 'value_out"."cohort_value', "postgres/cohort_value")
    finally:
        engine.close()


def test_fit_rows_leave_unfittable_cohorts_null():
    # one cohort with a churn curve, one without churn (degenerate), one never observed
    grid = [(1, 0, 100.0), (1, 1, 80.0), (1, 2, 66.0), (1, 3, None),
            (2, 0, 10.0), (2, 1, 10.0),
            (3, 0, None)]
    rows = {(r[0], r[1]): r for r in fit_rows(grid, 0.01)}
    assert len(rows) == len(grid)
    first = rows[(1, 3)]
    assert first[2] is not None and first[3] is not None
    assert rows[(1, 0)][5] == pytest.approx(1.0, rel=1e-12)
    assert 0 < first[5] < rows[(1, 2)][5] < 1  # projections continue past as_of
    assert first[6] == pytest.approx(first[5] / 1.01 ** 3, rel=1e-12)
    assert rows[(3, 0)][2:] == (None,) * 5


def test_projection_model_reads_the_fits_relation():
    model = projection_model(load_catalog())
    assert "cohort_value_fits" in model.relations
    assert "sbg_fit" not in model.sql.lower()
    assert "sbg_survival(" not in model.sql.lower()


# On Spark the demo only: its cohorts are the ones the fit has enough customers for.
@pytest.mark.parametrize(("engine_name", "case"), engine_cases(
    ["clickhouse", pytest.param("spark", marks=pytest.mark.slow)], ["demo", "edges"],
    spark_cases={"demo"}))
def test_cohort_value_steps_on_engine_match_duckdb(tmp_path, request, engine_name, case):
    """The three steps a warehouse build runs for cohort_value — survivors in SQL, the sBG fit
    in the client, the projection in SQL over ``cohort_value_fits`` — on ClickHouse (chdb)
    and Spark, which the SQLAlchemy build cannot reach here: the engine's SQL of both steps
    gives the DuckDB build's rows."""
    from test_warehouse import make_engine

    from saas_retention.builders.warehouse.value import (
        FIT_COLUMNS,
        FITS,
        RELATIONS,
        discount_rate,
        projection_query,
        survivors_query,
    )
    from saas_retention.dialects import with_query_settings
    from saas_retention.relations.graph import relation_order, relation_sql
    from saas_retention.relations.target import Target

    tables, customer_columns, as_of = CASES[case]()
    db, _ = reference(tmp_path, tables, customer_columns, as_of)
    engine = make_engine(engine_name, request)
    try:
        engine.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
        if customer_columns:
            engine.load("customers", customer_columns, tables["customers"])
        target = Target(
            engine.dialect, parse_settings({"as_of": as_of}),
            dimensions=tuple(c for c, _ in (customer_columns or [])[1:]),
            has_customers=bool(customer_columns),
            optional_columns=frozenset({"end_date", "is_trial", "billing_interval",
                                        "cancel_reason"}),
        )
        for name in relation_order("cohort_value"):
            if name != "cohort_value":  # what it reads: RELATIONS and their inputs
                engine.materialise(name, relation_sql(name, target, pretty=False))
        assert set(RELATIONS) <= set(relation_order("cohort_value"))
        grid = engine.rows(with_query_settings(survivors_query(target), engine.dialect)
                           .sql(dialect=engine.dialect))[1]
        fits = [tuple(None if isinstance(v, float) and v != v or v in (float("inf"),
                                                                        float("-inf"))
                      else v for v in r)
                for r in fit_rows(grid, discount_rate(target))]
        assert fits, "no survivor curve to fit"
        # loaded as numbers, then typed as the build's own fits table (fits_table_ast)
        keys = ("cohort_period_index", "period_number")
        engine.load("fits_loaded", [*((c, "number") for c in (*keys, *FIT_COLUMNS))], fits)
        typed = exp.select(*(exp.alias_(exp.cast(exp.column(c), "BIGINT" if c in keys
                                                 else "DOUBLE"), c)
                             for c in (*keys, *FIT_COLUMNS))).from_("fits_loaded")
        engine.materialise(FITS, typed.sql(dialect=engine.dialect))
        engine.materialise("cohort_value", with_query_settings(
            projection_query(target), engine.dialect).sql(dialect=engine.dialect))
        _compare(db, engine, "cohort_value", f"{engine_name}/{case}/cohort_value")
    finally:
        engine.close()
