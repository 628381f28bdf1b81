"""The ``saas-retention`` command line."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from saas_retention.core.errors import SaasRetentionError

GRAIN_CHOICE = click.Choice(["day", "week", "month", "quarter", "year"])


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


class _Group(click.Group):
    """Every package error becomes a message and an exit code, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SaasRetentionError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="saas-retention")
def main() -> None:
    """Customer-retention metrics for SaaS, written once as SQL templates."""


def _settings(config, **overrides):
    from saas_retention.core.config import load_settings

    return load_settings(config, **overrides)


def _date(_ctx, _param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


_source = click.option("--source", required=True, help="Directory of CSV/Parquet files, a "
                       "CSV/Parquet file (the subscriptions) or a .duckdb database.")
_config = click.option("--config", "config", type=click.Path(dir_okay=False),
                       help="YAML config: table/column mapping and settings.")
_as_of = click.option("--as-of", callback=_date, help="Close the reporting window at this "
                      "date (default: today).")
_grain = click.option("--grain", type=GRAIN_CHOICE, help="Period grain (default: month).")


@main.command()
@_source
@_config
@_as_of
@_grain
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write one file per model into this directory.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True)
@click.option("--database", type=click.Path(dir_okay=False),
              help="Write the models as tables into this DuckDB file (swapped in atomically).")
@click.option("--schema", help="Warehouse sources: the schema holding your tables.")
@click.option("--target-schema", help="Warehouse sources: the schema the models are built in.")
@click.option("--quiet", is_flag=True, help="Only print the summary.")
@click.option("--incremental", is_flag=True,
              help="Refresh --database from the last day it covers: only the new events are "
                   "staged and the per-day event models recomputed from that day; a full "
                   "rebuild (saying why) when anything earlier, the settings or the code "
                   "changed. The first such build is full and records what the next needs.")
def build(source, config, as_of, grain, out_dir, fmt, database, schema, target_schema, quiet,
          incremental):
    """Build every model whose inputs exist.

    SOURCE may also be a SQLAlchemy URL (postgresql+psycopg://…): the models are then built
    inside that warehouse, in --target-schema, by the SQL compiled for its dialect.
    """
    from saas_retention.builders.duckdb.run import build as run_build

    if "://" in source:
        from saas_retention.builders.warehouse.run import build_on_warehouse

        settings = _settings(config, as_of=as_of, grain=grain)
        result = build_on_warehouse(source, settings, schema=schema,
                                    target_schema=target_schema,
                                    progress=None if quiet else _echo_err)
        click.echo(f"warehouse: {result.url} ({result.dialect})")
        _connector_notes(result.connector_notes)
        for w in result.warnings:
            click.echo(f"  {w}")
        click.echo(f"models built: {len(result.models)} "
                   f"({', '.join(f'{m} {n:,}' for m, n in result.models.items())})")
        for m, why in result.skipped.items():
            click.echo(f"  skipped {m}: {why}")
        click.echo(f"time: {result.seconds:.2f} s")
        return
    if schema or target_schema:
        raise click.UsageError("--schema and --target-schema apply to warehouse URLs only")
    if incremental:
        if database is None or out_dir is not None:
            raise click.UsageError("--incremental refreshes a --database (without --out)")
        from saas_retention.builders.incremental.refresh import build_incremental

        settings = _settings(config, as_of=as_of, grain=grain)
        result = build_incremental(source, settings, database=database,
                                   progress=None if quiet else _echo_err)
        _summary(result)
        if result.incremental:
            from saas_retention.builders.incremental.refresh import incremental_models

            kinds = incremental_models()
            refreshed = ", ".join(f"{m} {n:,} rows by {kinds[m][0]}"
                                  for m, n in result.refreshed.items())
            click.echo(f"incremental: recomputed from {result.from_day} "
                       f"({result.staged_events if result.staged_events is not None else 0:,} "
                       f"event rows staged; {refreshed or 'no model'} refreshed; every other "
                       f"model in full) — {result.reason}")
        else:
            click.echo(f"incremental: full rebuild — {result.reason}")
        return
    if out_dir is None and database is None:
        out_dir = "out"
    settings = _settings(config, as_of=as_of, grain=grain)
    result = run_build(source, settings, out_dir=out_dir, fmt=fmt, database=database,
                       progress=None if quiet else _echo_err)
    _summary(result)


