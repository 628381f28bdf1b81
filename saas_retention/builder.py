"""Building the models in DuckDB: stage → calendar → models → files and/or a database file.

A database target is built in a temporary file next to it and swapped in with ``os.replace``,
so a reader (Superset) sees the old file or the new one, never a half-built or locked one.
Output files are written under temporary names and renamed once every model has succeeded.
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

from .calendar import calendar_rows
from .compile import compile_model
from .config import Settings, load_settings
from .errors import ConfigError, SaasRetentionError, SourceError
from .sources import Source, open_source
from .stage import Stager, StagingReport

FORMATS = ("csv", "parquet")


@dataclass
class BuildResult:
    staging: StagingReport
    models: dict[str, int] = field(default_factory=dict)  # model -> rows
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why
    files: list[Path] = field(default_factory=list)
    database: Path | None = None
    seconds: float = 0.0


MEMORY_LIMIT_ENV = "SAAS_RETENTION_MEMORY_LIMIT"
# DuckDB's own default is 80 % of the machine, as if the build had it to itself; builds run
# beside Superset, a warehouse or other builds, so by default they take a sixth of it and
# spill beyond that (a 1M-customer build stays under 6 GB of RSS on a 24 GB machine, at a
# few percent of its time)
DEFAULT_MEMORY_FRACTION = 1 / 6
MIN_DEFAULT_MEMORY = 1 << 30


def default_memory_limit() -> str | None:
    """The memory limit of a build when :data:`MEMORY_LIMIT_ENV` is not set, as a DuckDB
    size (``"4096MiB"``); None where the physical memory is unknown (DuckDB's default)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    if total <= 0:
        return None
    return f"{max(int(total * DEFAULT_MEMORY_FRACTION), MIN_DEFAULT_MEMORY) >> 20}MiB"


def _connect(path: str | None = None):
    import duckdb

    target = path or ":memory:"
    try:
        # Files written by duckdb 2.x stay readable by the duckdb 1.x that Superset 6.1 pins.
        con = duckdb.connect(target, config={"storage_compatibility_version": "v1.0.0"})
    except duckdb.Error:
        con = duckdb.connect(target)
    if path is None:
        # beyond the memory limit DuckDB spills into its temp_directory, by default ".tmp" in
        # the working directory for an in-memory database; a file database's is "<file>.tmp"
        # beside it. DuckDB creates the directory only when it spills and removes it on close.
        spill = Path(tempfile.gettempdir()) / f"saas-retention-{os.getpid()}-{id(con):x}.tmp"
        con.execute(f"set temp_directory = {exp.Literal.string(str(spill)).sql('duckdb')}")
    limit = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if limit:
        # set, it replaces the default below (e.g. 4GB to share a machine, or 80% of it)
        try:
            con.execute(f"set memory_limit = {exp.Literal.string(limit).sql('duckdb')}")
        except duckdb.Error as exc:
            con.close()
            raise ConfigError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size DuckDB "
                              f"accepts (e.g. 4GB, 500MB): {exc}") from None
    elif (default := default_memory_limit()) is not None:
        con.execute(f"set memory_limit = {exp.Literal.string(default).sql('duckdb')}")
    return con


def check(source: str | Path | Source, settings: Settings | None = None) -> StagingReport:
    """Validate a source against the input contract without building anything."""
    settings = settings or load_settings()
    src = source if isinstance(source, Source) else open_source(source)
    con = _connect()
    try:
        return Stager(con, src, settings).run(stage=True)
    finally:
        con.close()


def _create_calendar(con, settings: Settings, report: StagingReport, *,
                     days: bool = True) -> None:
    import pyarrow as pa

    first, last = report.first_period_index, report.as_of_index
    if first is None:
        raise SourceError(
            f"subscriptions: no subscription is active on or before as_of "
            f"({settings.as_of_date}); nothing to build"
        )
    rows = calendar_rows(first, last, settings.grain, settings.week_start, settings.as_of_date)
    dates = ("period_start", "period_end", "last_day", "snapshot_date", "rolling_30_start",
             "rolling_365_start")
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema([("period_index", pa.int64()), *((d, pa.date32()) for d in dates)]),
    )
    con.register("sr_calendar_rows", table)
    con.execute("create or replace table calendar as select * from sr_calendar_rows "
                "order by period_index")
    con.unregister("sr_calendar_rows")
    if days:
        _create_day_calendar(con, settings, report)


