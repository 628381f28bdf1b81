"""The dbt package generator (saas_retention/export/dbt.py) without dbt: what it writes, from
which definitions, reproducibly. tests/conformance/test_dbt.py builds it with dbt."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from saas_retention.catalog.templates import load_catalog
from saas_retention.cli import main
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError
from saas_retention.export.dbt import (
    AS_OF_MARK,
    adapters,
    client_step_table,
    package_files,
    write_package,
)
from saas_retention.relations.graph import relation_order, warehouse_models

CONFIG = {"grain": "week", "week_start": "sunday", "timezone": "Europe/Paris",
          "tables": {"subscriptions": {"table": "subs", "columns": {"mrr": "amount"}},
                     "customers": {"dimensions": ["plan"]},
                     "events": {"table": "raw_events"}}}


@pytest.fixture(scope="module")
def files():
    return {str(k): v for k, v in package_files(parse_settings(CONFIG), ["duckdb"]).items()}


def test_every_relation_is_a_model_reading_refs_and_sources(files):
    project = yaml.safe_load(files["dbt_project.yml"])
    assert (project["name"], project["profile"]) == ("saas_retention", "saas_retention")
    assert project["vars"] == {"grain": "week", "timezone": "Europe/Paris",
                               "week_start": "sunday", "as_of": None}
    inputs = {"subscriptions", "customers", "events"}
    expected = {r for m in warehouse_models(inputs=inputs) for r in relation_order(m)}
    models = {p.rsplit("/", 1)[1].rsplit(".", 1)[0] for p in files
              if p.startswith("models/") and p.endswith((".sql", ".py"))}
    # cohort_value's three steps: SQL, the sBG fit as a dbt Python model (duckdb), SQL
    assert models == expected | {"cohort_value__input", "cohort_value_fits", "cohort_value"}
    assert "client_step_table('cohort_value'" in files["models/marts/value/cohort_value_fits.py"]
    assert "enabled=target.type in ['duckdb']" in files["models/marts/value/cohort_value.sql"]
    assert {"retention", "cohort_retention", "customer_periods", "mrr_movements",
            "stg_subscriptions", "calendar", "customer_daily_activity"} <= models
    body = files["macros/relations/stg_subscriptions.sql"]
    assert "{{ source('saas_retention', 'subscriptions') }}" in body
    assert '"amount"' in body  # the config's column mapping
    assert AS_OF_MARK.isoformat() not in "".join(files.values())
    retention = files["models/marts/retention/retention.sql"]
    assert "adapter.dispatch('sr_retention', 'saas_retention')" in retention
    assert "{% macro duckdb__sr_retention() %}" in files["macros/relations/retention.sql"]
    assert "{{ ref('customer_periods') }}" in files["macros/relations/retention.sql"]
    sources = yaml.safe_load(files["models/sources.yml"])["sources"][0]
    tables = {t["name"]: t for t in sources["tables"]}
    assert tables["subscriptions"]["identifier"] == "subs"
    assert tables["events"]["identifier"] == "raw_events"
    assert "amount" in [c["name"] for c in tables["subscriptions"]["columns"]]


def test_schema_files_carry_the_metadata_and_the_invariants(files):
    catalog = load_catalog()
    entries = {m["name"]: m for p, text in files.items() if p.endswith("_models.yml")
               for m in yaml.safe_load(text)["models"]}
    retention = entries["retention"]
    assert retention["description"] == " ".join(catalog.models["retention"].description.split())
    columns = {c["name"]: c for c in retention["columns"]}
    assert "date_week" in columns  # date_period named after the grain
    assert columns["period_index"]["data_tests"] == ["not_null", "unique"]
    tests = [next(iter(t)) for t in retention["data_tests"]]
    assert tests.count("sr_rate_between") == 2 and tests.count("sr_not_above") == 2
    assert "sr_mrr_bridge" in tests
    movement = {c["name"]: c for c in entries["mrr_movements"]["columns"]}["movement"]
    values = movement["data_tests"][1]["accepted_values"]["arguments"]["values"]
    assert values == ["new", "reactivation", "expansion", "contraction", "churn"]
    assert [next(iter(t)) for t in entries["cohort_retention"]["data_tests"]] == [
        "sr_unique_key", "sr_cohort_sizes"]


def test_per_day_models_are_incremental_by_day(files):
    catalog = load_catalog()
    day_models = [m for m in catalog.models.values() if m.incremental == "day"
                  and f"macros/relations/{m.name}.sql" in files]
    assert day_models
    for model in day_models:
        model_file = next(v for p, v in files.items() if p.endswith(f"/{model.name}.sql")
                          and p.startswith("models/"))
        assert "materialized='incremental'" in model_file
        assert "unique_key='day_index'" in model_file
        body = files[f"macros/relations/{model.name}.sql"]
        assert "saas_retention.incremental_days(ref('stg_events'), 'day_index')" in body


def test_generation_is_reproducible_and_removes_stale_files(tmp_path):
    settings = parse_settings({})
    write_package(tmp_path, settings, ["duckdb"])
    (tmp_path / "models" / "stale.sql").write_text("select 1")
    first = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, ["dbt", "--out", str(tmp_path), "--adapter", "duckdb"])
    assert result.exit_code == 0, result.output
    second = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert tmp_path / "models" / "stale.sql" not in second
    del first[tmp_path / "models" / "stale.sql"]
    assert first == second


def test_client_models_need_an_adapter_running_python_in_dbt():
    files = package_files(parse_settings({}), ["postgres"])
    assert not [p for p in files if "cohort_value" in str(p)]


def test_client_steps_return_the_warehouse_builds_rows_typed():
    """What the Python models return: the warehouse build's client-step rows, typed like the
    relation it creates (feedback_sentiment's labels; cohort_value's fits, with a cohort
    whose curve gives a fit and one without observed ages)."""
    from saas_retention.builders.warehouse.sentiment import label_rows
    from saas_retention.builders.warehouse.value import fit_rows

    comments = [("Great product, love it",), ("not good at all",), (None,)]
    labels = client_step_table("feedback_sentiment", comments, {})
    assert [str(f.type) for f in labels.schema] == ["string", "string"]
    assert labels.to_pylist() == label_rows([c for c, in comments])
    grid = [(10, 0, 100.0), (10, 1, 80.0), (10, 2, 70.0), (10, 3, 65.0), (11, 0, None)]
    fits = client_step_table("cohort_value", grid, {})
    assert [str(f.type) for f in fits.schema][:2] == ["int64", "int64"]
    expected = fit_rows(grid, 1.10 ** (1 / 12) - 1)
    assert [tuple(r.values()) for r in fits.to_pylist()] == expected


def test_adapters_come_from_the_dialect_registry():
    known = adapters()
    assert known["sqlserver"] == "tsql" and known["postgres"] == "postgres"
    with pytest.raises(ConfigError, match="unknown dbt adapter"):
        package_files(parse_settings({}), ["oracle"])
