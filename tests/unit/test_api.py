"""The public surface: a pinned ``__all__``, a cheap import, the CLI as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import saas_retention


def test_public_names_are_pinned():
    assert sorted(saas_retention.__all__) == sorted(
        [
            "__version__",
            "build",
            "check",
            "compile_model",
            "load_catalog",
            "load_settings",
            "register",
        ]
    )
    for name in saas_retention.__all__:
        assert getattr(saas_retention, name) is not None


def test_public_functions_survive_importing_the_subpackages():
    """``saas_retention.build`` is the build function even after the builders (or any other
    subpackage) are imported: a subpackage named like a public function would replace it."""
    code = (
        "import importlib, os, pkgutil, saas_retention; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages("
        "[os.path.dirname(saas_retention.__file__)], 'saas_retention.')]; "
        "import saas_retention.udfs, saas_retention.sql; "
        "print(all(callable(getattr(saas_retention, n)) for n in saas_retention.__all__ "
        "if n != '__version__'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True", out.stderr


def test_import_pulls_in_nothing_heavy():
    code = (
        "import sys, json, saas_retention; "
        "print(json.dumps(sorted(m for m in ('duckdb', 'pyarrow', 'numpy', 'superset', "
        "'pyspark', 'sqlglot') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


ROOT = Path(__file__).resolve().parents[2]


def test_importable_from_the_checkout_root(tmp_path):
    """Run in a clone's root (which is on sys.path first), the ``saas_retention`` folder shadows
    the installed package: its mapped subpackages (sql/, udfs/, superset_plugin/, dashboards/)
    must still be found, in the checkout, for the API and for the benchmark's child processes."""
    # as after a regular (non-editable) install: an editable install's finder would map the
    # subpackages whatever the working directory, hiding the problem
    code = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path "
        "if '__editable__' not in getattr(f, '__module__', '')]; "
        "import saas_retention, saas_retention.sql, saas_retention.udfs, "
        "saas_retention.superset_plugin, saas_retention.dashboards, saas_retention.bench.runner; "
        "print(saas_retention.__file__); print(saas_retention.sql.__file__); "
        "print(saas_retention.compile_model('retention', 'postgres').count('SELECT') > 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0].startswith(str(ROOT / "saas_retention")), out
    assert out[1].startswith(str(ROOT / "sql")), out
    assert out[2] == "True"


def test_test_modules_have_unique_names():
    """pytest imports test modules by their base name (the folders have no __init__.py), so two
    files of one name in different tiers stop the collection of whichever runs second."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}


def test_compile_model_with_default_settings_on_every_engine():
    """``compile_model(name, dialect)`` needs no parameters: the default settings' are bound."""
    from saas_retention.dialects import SUPPORTED

    for dialect in SUPPORTED:
        for name, model in saas_retention.load_catalog().models.items():
            if model.engines and dialect not in model.engines:
                continue
            sql = saas_retention.compile_model(name, dialect)
            assert ":" + "periods_per_year" not in sql, (name, dialect)


def run_cli(*args, check=False):
    return subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", *args],
        capture_output=True,
        text=True,
        check=check,
    )


def test_metrics_command_lists_every_definition():
    out = run_cli("metrics", check=True).stdout
    for name in saas_retention.load_catalog().metrics:
        assert f"\n{name} — " in "\n" + out
    assert "crr(customers_start, customers_end, customers_new) = 100 *" in out
    assert "retention (period):" in out


def test_check_command(tmp_path):
    (tmp_path / "subscriptions.csv").write_text(
        "subscription_id,customer_id,start_date,end_date,mrr\ns1,c1,2024-01-01,,10\n"
    )
    proc = run_cli("check", "--source", str(tmp_path), "--as-of", "2024-03-01")
    assert proc.returncode == 0, proc.stderr
    assert "subscriptions: 1 rows" in proc.stdout
    assert "events: absent" in proc.stdout
    assert "ok: the source satisfies the input contract" in proc.stdout