def _create_day_calendar(con, settings: Settings, report: StagingReport) -> None:
    """``calendar_days``: every day from the earliest dated row (events, surveys…) or
    subscription period to as_of, with its week and month indexes — so daily averages count
    days without activity as zeros."""
    import datetime as dt

    import pyarrow as pa

    from .calendar import period_index, period_start

    first_day = period_start(report.first_period_index, settings.grain, settings.week_start)
    if report.first_activity_date is not None:
        first_day = min(first_day, report.first_activity_date)
    # whole weeks and months: a daily average over a cut first month would be wrong
    first_day = min(period_start(period_index(first_day, "week", settings.week_start), "week",
                                 settings.week_start),
                    first_day.replace(day=1))
    last_day = settings.as_of_date
    days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    table = pa.table({
        "day_index": pa.array([period_index(d, "day") for d in days], pa.int64()),
        "activity_date": pa.array(days, pa.date32()),
        "week_index": pa.array([period_index(d, "week", settings.week_start) for d in days],
                               pa.int64()),
        "month_index": pa.array([period_index(d, "month") for d in days], pa.int64()),
        "period_index": pa.array([period_index(d, settings.grain, settings.week_start)
                                  for d in days], pa.int64()),
        # the month's first day, so monthly models need no date truncation (not portable)
        "month_start": pa.array([d.replace(day=1) for d in days], pa.date32()),
    })
    con.register("sr_day_rows", table)
    con.execute("create or replace table calendar_days as select * from sr_day_rows "
                "order by day_index")
    con.unregister("sr_day_rows")


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


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
            con.execute(f"drop {what} if exists {_quoted(name)}")
    register(con, arrow=False)


@functools.lru_cache(maxsize=256)
def _duckdb_sql(model: str, grain: str, params: tuple, dimensions: tuple) -> str:
    # compiling (parse, inline, generate) costs more than building a small source: repeated
    # builds in one process (tests, benchmarks, incremental refreshes) reuse it
    return compile_model(model, "duckdb", grain=grain, params=dict(params),
                         dimensions=dimensions, pretty=False)


def model_params(settings: Settings) -> dict[str, object]:
    """Values of the templates' ``:parameters``, all derived from validated settings."""
    return {
        "periods_per_year": settings.periods_per_year,
        "preset": settings.preset,
        "churn_window_preceding": settings.churn_window - 1,
        "gross_margin": settings.gross_margin,
        "months_per_period": 12 / settings.periods_per_year,
        # an annual rate turned into the per-period rate of the grain
        "discount_rate_per_period": (1 + settings.discount_rate) ** (1 / settings.periods_per_year)
        - 1,
        "as_of": settings.as_of_date.isoformat(),
        "activation_event": settings.activation_event or "",
        "session_timeout_seconds": settings.session_timeout_minutes * 60,
        "journey_window_days": settings.journey_window_days,
        "weight_frequency": settings.engagement_weights.frequency,
        "weight_breadth": settings.engagement_weights.breadth,
        "weight_time": settings.engagement_weights.time,
        "weight_support": settings.engagement_weights.support,
    }


def relations_read(models: list[str] | None = None) -> set[str] | None:
    """Every relation (staged table, calendar, model) that building ``models`` and the models
    they depend on reads; None for every model. Staging leaves out what none of them read."""
    if models is None:
        return None
    from .templates import load_catalog

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


def export_order(model) -> str:
    """The ORDER BY of a model's rows in files: its key, which is unique, so the same input
    gives byte-identical files whatever order parallel threads produced the rows in."""
    return ", ".join(_quoted(k) for k in model.key)


