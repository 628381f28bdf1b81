"""Building the models in DuckDB: stage → calendar → models → files and/or a database file.

A database target is built in a temporary file next to it and swapped in whole
(``saas_retention.builders.atomic``), so a reader (Superset) sees the old file or the new one,
never a half-built or locked one. Output files are written under temporary names and renamed
once every model has succeeded.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlglot import exp

from saas_retention.builders.atomic import PendingDatabase, connect
from saas_retention.builders.duckdb.calendars import create_calendar
from saas_retention.builders.duckdb.sources import Source, open_source
from saas_retention.builders.duckdb.stage import Stager, StagingReport, engine_values, quoted
from saas_retention.catalog.compile import compile_model, row_key
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import Settings, load_settings
from saas_retention.core.errors import SaasRetentionError
from saas_retention.core.params import model_params

FORMATS = ("csv", "parquet")


@dataclass
class BuildResult:
    staging: StagingReport
    models: dict[str, int] = field(default_factory=dict)  # model -> rows
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why
    files: list[Path] = field(default_factory=list)
    database: Path | None = None
    seconds: float = 0.0


def check(source: str | Path | Source, settings: Settings | None = None) -> StagingReport:
    """Validate a source against the input contract without building anything."""
    settings = settings or load_settings()
    src = source if isinstance(source, Source) else open_source(source)
    con = connect()
    try:
        return Stager(con, src, settings).run(stage=True)
    finally:
        con.close()


def drop_staging(con) -> None:
    """Drop the raw_/typed_/stg_ relations left in the file, keeping the macros: they persist in
    the file for Superset and SQL users."""
    from saas_retention.udfs import register

    for rel in ("raw", "typed", "stg"):
        for (name, kind) in con.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'main' and starts_with(table_name, ?)", [rel + "_"]
        ).fetchall():
            what = "view" if kind == "VIEW" else "table"
            con.execute(f"drop {what} if exists {quoted(name)}")
    register(con, arrow=False)


# The parameters a model's compile reads besides its own ``:placeholders`` (which the catalog
# checks against the ones it declares): those that expand template constructs (model_ast).
EXPANDING_PARAMS = frozenset({"subscription_dimensions", "retention_curves"})


def duckdb_sql(model: str, grain: str, params: tuple, dimensions: tuple) -> str:
    """``compile_model`` for the DuckDB build, cached by what the model's SQL depends on: the
    parameters it reads, not the others (as_of is one model's parameter: keyed by every
    setting, another day's build recompiled every model; the fast tier of test_incremental.py
    compiled 702 times, 168 now)."""
    used = EXPANDING_PARAMS.union(load_catalog().models[model].params)
    return _duckdb_sql(model, grain, tuple(p for p in params if p[0] in used), dimensions)


# every model (about 110 kB of SQL) at two dozen settings of grain, week start, dimensions…:
# a few MB
@functools.lru_cache(maxsize=1024)
def _duckdb_sql(model: str, grain: str, params: tuple, dimensions: tuple) -> str:
    # compiling (parse, inline, generate) costs more than building a small source: repeated
    # builds in one process (tests, benchmarks, incremental refreshes) reuse it
    return compile_model(model, "duckdb", grain=grain, params=dict(params),
                         dimensions=dimensions, pretty=False)


def clear_compile_cache() -> None:
    """Forget every compiled model (the benchmark times a cold compile)."""
    _duckdb_sql.cache_clear()


def relations_read(models: list[str] | None = None) -> set[str] | None:
    """Every relation (staged table, calendar, model) that building ``models`` and the models
    they depend on reads; None for every model. Staging leaves out what none of them read."""
    if models is None:
        return None
    catalog = load_catalog().models
    read: set[str] = set()
    todo = list(models)
    while todo:
        name = todo.pop()
        if name in read:
            continue
        read.add(name)
        todo.extend(catalog[name].relations if name in catalog else ())
    return read


def export_order(model, con=None, relation: str = "") -> str:
    """The ORDER BY of a model's rows in files: its key, which is unique, so the same input
    gives byte-identical files whatever order parallel threads produced the rows in. A
    rollup's key also holds the dimensions, which the settings name: they are read from the
    columns of ``relation`` (a table or a parenthesised query) on ``con``."""
    columns: list[str] = []
    if model.key_dimensions:
        columns = [d[0] for d in con.execute(f"select * from {relation} limit 0").description]
    return ", ".join(quoted(k) for k in row_key(model, columns))


def ensure_arrow_udfs(con, models) -> bool:
    """Register the Arrow UDFs when one of ``models`` runs on DuckDB alone (model fitting,
    sbg_fit, is a vectorised Arrow UDF); returns whether it did."""
    catalog = load_catalog().models
    if not any(catalog[m].engines == ("duckdb",) for m in models):
        return False
    from saas_retention.udfs.arrow import register_arrow_udfs

    register_arrow_udfs(con)
    return True


def build_models(con, settings: Settings, report: StagingReport, *,
                 only: list[str] | None = None,
                 progress: Callable[[str], None] | None = None,
                 calendar: bool = True) -> tuple[dict, dict]:
    """Create every buildable model as a table in ``con``; returns (rows, skipped).
    ``calendar=False``: the caller already made this build's calendars."""
    catalog = load_catalog()
    built: dict[str, int] = {}
    skipped: dict[str, str] = {}
    needed = relations_read(only)
    if calendar:
        create_calendar(con, settings, report,
                         days=needed is None or "calendar_days" in needed)
    ensure_arrow_udfs(con, [m for m in catalog.models if needed is None or m in needed])
    params = model_params(settings)
    for name in catalog.model_order():
        model = catalog.models[name]
        if only and name not in only and not (name in needed and not _exists(con, name)):
            # a model outside ``only`` is built when one of them reads it and this database
            # does not hold it yet (the reporting_periods spine of the MRR models built alone;
            # an incremental refresh's file already holds every model)
            continue
        missing = [t for t in model.inputs if t in report.skipped]
        missing_deps = [d for d in model.depends_on(catalog.models) if d in skipped]
        if missing or missing_deps:
            why = (f"input table {', '.join(missing)} absent" if missing
                   else f"depends on skipped {', '.join(missing_deps)}")
            skipped[name] = why
            if progress:
                progress(f"skipped {name}: {why}")
            continue
        started = time.perf_counter()
        sql = duckdb_sql(name, settings.grain, tuple(sorted(params.items())),
                          tuple(report.dimensions))
        # Per-customer tables (millions of rows) are stored in whatever order the engine
        # produces them: sorting them cost more than computing some of them, and every reader
        # aggregates or joins them. The per-period marts people browse are stored in key
        # order; exported files are always sorted (see ``export_order``).
        with engine_values(name):
            order = ("" if "customer_id" in model.key
                     else f" order by {export_order(model, con, f'({sql}) as model')}")
            con.execute(f"create or replace table {quoted(name)} as "
                        f"select * from ({sql}) as model{order}")
        built[name] = con.execute(f"select count(*) from {quoted(name)}").fetchall()[0][0]
        if progress:
            progress(f"built {name}: {built[name]:,} rows in "
                     f"{time.perf_counter() - started:.2f} s")
    return built, skipped


