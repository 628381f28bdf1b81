"""``saas-retention superset …``: bundles, installing over HTTP, and a local demo Superset.

Imports only click at import time (the core CLI adds this group); everything else loads when
a command runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

GRAINS = click.Choice(["day", "week", "month", "quarter", "year"])


@click.group("superset")
def superset() -> None:
    """Apache Superset: bundles, installing into a Superset, a local demo."""


@superset.command()
@click.option("--url", required=True, help="Superset's address, e.g. https://superset.example.")
@click.option("--username", required=True, help="A Superset user allowed to import assets.")
@click.option("--password-env", "password_env", required=True, metavar="VAR",
              help="Name of the environment variable holding the password (never a "
              "command-line argument, so it stays out of shell history and process lists).")
@click.option("--database", "database_name", required=True,
              help="Name of the Superset database holding the built models.")
@click.option("--schema", default=None, help="Schema of the model tables.")
@click.option("--grain", type=GRAINS, default="month", show_default=True,
              help="Grain the models were built at.")
def install(url, username, password_env, database_name, schema, grain):
    """Install (or update) the datasets, saved metrics, charts and dashboards through the
    REST API. Running it again changes nothing and says so."""
    from saas_retention.core.errors import ConfigError

    from .install import install_rest

    password = os.environ.get(password_env)
    if not password:
        raise ConfigError(f"environment variable {password_env} is not set or empty")
    report = install_rest(url, username, password, database_name, schema=schema, grain=grain)
    for line in report.lines():
        click.echo(line)


@superset.command()
@click.option("--database", "database_name", default="saas_retention_demo", show_default=True,
              help="Superset database name the datasets belong to.")
@click.option("--dialect", default="duckdb", show_default=True,
              help="sqlglot dialect of that database (saved-metric SQL is generated in it).")
@click.option("--schema", default=None, help="Schema of the model tables.")
@click.option("--grain", type=GRAINS, default="month", show_default=True)
@click.option("--demo-database", "demo_database", type=click.Path(dir_okay=False, exists=True),
              help="A built demo DuckDB file: include the database entry (read-only, no file "
              "access) and take the columns from the file.")
@click.option("--out", required=True, type=click.Path(),
              help="Write a ZIP (name ending in .zip) or a directory.")
def bundle(database_name, dialect, schema, grain, demo_database, out):
    """Write an import bundle (for `superset import-dashboards`, the UI or the assets API)."""
    from saas_retention.dialects import resolve

    from .bundle import Target, build_bundle, demo_bundle

    if demo_database:
        result = demo_bundle(demo_database, database_name=database_name)
    else:
        result = build_bundle(Target(database_name=database_name, dialect=resolve(dialect),
                                     schema=schema, grain=grain))
    if out.endswith(".zip"):
        result.write_zip(out)
    else:
        result.write_dir(out)
    kinds = {}
    for kind, _p, _c in result.objects():
        kinds[kind] = kinds.get(kind, 0) + 1
    click.echo(f"wrote {out}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    for why in result.skipped:
        click.echo(f"  skipped {why}")


@superset.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              default="saas_retention_superset", show_default=True,
              help="Where the Superset metadata, its config and the demo DuckDB go.")
@click.option("--port", type=click.IntRange(1, 65535), default=8088, show_default=True)
@click.option("--no-serve", is_flag=True, help="Set everything up, then exit.")
def demo(directory, port, no_serve):
    """A local Superset (SQLite metadata) with the demo data, datasets and dashboards, served
    on 127.0.0.1. Needs the extra: pip install 'saas-retention[superset]'."""
    from .demo import run_demo

    run_demo(Path(directory), port=port, serve=not no_serve, echo=click.echo)