def build_models(con, settings: Settings, report: StagingReport, *,
                 only: list[str] | None = None,
                 progress: Callable[[str], None] | None = None,
                 calendar: bool = True) -> tuple[dict, dict]:
    """Create every buildable model as a table in ``con``; returns (rows, skipped).
    ``calendar=False``: the caller already made this build's calendars."""
    from .templates import load_catalog

    catalog = load_catalog()
    built: dict[str, int] = {}
    skipped: dict[str, str] = {}
    needed = relations_read(only)
    if calendar:
        _create_calendar(con, settings, report,
                         days=needed is None or "calendar_days" in needed)
    if any(catalog.models[m].engines == ("duckdb",) for m in catalog.models
           if needed is None or m in needed):
        from saas_retention.udfs.arrow import register_arrow_udfs

        register_arrow_udfs(con)  # model fitting (sbg_fit) runs as a vectorised Arrow UDF
    params = model_params(settings)
    for name in catalog.model_order():
        model = catalog.models[name]
        if only and name not in only:
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
        sql = _duckdb_sql(name, settings.grain, tuple(sorted(params.items())),
                          tuple(report.dimensions))
        # Per-customer tables (millions of rows) are stored in whatever order the engine
        # produces them: sorting them cost more than computing some of them, and every reader
        # aggregates or joins them. The per-period marts people browse are stored in key
        # order; exported files are always sorted (see ``export_order``).
        order = "" if "customer_id" in model.key else f" order by {export_order(model)}"
        con.execute(f"create or replace table {_quoted(name)} as "
                    f"select * from ({sql}) as model{order}")
        built[name] = con.execute(f"select count(*) from {_quoted(name)}").fetchall()[0][0]
        if progress:
            progress(f"built {name}: {built[name]:,} rows in "
                     f"{time.perf_counter() - started:.2f} s")
    return built, skipped


def _remove_stale_builds(db_path: Path) -> None:
    """Delete temporary files (and spill directories) of builds that were killed (their
    process is gone); a running build of the same target keeps its own."""
    for leftover in db_path.parent.glob(f".{db_path.name}.*.building*"):
        parts = leftover.name[len(db_path.name) + 2:].split(".")
        try:
            os.kill(int(parts[0]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            if leftover.is_dir():  # DuckDB's spill directory "<file>.tmp"
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        except PermissionError:
            pass  # another user's live process


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
    later (see saas_retention.incremental)."""
    started = time.perf_counter()
    settings = settings or load_settings()
    if fmt not in FORMATS:
        raise SaasRetentionError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    src = source if isinstance(source, Source) else open_source(source)
    db_path = Path(database).resolve() if database else None
    tmp_db = None
    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(db_path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{db_path.name}.{os.getpid()}.",
                                        suffix=".building", dir=db_path.parent)
        os.close(fd)
        os.unlink(tmp_name)  # duckdb creates the file itself
        tmp_db = Path(tmp_name)
    con = _connect(str(tmp_db) if tmp_db else None)
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
            from .templates import load_catalog

            catalog = load_catalog()
            for name in models:
                target = staged_out / f"{name}.{fmt}"
                options = "(format csv, header true)" if fmt == "csv" else "(format parquet)"
                con.execute(f"copy (select * from {_quoted(name)} order by "
                            f"{export_order(catalog.models[name])}) to "
                            f"{exp.Literal.string(str(target)).sql('duckdb')} {options}")
        if tmp_db is not None:
            if keep_state:
                from .incremental import record_state

                record_state(con, settings, stager, report)

            drop_staging(con)
            con.execute("checkpoint")
        con.close()
        con = None
        if tmp_db is not None:
            os.replace(tmp_db, db_path)
            result.database = db_path
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
        if tmp_db is not None:
            for leftover in (tmp_db, Path(str(tmp_db) + ".wal")):
                if leftover.exists():
                    leftover.unlink()
        if staged_out is not None and staged_out.exists():
            shutil.rmtree(staged_out, ignore_errors=True)