def _exists(con, name: str) -> bool:
    return bool(con.execute("select count(*) from duckdb_tables() where table_name = ? and "
                            "schema_name = 'main'", [name]).fetchall()[0][0])


def build(
    source: str | Path | Source,
    settings: Settings | None = None,
    *,
    out_dir: str | Path | None = None,
    fmt: str = "csv",
    database: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    keep_state: bool = False,
) -> BuildResult:
    """Build every model whose inputs exist; write files into ``out_dir`` and/or ``database``.

    ``keep_state`` records in the database what ``build --incremental`` needs to refresh it
    later (see saas_retention.builders.incremental)."""
    started = time.perf_counter()
    settings = settings or load_settings()
    if fmt not in FORMATS:
        raise SaasRetentionError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    src = source if isinstance(source, Source) else open_source(source)
    pending = PendingDatabase(database) if database else None
    con = pending.connect() if pending else connect()
    staged_out: Path | None = None
    try:
        stager = Stager(con, src, settings)
        report = stager.run()
        if progress:
            read = ", ".join(f"{t} {n:,}" for t, n in report.tables.items())
            progress(f"read {read}")
            for w in report.warnings:
                progress(str(w))
        models, skipped = build_models(con, settings, report, progress=progress)
        result = BuildResult(staging=report, models=models, skipped=skipped)
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            staged_out = Path(tempfile.mkdtemp(prefix=".building-", dir=out))
            catalog = load_catalog()
            for name in models:
                target = staged_out / f"{name}.{fmt}"
                options = "(format csv, header true)" if fmt == "csv" else "(format parquet)"
                con.execute(f"copy (select * from {quoted(name)} order by "
                            f"{export_order(catalog.models[name], con, quoted(name))}) to "
                            f"{exp.Literal.string(str(target)).sql('duckdb')} {options}")
        if pending is not None:
            if keep_state:
                from saas_retention.builders.incremental.state import record_state

                record_state(con, settings, stager, report)

            drop_staging(con)
            result.database = pending.commit(con)
        else:
            con.close()
        con = None
        if staged_out is not None:
            for f in sorted(staged_out.iterdir()):
                final = Path(out_dir) / f.name
                os.replace(f, final)
                result.files.append(final)
        result.seconds = time.perf_counter() - started
        return result
    finally:
        if con is not None:
            con.close()
        if pending is not None:
            pending.discard()
        if staged_out is not None and staged_out.exists():
            shutil.rmtree(staged_out, ignore_errors=True)