def test_bad_option_values_are_usage_errors(tmp_path):
    proc = run_cli("build", "--source", str(tmp_path), "--as-of", "yesterday")
    assert proc.returncode == 2 and "is not a date" in proc.stderr
    proc = run_cli("build", "--source", str(tmp_path), "--grain", "fortnight")
    assert proc.returncode == 2 and "fortnight" in proc.stderr


def test_missing_source_is_a_clear_error(tmp_path):
    proc = run_cli("build", "--source", str(tmp_path / "nope"))
    assert proc.returncode == 3
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_command_the_readme_starts_with(tmp_path):
    """README line 1: ``saas-retention demo`` generates, builds every model and prints the
    headline, whose numbers are the built retention table's last month."""
    import duckdb

    folder = tmp_path / "demo"
    proc = run_cli("demo", "--dir", str(folder), "--customers", "300", "--months", "14")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    con = duckdb.connect(str(folder / "saas_retention.duckdb"), read_only=True)
    try:
        customers, mrr, crr = con.execute(
            "select customers_end, mrr_end, crr from retention "
            "order by period_index desc limit 1").fetchall()[0]
        models = {r[0] for r in con.execute("show tables").fetchall()}
    finally:
        con.close()
    assert models >= set(saas_retention.load_catalog().models)
    assert "headline for December 2025:" in proc.stdout
    assert f"paying customers   {customers:,}" in proc.stdout
    assert f"MRR                {mrr:,.0f}   ARR {mrr * 12:,.0f}" in proc.stdout
    assert f"CRR (month)        {crr:.1f} %" in proc.stdout
    assert {p.stem for p in (folder / "out").iterdir()} == models & set(
        saas_retention.load_catalog().models)


def test_build_writes_files_and_database(tmp_path):
    import duckdb

    (tmp_path / "subscriptions.csv").write_text(
        "subscription_id,customer_id,start_date,end_date,mrr\n"
        "s1,c1,2024-01-01,,10\ns2,c2,2024-01-10,2024-02-15,20\n"
    )
    proc = run_cli(
        "build",
        "--source",
        str(tmp_path),
        "--as-of",
        "2024-03-31",
        "--out",
        str(tmp_path / "out"),
        "--format",
        "parquet",
        "--database",
        str(tmp_path / "m.duckdb"),
    )
    assert proc.returncode == 0, proc.stderr
    built = next(line for line in proc.stdout.splitlines() if line.startswith("models built:"))
    for model in saas_retention.load_catalog().models:
        # every model is built, or skipped with the reason (no events table here)
        assert (f"({model} " in built or f", {model} " in built
                or f"skipped {model}: input table" in proc.stdout), model
    assert "time:" in proc.stdout
    assert "built retention" in proc.stderr  # progress
    for model in ("customer_periods", "retention", "mrr_movements", "cohort_retention"):
        assert (tmp_path / "out" / f"{model}.parquet").is_file()
    con = duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True)
    try:
        assert con.execute(
            "select customers_end from retention order by period_index"
        ).fetchall() == [(2,), (1,), (1,)]
        # the macros travel in the file, for Superset and SQL users
        assert con.execute("select crr(10, 9, 0)").fetchall() == [(90.0,)]
        tables = {r[0] for r in con.execute("show tables").fetchall()}
        assert not any(t.startswith(("raw_", "typed_", "stg_")) for t in tables)
    finally:
        con.close()


def test_sbg_fit_command_reproduces_the_paper():
    proc = run_cli("sbg-fit", "--counts", "1000,869,743,653,593,551,517,491", "--horizon", "9")
    assert proc.returncode == 0, proc.stderr
    assert "alpha          0.6681" in proc.stdout and "beta           3.8061" in proc.stdout
    assert "log-likelihood -1611.1581" in proc.stdout
    lines = [line.split() for line in proc.stdout.splitlines() if line[:4].strip().isdigit()]
    assert [int(r[0]) for r in lines] == list(range(10))
    assert lines[1][1:3] == ["869", "850.7"] and lines[9][1:3] == ["435.8", "0.4358"]


def test_sbg_fit_command_rejects_increasing_counts():
    proc = run_cli("sbg-fit", "--counts", "10,20")
    assert proc.returncode == 2
    assert "non-increasing" in proc.stderr and "Traceback" not in proc.stderr
