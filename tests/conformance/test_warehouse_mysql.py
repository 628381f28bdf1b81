"""The MySQL dialect on a real MariaDB server (started here on 127.0.0.1 in a temporary datadir):
every warehouse model gives DuckDB's rows, the shipped standalone queries run as-is, and
``build --source mysql+pymysql://…`` materialises the models in the server."""

from __future__ import annotations

import pytest
from engines import DuckDBEngine
from test_warehouse import (
    CASES,
    SUB_COLUMNS,
    SUBSCRIPTION_INPUTS,
    assert_same,
    edge_case,
    engine_rows,
    playbook_case,
    reference,
)
from test_warehouse_terms import AS_OF, edge_rows, engine_terms, python_terms, sweep_rows

from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.export.standalone import standalone_sql
from saas_retention.relations.graph import relation_order, relation_sql, warehouse_models
from saas_retention.relations.target import Target

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", sorted(CASES))
def test_models_match_duckdb_on_mariadb(tmp_path, mysql, case):
    tables, customer_columns, as_of = CASES[case]()
    db, _ = reference(tmp_path, tables, customer_columns, as_of)
    mysql.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
    if customer_columns:
        mysql.load("customers", customer_columns, tables["customers"])
    target = Target(
        "mysql", parse_settings({"as_of": as_of}),
        dimensions=tuple(c for c, _ in (customer_columns or [])[1:]),
        has_customers=bool(customer_columns),
        optional_columns=frozenset({"end_date", "is_trial", "billing_interval",
                                    "cancel_reason"}),
    )
    done: list[str] = []
    for model in warehouse_models(inputs=SUBSCRIPTION_INPUTS):
        for name in relation_order(model):
            if name not in done:
                mysql.materialise(name, relation_sql(name, target, pretty=False))
                done.append(name)
    ref = DuckDBEngine(str(db))
    try:
        for model in warehouse_models(inputs=SUBSCRIPTION_INPUTS):
            key = load_catalog().models[model].key
            assert_same(engine_rows(ref, model, key), engine_rows(mysql, model, key),
                        f"mysql/{case}/{model}")
    finally:
        ref.close()


@pytest.mark.parametrize("rows", [edge_rows, sweep_rows])
def test_terms_on_mariadb_match_python_month_arithmetic(mysql, rows):
    assert engine_terms(mysql, rows(), parse_settings({"as_of": AS_OF})) == python_terms(
        rows(), AS_OF)


def test_standalone_queries_run_as_shipped_on_mariadb(tmp_path, mysql):
    tables, _, as_of = playbook_case()
    db, _ = reference(tmp_path, tables, None, as_of)
    mysql.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
    target = Target("mysql", parse_settings({"as_of": as_of}))
    ref = DuckDBEngine(str(db))
    try:
        for model in warehouse_models(inputs=SUBSCRIPTION_INPUTS):
            key = load_catalog().models[model].key
            mysql.materialise(f"standalone_{model}",
                              standalone_sql(model, target).rstrip().rstrip(";"))
            assert_same(engine_rows(ref, model, key),
                        engine_rows(mysql, f"standalone_{model}", key),
                        f"mysql/standalone/{model}")
    finally:
        ref.close()


def test_build_inside_mariadb_matches_duckdb(tmp_path, mysql, mysql_args):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, customer_columns, as_of = edge_case()
    db, _ = reference(tmp_path, tables, customer_columns, as_of)
    mysql.execute("drop database if exists analytics")
    mysql.load("app_subs", SUB_COLUMNS, tables["subscriptions"])
    mysql.load("accounts", customer_columns, tables["customers"])
    settings = parse_settings({"as_of": as_of, "tables": {
        "subscriptions": {"table": "app_subs"}, "customers": {"table": "accounts"}}})
    url = (f"mysql+pymysql://{mysql_args['user']}@{mysql_args['host']}:{mysql_args['port']}/"
           f"{mysql_args['database']}")
    for _ in range(2):  # a rebuild swaps the tables in place
        result = build_on_warehouse(url, settings, target_schema="analytics")
    assert set(result.models) == {*warehouse_models(inputs=SUBSCRIPTION_INPUTS), "cohort_value"}
    ref = DuckDBEngine(str(db))
    try:
        for model in [*warehouse_models(inputs=SUBSCRIPTION_INPUTS), "cohort_value"]:
            key = load_catalog().models[model].key
            assert_same(engine_rows(ref, model, key),
                        engine_rows(mysql, f"analytics`.`{model}", key),
                        f"mysql-build/{model}")
    finally:
        ref.close()
    _, leftovers = mysql.rows("select table_name from information_schema.tables where "
                              "table_name like '%sr_building'")
    assert list(leftovers) == []


@pytest.mark.parametrize("order", ["", " desc", " nulls first", " desc nulls first"])
def test_framed_windows_order_nulls_as_duckdb_on_mariadb(mysql, order):
    """A running sum over a key with NULLs: MariaDB sorts NULLs first and has no NULLS LAST;
    the dialect registry's rewrite gives DuckDB's order (sqlglot alone dropped it)."""
    import duckdb
    import sqlglot

    from saas_retention.dialects import window_null_ordering

    rows = [("a", 1, 1), ("a", None, 10), ("a", 2, 100), ("b", None, 5), ("b", 3, 7)]
    query = ("select g, k, v, sum(v) over (partition by g order by k" + order +
             " rows between unbounded preceding and current row) as s from t")
    con = duckdb.connect()
    try:
        con.execute("create table t (g varchar, k integer, v integer)")
        con.executemany("insert into t values (?, ?, ?)", rows)
        expected = sorted(con.execute(query).fetchall(), key=str)
    finally:
        con.close()
    mysql.execute("create table t (g varchar(8), k integer, v integer)")
    with mysql.con.cursor() as cur:
        cur.executemany("insert into t values (%s, %s, %s)", rows)
    tree = window_null_ordering(sqlglot.parse_one(query, read="duckdb"), "mysql")
    _, got = mysql.rows(tree.sql("mysql"))
    assert sorted(((g, k, v, int(s)) for g, k, v, s in got), key=str) == expected