def _summary(result) -> None:
    st = result.staging
    _connector_notes(st.connector_notes)
    read = sum(st.tables.values())
    click.echo(f"rows read: {read:,} ({', '.join(f'{t} {n:,}' for t, n in st.tables.items())})")
    used = ", ".join(f"{t} {n:,}" for t, n in st.used.items())
    click.echo(f"rows used: {used}")
    for w in st.warnings:
        click.echo(f"  {w}")
    click.echo(f"models built: {len(result.models)} "
               f"({', '.join(f'{m} {n:,}' for m, n in result.models.items())})")
    for m, why in result.skipped.items():
        click.echo(f"  skipped {m}: {why}")
    if result.database:
        click.echo(f"database: {result.database}")
    if result.files:
        click.echo(f"files: {result.files[0].parent}/ ({', '.join(f.name for f in result.files)})")
    click.echo(f"time: {result.seconds:.2f} s")


@main.command()
@_source
@_config
@_as_of
@click.option("--schema", help="Warehouse sources: the schema holding your tables.")
def check(source, config, as_of, schema):
    """Validate a source against the input contract without building.

    SOURCE may also be a SQLAlchemy URL: the checks a warehouse build runs before it writes
    anything run in that warehouse, and nothing is written to it.
    """
    if "://" in source:
        from saas_retention.builders.warehouse.run import check_on_warehouse

        report = check_on_warehouse(source, _settings(config, as_of=as_of), schema=schema)
        click.echo(f"warehouse: {report.url} ({report.dialect})")
    else:
        if schema:
            raise click.UsageError("--schema applies to warehouse URLs only")
        from saas_retention.builders.duckdb.run import check as run_check

        report = run_check(source, _settings(config, as_of=as_of))
    _connector_notes(report.connector_notes)
    for connector, found in report.connectors.items():
        read = ", ".join(f"{t} {n:,} rows" for t, n in found.items())
        click.echo(f"{connector} connector: read {read}")
    for table, found in report.summaries.items():
        click.echo(f"{table} from its connector: {_connector_summary(found)}")
    for t, n in report.tables.items():
        click.echo(f"{t}: {n:,} rows")
    for t, why in report.skipped.items():
        click.echo(f"{t}: absent ({why}); models that need it are skipped")
    if report.dimensions:
        click.echo(f"dimensions: {', '.join(report.dimensions)}")
    for w in report.warnings:
        click.echo(str(w))
    click.echo("ok: the source satisfies the input contract")


def _connector_notes(notes: dict[str, str]) -> None:
    """Which variant each connector read (Stripe: its schema, and whether it was detected)."""
    for connector, note in notes.items():
        click.echo(f"{connector} connector: {note}")


def _connector_summary(found: dict) -> str:
    """One line of what a connector found (connectors/product.py: summary, kept_summary)."""
    if "rows_read" not in found:
        first, last = found.get("first_at"), found.get("last_at")
        span = "no rows" if first is None else f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
        return (f"{found['rows_kept']:,} rows, {found['customers']:,} customers resolved; "
                f"{span} (local time); rows left out are listed below")
    first, last = found.get("first_event_at"), found.get("last_event_at")
    span = "no events" if first is None else f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
    return (f"{found['rows_read']:,} rows read, {found['rows_kept']:,} kept; "
            f"{found['users']:,} users, {found['customers']:,} customers resolved; {span}; "
            f"left out: {found['duplicates_dropped']:,} duplicates, "
            f"{found['anonymous_left_out']:,} anonymous, "
            f"{found['unresolved_left_out']:,} unresolved")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text",
              show_default=True)
def metrics(fmt):
    """List every metric with its definition."""
    from saas_retention.catalog.docs import metrics_text

    click.echo(metrics_text(markdown=fmt == "markdown"))


@main.command("sql")
@click.option("--dialect", required=True, help="Target engine: duckdb, postgres, snowflake, "
              "bigquery, databricks, spark, trino, clickhouse, redshift, mysql, sqlite, tsql.")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@_config
