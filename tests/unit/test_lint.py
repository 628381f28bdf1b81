"""Every compiled model passes sqlglot's qualify (every column resolves to exactly one
relation) and annotate_types against the real schema of the staged relations: a free linter
that rejects unknown or ambiguous columns before any engine sees the SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlglot
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from saas_retention.builders.atomic import connect as _connect
from saas_retention.builders.duckdb.run import build_models
from saas_retention.builders.duckdb.sources import open_source
from saas_retention.builders.duckdb.stage import Stager
from saas_retention.catalog.compile import model_ast
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.core.params import model_params
from saas_retention.datagen.demo import generate

SETTINGS = parse_settings({"as_of": dt.date(2024, 12, 31)})


@pytest.fixture(scope="module")
def schema_and_dims(tmp_path_factory):
    src = tmp_path_factory.mktemp("lint") / "src.duckdb"
    generate(str(src), customers=40, months=12, seed=1, end_date=dt.date(2024, 12, 31))
    con = _connect()
    try:
        report = Stager(con, open_source(src), SETTINGS).run()
        build_models(con, SETTINGS, report)
        schema = {}
        # staged relations are temp tables (catalog 'temp'), models are in the database
        tables = con.execute("select table_name from information_schema.tables where "
                             "table_schema = 'main' and "
                             "table_catalog in (current_database(), 'temp')").fetchall()
        for (table,) in tables:
            schema[table] = {c[0]: c[1] for c in con.execute(f'describe "{table}"').fetchall()}
        return schema, report.dimensions
    finally:
        con.close()


def lint(model, schema, dims):
    tree = model_ast(model, grain=SETTINGS.grain, params=model_params(SETTINGS),
                     dimensions=dims)
    qualified = qualify(tree, schema=schema, dialect="duckdb", validate_qualify_columns=True)
    return annotate_types(qualified, schema=schema, dialect="duckdb")


@pytest.mark.parametrize("name", load_catalog().model_order())
def test_model_qualifies_against_the_staged_schema(schema_and_dims, name):
    schema, dims = schema_and_dims
    typed = lint(load_catalog().models[name], schema, dims)
    assert isinstance(typed, sqlglot.exp.Query)


def test_the_linter_rejects_an_unknown_column(schema_and_dims):
    schema, dims = schema_and_dims
    model = load_catalog().models["retention"]
    broken = dataclasses.replace(model, sql=model.sql.replace("previous_mrr,\n", "prev_mrr,\n",
                                                              1))
    with pytest.raises(OptimizeError, match="prev_mrr"):
        lint(broken, schema, dims)


def test_no_outer_join_condition_holds_an_or():
    """duckdb 1.x (the version Superset 6.1 pins) runs an outer join whose ON holds an OR as a
    nested-loop join: renewals, churn_presets and customer_journey took 12-140 × longer at
    100k customers, growing with the square of the customers. An OR belongs in a filter
    after an inner join or in the aggregate over the outer join's rows. The benchmark's
    playbook SQL too: its published OR took over 12 minutes at 100k under duckdb 1.x."""
    from sqlglot import exp

    from saas_retention.bench.runner import PLAYBOOK_SQL
    from saas_retention.catalog.compile import compile_model

    found = []
    sources = {name: compile_model(name, "duckdb") for name in load_catalog().model_order()}
    sources["bench/playbook.sql"] = PLAYBOOK_SQL
    for name, sql in sources.items():
        tree = sqlglot.parse_one(sql, read="duckdb")
        for join in tree.find_all(exp.Join):
            on = join.args.get("on")
            if join.side and on is not None and on.find(exp.Or):
                found.append(f"{name}: {join.side} JOIN ON {on.sql('duckdb')[:120]}")
    assert not found, "\n".join(found)
