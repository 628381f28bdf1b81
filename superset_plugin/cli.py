"""``superset saas-retention …``: commands run inside Superset's own application context.

Registered as a ``flask.commands`` entry point, so ``superset --help`` lists the group once the
package is installed in Superset's environment (restart Superset's processes to see it).
This module must import nothing heavy at import time: a failure here would break every
``superset`` command.
"""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext

GRAINS = click.Choice(["day", "week", "month", "quarter", "year"])


def _report(report) -> None:
    for line in report.lines():
        click.echo(line)


def _fail(exc) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(getattr(exc, "exit_code", 1))


@click.group("saas-retention")
def saas_retention() -> None:
    """saas-retention: datasets, saved metrics and dashboards for SaaS retention."""


@saas_retention.command()
@click.option("--database", "database_name", required=True,
              help="Name of the Superset database holding the built models.")
@click.option("--schema", default=None, help="Schema of the model tables (default: the "
              "database's default, main for DuckDB).")
@click.option("--grain", type=GRAINS, default="month", show_default=True,
              help="Grain the models were built at.")
@click.option("--username", default="admin", show_default=True,
              help="Superset user who owns the imported objects.")
@with_appcontext
def install(database_name: str, schema: str | None, grain: str, username: str) -> None:
    """Import or update the datasets, saved metrics, charts and dashboards for a database.

    Detects the database's engine and dialect, imports only what changed (a second run says
    "unchanged") and refreshes the columns of the datasets it created or updated.
    """
    from saas_retention.core.errors import SaasRetentionError

    from .install import install_in_app

    try:
        _report(install_in_app(database_name, schema=schema, grain=grain, username=username))
    except SaasRetentionError as exc:
        _fail(exc)


@saas_retention.command("import-demo")
@click.option("--duckdb", "path", required=True, type=click.Path(dir_okay=False, exists=True),
              help="The built demo DuckDB file.")
@click.option("--database", "database_name", default="saas_retention_demo", show_default=True)
@click.option("--username", default="admin", show_default=True)
@with_appcontext
def import_demo(path: str, database_name: str, username: str) -> None:
    """Create (or update) the demo database — read-only, without file access, with the UDF
    engine plugin — and everything on it."""
    from saas_retention.core.errors import SaasRetentionError

    from .bundle import demo_bundle
    from .install import InstallReport, apply_in_app

    started = time.perf_counter()
    try:
        report = InstallReport(database_name, "duckdb", "main")
        apply_in_app(demo_bundle(path, database_name=database_name), report, username)
        report.seconds = time.perf_counter() - started
        _report(report)
    except SaasRetentionError as exc:
        _fail(exc)
