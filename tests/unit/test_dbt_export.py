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


def _entries(files) -> dict:
    return {m["name"]: m for p, text in files.items() if p.endswith("_models.yml")
            for m in yaml.safe_load(text)["models"]}


def test_staging_relations_carry_their_keys_and_column_descriptions(files):
    """Every staging relation: each column described (the contract's description for a
    contract column), not_null on its key, unique or sr_unique_key on it."""
    from saas_retention.core.contract import TABLES
    from saas_retention.relations.registry import STAGING, STAGING_KEYS, staging_column_docs

    entries = _entries(files)
    staged = [n for n in STAGING if n in entries]
    assert {"stg_subscriptions", "stg_customers", "stg_customer_dimensions", "calendar",
            "stg_events", "calendar_days", "stg_subscription_terms"} <= set(staged)
    for name in staged:
        columns = {c["name"]: c for c in entries[name]["columns"]}
        assert all(c["description"] for c in columns.values()), name
        for key in STAGING_KEYS[name]:
            assert "not_null" in columns[key]["data_tests"], (name, key)
    subs = {c["name"]: c for c in entries["stg_subscriptions"]["columns"]}
    assert subs["subscription_id"]["data_tests"] == ["not_null", "unique"]
    assert subs["start_date"]["description"] == TABLES["subscriptions"].column(
        "start_date").description
    assert "first_period_index" in subs
    events = {c["name"]: c for c in entries["stg_events"]["columns"]}
    assert events["event_time"]["description"] == TABLES["events"].column(
        "event_time").description
    assert not any("data_tests" in c for c in events.values())  # events have no key
    assert entries["stg_customer_dimensions"]["data_tests"] == [
        {"sr_unique_key": {"arguments": {"columns": ["customer_id", "dimension"]}}}]
    assert entries["stg_subscription_terms"]["data_tests"] == [
        {"sr_unique_key": {"arguments": {"columns": ["subscription_id", "term_end"]}}}]
    calendar = {c["name"]: c for c in entries["calendar"]["columns"]}
    assert calendar["period_index"]["data_tests"] == ["not_null", "unique"]
    customers = {c["name"]: c for c in entries["stg_customers"]["columns"]}
    assert customers["plan"]["description"].startswith("customer dimension")
    with pytest.raises(KeyError, match="no description"):
        staging_column_docs("calendar", ["period_index", "not_a_column"])


def test_source_tests_are_the_contract_rules(files):
    """sources.yml: the contract's keys as unique, its required columns as not_null and the
    other rules through sr_contract_rule, named after the rule, with the build's severity
    and message; each rule's SQL per adapter in macros/contract_rules.sql."""
    from saas_retention.relations.rules import RULES

    source = yaml.safe_load(files["models/sources.yml"])["sources"][0]
    found = {}
    for entry in source["tables"]:
        for column in entry["columns"]:
            for test in column.get("data_tests", []):
                (kind, args), = test.items()
                found[args["name"]] = (kind, column["name"], args)
    kind, column, args = found["contract__subscriptions__subscription_id__duplicate_key"]
    assert (kind, column, args["config"]) == ("unique", "subscription_id", {"severity": "error"})
    kind, column, args = found["contract__subscriptions__mrr__required"]
    assert (kind, column) == ("not_null", "amount")  # the config's column name
    kind, column, args = found["contract__subscriptions__end_date__end_before_start"]
    assert (kind, args["arguments"], args["config"]) == (
        "sr_contract_rule", {"rule": "subscriptions__end_date__end_before_start"},
        {"severity": "error"})
    assert args["description"] == "end_date before start_date"
    assert found["contract__subscriptions__end_date__zero_length"][2]["config"] == {
        "severity": "warn"}
    assert "the as_of var" in found[
        "contract__events__event_time__after_as_of"][2]["description"]
    # the severity of every rule test is the rule's
    by_name = {f"contract__{r.table}__{r.column}__{r.name}": r for r in RULES}
    rules = [n for n, (k, _, _) in found.items() if k == "sr_contract_rule"]
    assert len(rules) > 10
    for name in rules:
        expected = {"error": "error", "warning": "warn"}[by_name[name].severity]
        assert found[name][2]["config"]["severity"] == expected, name
    # a rule whose columns the source lacks is not tested (no currency column mapped)
    assert "contract__subscriptions__currency__missing_rate" not in found
    bodies = files["macros/contract_rules.sql"]
    assert "{% macro duckdb__sr_contract_rule_sql(rule) %}" in bodies
    assert "rule == 'subscriptions__end_date__end_before_start'" in bodies
    end_before_start = bodies.split("rule == 'subscriptions__end_date__end_before_start'")[1]
    assert '"end_date" < "start_date"' in end_before_start.split("{%-")[0]
    # the user's table (identifier subs) through source(), its columns by the config's names
    assert "FROM {{ source('saas_retention', 'subscriptions') }} AS \"subs\"" in bodies
    assert '"subs"."amount"' in end_before_start
