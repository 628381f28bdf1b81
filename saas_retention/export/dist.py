"""Regenerate every committed artefact from the definitions: ``python -m saas_retention.generate``.

A test compares the committed copies with what this produces and fails on drift.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Generated SQL text depends on sqlglot's formatting; the committed copies are produced with
# this version (a nox session installs it to check them), whatever version users run.
SQLGLOT_VERSION_FILE = Path("sql/dist/SQLGLOT_VERSION")


def artefacts() -> dict[Path, Callable[[], str]]:
    """Relative path -> function producing its content."""
    from saas_retention.catalog.docs import metrics_text
    from saas_retention.dialects import SUPPORTED
    from saas_retention.export.standalone import dist_target, standalone_sql
    from saas_retention.relations.graph import warehouse_models

    shipped: dict[Path, Callable[[], str]] = {}
    for dialect in SUPPORTED:
        target = dist_target(dialect)
        for model in warehouse_models():
            shipped[Path("sql/dist") / dialect / f"{model}.sql"] = (
                lambda m=model, t=target: standalone_sql(m, t))
    from saas_retention.export.functions import function_dialects, functions_sql

    for dialect in function_dialects():
        shipped[Path("sql/dist") / dialect / "functions.sql"] = (
            lambda d=dialect: functions_sql(d))
    import sqlglot

    shipped[SQLGLOT_VERSION_FILE] = lambda: sqlglot.__version__ + "\n"
    # The Superset import bundle of the DuckDB demo, one YAML file per object.
    from saas_retention.superset_plugin.bundle import GENERATED_DIR, committed_demo_texts

    for rel in committed_demo_texts():
        shipped[GENERATED_DIR / rel] = lambda r=rel: committed_demo_texts()[r]
    return shipped | {
        Path("docs/METRICS.md"): lambda: "# Metrics and models\n\n"
        "Generated from `sql/metrics.yml` and `sql/models/**/*.yml` by "
        "`python -m saas_retention.generate`; do not edit.\n\n"
        + metrics_text(markdown=True)
        + "\n",
    }


def generated_dirs() -> list[Path]:
    """Folders whose every file is generated: files the generator no longer makes are stale."""
    from saas_retention.superset_plugin.bundle import GENERATED_DIR

    return [GENERATED_DIR]


def main(argv: list[str] | None = None) -> int:
    """``python -m saas_retention.generate [ROOT] [--only PREFIX]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m saas_retention.generate",
        description="Regenerate every committed generated file (shipped SQL per dialect, the "
                    "metrics reference, the demo Superset bundle) from the templates.")
    parser.add_argument("root", nargs="?", type=Path, default=ROOT,
                        help="the checkout to write into (default: this one)")
    parser.add_argument("--only", default="", metavar="PREFIX",
                        help="only the files whose path starts with PREFIX, e.g. dashboards/")
    args = parser.parse_args(list(argv or []))
    root, only = args.root, args.only
    made = artefacts()
    for folder in generated_dirs():
        if str(folder).startswith(only) and (root / folder).is_dir():
            for stale in sorted((root / folder).rglob("*")):
                if stale.is_file() and stale.relative_to(root) not in made:
                    stale.unlink()
                    print(f"removed {stale.relative_to(root)}")
    for rel, produce in made.items():
        if not str(rel).startswith(only):
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        content = produce()
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
            print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