@_as_of
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write <model>.sql files here instead of printing.")
def sql_command(dialect, models, config, as_of, out_dir):
    """Print (or write) each model as one self-contained query for a warehouse, with your
    table and column mapping applied."""
    from sqlglot import exp

    from saas_retention.core.errors import ConfigError
    from saas_retention.dialects import resolve
    from saas_retention.export.standalone import standalone_sql
    from saas_retention.relations.graph import warehouse_models
    from saas_retention.relations.target import Target

    settings = _settings(config, as_of=as_of)
    available = warehouse_models()
    for m in models:
        if m not in available:
            raise ConfigError(f"unknown or DuckDB-only model {m!r}; warehouse models: "
                              f"{', '.join(available)}")
    customers = settings.mapping("customers")
    target = Target(
        resolve(dialect), settings,
        dimensions=tuple(customers.dimensions or ()),
        has_customers="customers" in settings.tables,
        as_of=None if as_of or settings.as_of else exp.CurrentDate(),
    )
    chosen = list(models) or available
    if out_dir:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for m in chosen:
            (folder / f"{m}.sql").write_text(standalone_sql(m, target), encoding="utf-8")
        click.echo(f"wrote {len(chosen)} files to {folder}/")
    else:
        click.echo("\n".join(standalone_sql(m, target) for m in chosen))


@main.command("dbt")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Write the dbt package (project saas_retention) into this folder.")
@_config
@click.option("--adapter", "adapter_names", multiple=True,
              help="Only this dbt adapter's SQL (repeatable; default: every engine's).")
def dbt_command(out_dir, config, adapter_names):
    """Write a dbt package of every warehouse model: one model per relation using ref() and
    source(), the metadata as descriptions and tests, the settings as vars."""
    from saas_retention.export.dbt import write_package

    files = write_package(Path(out_dir), _settings(config), adapter_names or None)
    click.echo(f"wrote the dbt package saas_retention ({len(files)} files) to {out_dir}/")


@main.command("sbg-fit")
@click.option("--counts", required=True,
              help="Survivor counts at t = 0, 1, 2, … (e.g. 1000,869,743,653,593,551,517,491).")
@click.option("--horizon", type=click.IntRange(1, 1000), default=12, show_default=True,
              help="Periods to project.")
@click.option("--discount", type=click.FloatRange(0, 10), default=0.1, show_default=True,
              help="Discount rate per period for the expected discounted lifetime.")
def sbg_fit(counts, horizon, discount):
    """Fit the shifted-beta-geometric retention model (Fader & Hardie 2007) to one cohort."""
    from saas_retention.core.errors import ConfigError
    from saas_retention.udfs import sbg

    try:
        alive = [float(x) for x in counts.replace(" ", "").split(",") if x]
        result = sbg.fit(alive)
    except ValueError as exc:
        raise ConfigError(f"--counts: {exc}") from None
    if not result.converged:
        click.echo(f"no estimate: the counts do not identify the model (alpha={result.alpha}, "
                   f"beta={result.beta})")
        return
    a, b = result.alpha, result.beta
    click.echo(f"alpha          {a:.4f}")
    click.echo(f"beta           {b:.4f}")
    click.echo(f"log-likelihood {result.log_likelihood:.4f}")
    click.echo(f"expected discounted lifetime (d = {discount:g}): "
               f"{sbg.discounted_expected_lifetime(a, b, discount):.3f} periods")
    click.echo("")
    click.echo("   t   observed   projected   survival   retention")
    for t in range(horizon + 1):
        observed = f"{alive[t]:10,.0f}" if t < len(alive) else " " * 10
        s_t = float(sbg.survival(a, b, t))
        retention = "" if t == 0 else f"{float(sbg.retention_rate(a, b, t)):10.3f}"
        click.echo(f"{t:4d} {observed} {alive[0] * s_t:11,.1f} {s_t:10.4f} {retention}")


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="saas_retention_demo",
              show_default=True, help="Where the demo source and outputs go.")
