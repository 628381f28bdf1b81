"""Commands and installer logic that need no running Superset (the end-to-end tests in
tests/e2e/test_superset_e2e.py run them against a real one)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from saas_retention.cli import main
from saas_retention.superset_plugin.bundle import Target, build_bundle, stored_digest
from saas_retention.superset_plugin.install import (
    InstallError,
    InstallReport,
    _adopt,
    _default_schema,
    plan,
    resolve_dialect,
    rison,
    taken_table_names,
)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    from saas_retention.builders.duckdb.run import build
    from saas_retention.core.config import parse_settings
    from saas_retention.datagen.demo import generate

    folder = tmp_path_factory.mktemp("demo")
    end = dt.date(2025, 12, 31)
    generate(str(folder / "source.duckdb"), customers=30, months=4, end_date=end)
    build(folder / "source.duckdb", parse_settings({"as_of": end}),
          database=folder / "saas_retention.duckdb")
    return folder / "saas_retention.duckdb"


def test_bundle_command_writes_zip_and_directory(tmp_path, demo_db):
    runner = CliRunner()
    out = runner.invoke(main, ["superset", "bundle", "--database", "wh", "--dialect",
                               "postgres", "--schema", "analytics",
                               "--out", str(tmp_path / "b.zip")])
    assert out.exit_code == 0, out.output
    assert "datasets" in out.output and (tmp_path / "b.zip").exists()
    out = runner.invoke(main, ["superset", "bundle", "--demo-database", str(demo_db),
                               "--out", str(tmp_path / "dir")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "dir" / "databases" / "saas_retention_demo.yaml").exists()


def test_install_command_needs_the_password_variable(monkeypatch):
    monkeypatch.delenv("NO_SUCH_PASSWORD_VAR", raising=False)
    out = CliRunner().invoke(main, ["superset", "install", "--url", "http://127.0.0.1:9",
                                    "--username", "u", "--password-env",
                                    "NO_SUCH_PASSWORD_VAR", "--database", "d"])
    assert out.exit_code != 0
    assert "NO_SUCH_PASSWORD_VAR" in out.output


def test_importing_the_cli_does_not_import_superset():
    import subprocess
    import sys

    code = ("import sys, saas_retention.cli; "
            "print(sorted(m for m in ('superset', 'flask', 'sqlalchemy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_rison_encodes_superset_queries():
    assert rison({"filters": [{"col": "database_name", "opr": "eq", "value": "my db's"}],
                  "page": 0, "force": True}) == \
        "(filters:!((col:database_name,opr:eq,value:'my db!'s')),page:0,force:!t)"
    assert rison(["a", "b c", None, False]) == "!(a,'b c',!n,!f)"


@pytest.mark.parametrize("backend, dialect", [("duckdb", "duckdb"), ("postgresql", "postgres"),
                                              ("snowflake", "snowflake"), ("mssql", "tsql")])
def test_dialect_from_the_engine(backend, dialect):
    assert resolve_dialect(backend) == dialect


def test_unsupported_engine_is_a_clear_error():
    with pytest.raises(InstallError, match="oracle"):
        resolve_dialect("oracle")


def test_plan_sorts_created_updated_unchanged():
    bundle = build_bundle(Target("wh", "postgres", schema="analytics"))
    objects = bundle.objects()
    everything = {c["uuid"]: stored_digest(k, c) for k, _p, c in objects}
    (_k, _p, chart) = bundle.objects("charts")[0]
    (_k, _p, board) = bundle.objects("dashboards")[0]
    existing = {**everything, chart["uuid"]: "an older definition"}
    del existing[board["uuid"]]
    report = InstallReport("wh", "postgres", "analytics")
    todo = plan(bundle, existing, report)
    assert report.updated == [f"chart {chart['slice_name']}"]
    assert report.created == [f"dashboard {board['dashboard_title']}"]
    assert len(report.unchanged) == len(objects) - 2
    assert len(todo.objects()) == 2
    again = InstallReport("wh", "postgres", "analytics")
    assert not plan(bundle, everything, again).objects() and not again.changed
    assert "unchanged" in again.lines()[1]


def test_a_recreated_chart_brings_its_dashboard_along():
    bundle = build_bundle(Target("wh", "postgres", schema="analytics"))
    everything = {c["uuid"]: stored_digest(k, c) for k, _p, c in bundle.objects()}
    (_k, _p, chart) = next(o for o in bundle.objects("charts") if "CRR" in o[2]["slice_name"])
    del everything[chart["uuid"]]  # deleted in Superset by someone
    report = InstallReport("wh", "postgres", "analytics")
    todo = plan(bundle, everything, report)
    assert report.created == [f"chart {chart['slice_name']}"]
    assert report.updated == ["dashboard Retention"]
    assert {k for k, _p, _c in todo.objects()} == {"charts", "dashboards"}


def test_table_names_taken_by_other_datasets_are_named():
    """A SQLite metadata database refuses a second dataset named `retention` (Superset's old
    UNIQUE(table_name)); the installers name what is in the way instead of Superset's
    "Import failed for an unknown reason"."""
    bundle = build_bundle(Target("wh", "postgres", schema="analytics"))
    ours = {c["table_name"]: str(c["uuid"]) for _k, _p, c in bundle.objects("datasets")}
    assert taken_table_names(bundle, [(ours["retention"], "retention", "wh"),
                                      ("u-x", "not_a_model", "demo")]) == ""
    message = taken_table_names(bundle, [
        ("u-1", "retention", "demo"), ("u-2", "mrr_movements", "demo"),
        ("u-3", "retention", "wh"),  # the same name in another schema of the same database
        (ours["customer_periods"], "customer_periods", "wh")])
    assert message.startswith("3 of the model tables already have another dataset of the "
                              "same name: 2 on database 'demo' (mrr_movements, retention); "
                              "1 on database 'wh' (retention)."), message
    assert "apache/superset#33134" in message and "delete those datasets" in message


def test_default_schema_and_adopted_datasets():
    assert _default_schema(["temp.main", "saas_retention.main", "system.main"], None, "d") == \
        "main"
    assert _default_schema(["information_schema", "public"], None, "d") == "public"
    with pytest.raises(InstallError, match="--schema"):
        _default_schema(["a", "b"], None, "d")
    tables = {"retention": [], "customer_periods": []}
    assert _adopt([("retention", None, "u1"), ("customer_periods", "other", "u2"),
                   ("mine", None, "u3")], tables, "main") == {"retention": "u1"}


def test_demo_command_without_superset_is_a_clear_error(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "superset" else real(name, *a))
    out = CliRunner().invoke(main, ["superset", "demo", "--dir", str(tmp_path / "d"),
                                    "--no-serve"])
    assert out.exit_code != 0
    assert "pip install 'saas-retention[superset]'" in out.output


def test_the_installer_finds_the_model_tables_in_any_schema():
    """Models built with --target-schema analytics: found there (and said so); several
    schemas with models, or none, are errors that name --schema."""
    from saas_retention.superset_plugin.install import find_model_schema

    holds = {"analytics": {"retention": [], "customer_periods": []}, "public": {},
             "information_schema": {"retention": []}}
    seen = []

    def tables_in(name):
        seen.append(name)
        return holds.get(name, {})

    schema, tables, found = find_model_schema(["information_schema", "public", "analytics"],
                                              "public", "Analytics", tables_in)
    assert schema == "analytics" and set(tables) == {"retention", "customer_periods"}
    assert "found 2 model tables in schema analytics" in found and "--schema" in found
    assert "information_schema" not in seen
    assert find_model_schema(["public", "analytics"], "analytics", "A", tables_in)[2] == ""
    holds["staging"] = {"retention": []}
    with pytest.raises(InstallError, match=r"several schemas: analytics \(2 model tables\), "
                                           r"staging \(1 model tables\); .*--schema"):
        find_model_schema(["public", "analytics", "staging"], "public", "A", tables_in)
    with pytest.raises(InstallError, match=r"none of the model tables in any of its schemas "
                                           r"\(other, public\).*--schema"):
        find_model_schema(["public", "other"], "public", "A", tables_in)


def test_demo_config_turns_usage_tracking_off_and_ignores_itself(tmp_path):
    from saas_retention.superset_plugin.demo import write_config

    text = write_config(tmp_path / "saas_retention_superset").read_text()
    assert "SCARF_ANALYTICS = False" in text
    assert (tmp_path / "saas_retention_superset" / ".gitignore").read_text().splitlines()[-1] \
        == "*"