@click.option("--customers", type=click.IntRange(10, 10_000_000), default=2000, show_default=True)
@click.option("--months", type=click.IntRange(2, 240), default=36, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
def demo(directory, customers, months, seed):
    """Generate synthetic SaaS data, build every model, print the headline numbers."""
    from saas_retention.builders.duckdb.run import build as run_build
    from saas_retention.core.config import parse_settings
    from saas_retention.datagen.demo import generate

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "demo_source.duckdb"
    end = dt.date(2025, 12, 31)
    started = time.perf_counter()
    counts = generate(str(source), customers=customers, months=months, seed=seed, end_date=end)
    _echo_err(f"generated {source} in {time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    settings = parse_settings({"as_of": end})
    result = run_build(source, settings, out_dir=folder / "out",
                       database=folder / "saas_retention.duckdb", progress=_echo_err)
    _summary(result)
    click.echo("")
    click.echo(_headline(result.database))


@main.command()
@click.option("--sizes", default="10k,100k", show_default=True,
              help="Customer counts to benchmark, comma-separated (10k, 100k, 1m).")
@click.option("--months", type=click.IntRange(2, 240), default=36, show_default=True)
@click.option("--events-per-customer-month", type=click.FloatRange(0, 10_000), default=10.0,
              show_default=True, help="Mean events per active customer-month.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--repeat", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Builds per size (the best counts; a baseline runs before and after each).")
@click.option("--udf-rows", type=click.IntRange(0, 500_000_000), default=20_000_000,
              show_default=True, help="Rows for macro vs inline vs Arrow UDF (0 skips).")
@click.option("--no-compare", is_flag=True,
              help="Skip the comparison with the dbt playbook pattern and pandas.")
@click.option("--no-incremental", is_flag=True,
              help="Skip timing build --incremental after one more day of events.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False),
              help="Where generated sources are kept between runs (default: the temp dir).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench_results",
              show_default=True, help="Writes RESULTS.md and results.json here.")
@click.option("--superset", is_flag=True,
              help="Also time every shipped chart's chart-data request in a real Superset "
              "(needs Superset in this environment: pip install 'saas-retention[superset]').")
@click.option("--superset-samples", type=click.IntRange(1, 1000), default=10,
              show_default=True, help="Timed chart-data requests per chart (--superset).")
def bench(sizes, months, events_per_customer_month, seed, repeat, udf_rows, no_compare,
          no_incremental, data_dir, out_dir, superset, superset_samples):
    """Time a full build against one pass over the raw events, per model, metric functions
    three ways and the usual alternatives, on generated data of each size."""
    import shlex

    from saas_retention.bench.runner import parse_sizes, run, write_results

    try:
        chosen = parse_sizes(sizes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sizes") from None
    # every option spelled out, so the results say exactly how to reproduce them
    command = ["saas-retention", "bench", "--sizes", sizes, "--months", str(months),
               "--events-per-customer-month", f"{events_per_customer_month:g}", "--seed",
               str(seed), "--repeat", str(repeat), "--udf-rows", str(udf_rows),
               *(["--no-compare"] if no_compare else []),
               *(["--no-incremental"] if no_incremental else []), "--out", str(out_dir),
               *(["--superset", "--superset-samples", str(superset_samples)]
                 if superset else [])]
    result = run(chosen, months=months, events_per_customer_month=events_per_customer_month,
                 seed=seed, repeat=repeat, udf_rows=udf_rows, compare=not no_compare,
                 data_dir=data_dir, command=shlex.join(command), progress=_echo_err,
                 incremental=not no_incremental, superset=superset,
                 superset_samples=superset_samples)
    json_path, md_path = write_results(result, out_dir)
    click.echo(md_path.read_text(encoding="utf-8"))
    click.echo(f"wrote {md_path} and {json_path}")


def _headline(database: Path) -> str:
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    try:
        row = con.execute(
            "select date_month, customers_end, mrr_end, crr, customer_churn_rate, nrr, grr, "
            "nrr_12m, grr_12m, quick_ratio, arpa from retention order by period_index desc limit 1"
        ).fetchall()[0]
    finally:
        con.close()

    def f(v, spec):
        return "n/a" if v is None else format(v, spec)

    return "\n".join([
        f"headline for {row[0]:%B %Y}:",
        f"  paying customers   {row[1]:,}",
        f"  MRR                {f(row[2], ',.0f')}   ARR {f(row[2] * 12, ',.0f')}",
        f"  CRR (month)        {f(row[3], '.1f')} %   customer churn {f(row[4], '.1f')} %",
        f"  NRR / GRR (month)  {f(row[5], '.1f')} % / {f(row[6], '.1f')} %",
        f"  NRR / GRR (12 m)   {f(row[7], '.1f')} % / {f(row[8], '.1f')} %",
        f"  quick ratio        {f(row[9], '.2f')}   ARPA {f(row[10], ',.2f')}",
    ])


# `saas-retention superset …`: its module imports only click; Superset loads when a command runs.
from saas_retention.superset_plugin.commands import superset as _superset  # noqa: E402

main.add_command(_superset)


if __name__ == "__main__":  # pragma: no cover
    main()
