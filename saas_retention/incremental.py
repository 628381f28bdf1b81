"""Incremental refresh of a DuckDB output database (``build --incremental``).

A build made with ``--incremental`` keeps, in the schema ``sr_build`` of its database (never
``main``, so Superset and ``show tables`` do not see it):

* ``manifest``: fingerprints of the settings (every setting but ``as_of``) and of the code that
  computes the numbers (package version, templates, duckdb and sqlglot versions), the as_of, the
  event columns' source types;
* ``event_days``: per local day, the count and an order-independent hash of the source's event
  rows (raw values of every mapped column);
* ``stg_events``: the staged events, so a refresh stages only the new ones.

A refresh compares the source against them. Only the expensive event models are refreshed
in part: the per-day ones (``incremental: day`` in their .yml) have their rows from the last
covered day (the previous as_of) on recomputed from the events of those days, which are the
only ones staged and validated again; the per-period ones (``incremental: period``) have their
rows from the period holding that day on recomputed from those periods' rows of what they read
(the day models, already refreshed). Every other model is recomputed in full from the updated
tables; the staging of every other table is full too (they are small), so edits to
subscriptions, customers, surveys… are always picked up. Whenever an event dated before the
last covered day was added, edited or deleted, or the settings, code or event columns changed,
or as_of moved back, the refresh is a full rebuild and says why.

The refresh works on a copy of the database that is swapped in with ``os.replace``, like a full
build: readers see the old file or the new one, and a killed refresh leaves the old one intact.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import sqlglot
from sqlglot import exp

from .builder import (
    BuildResult,
    _connect,
    _create_calendar,
    _duckdb_sql,
    _quoted,
    _remove_stale_builds,
    build,
    build_models,
    drop_staging,
    model_params,
)
from .calendar import period_index, period_start
from .config import Settings, load_settings
from .errors import SaasRetentionError, SourceProblems
from .sources import Source, open_source
from .stage import RAW_PREFIX, Stager

STATE_SCHEMA = "sr_build"
MANIFEST_FORMAT = 2


@dataclass
class Decision:
    """What a refresh does: ``full`` with the reason, or recompute from ``from_day`` on."""

    full: bool
    reason: str
    from_day: dt.date | None = None
    changed_days: list[dt.date] = field(default_factory=list)


@dataclass
class IncrementalResult(BuildResult):
    incremental: bool = False
    reason: str = ""
    from_day: dt.date | None = None
    refreshed: dict[str, int] = field(default_factory=dict)  # model -> rows recomputed
    staged_events: int | None = None  # event rows staged (those from from_day on)


# -- fingerprints -------------------------------------------------------------------------------

def settings_fingerprint(settings: Settings) -> dict:
    """Every setting but as_of (a refresh may move it forward), as plain JSON values."""
    return json.loads(settings.model_dump_json(exclude={"as_of"}))


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> dict[str, str]:
    """The code that turns a source into numbers: a different one may compute other numbers."""
    import duckdb

    from . import __version__

    digest = hashlib.sha256()
    folder = resources.files("saas_retention.sql")
    names = ["metrics.yml"] + sorted(
        f"models/{p.name}" for p in folder.joinpath("models").iterdir()
        if p.name.endswith((".sql", ".yml")))
    for name in names:
        digest.update(name.encode())
        digest.update(folder.joinpath(name).read_bytes())
    return {"saas_retention": __version__, "templates": digest.hexdigest()[:16],
            "duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__}


def incremental_models() -> dict[str, tuple[str, str]]:
    """model -> (kind, key column it is refreshed by), from the models' ``incremental:``
    field, in build order (a period model reads the day models refreshed before it)."""
    from .templates import INCREMENTAL_KINDS, load_catalog

    catalog = load_catalog()
    return {name: (catalog.models[name].incremental,
                   INCREMENTAL_KINDS[catalog.models[name].incremental][1])
            for name in catalog.model_order() if catalog.models[name].incremental}


def _event_day_fingerprints(con, stager: Stager) -> str | None:
    """A table of (day, rows, hash) over every source event row, from the typed view (the day
    is the local day staging gives the row; NULL when its time does not parse)."""
    if "events" not in stager.present:
        return None
    raw_cols = [exp.column(RAW_PREFIX + c, quoted=True) for c in stager.present["events"]]
    row_hash = exp.func("hash", *raw_cols)
    select = (
        exp.select(
            exp.alias_(exp.cast(exp.column("event_time", quoted=True), "DATE"), "day"),
            exp.alias_(exp.func("count", exp.Star()), "n"),
            exp.alias_(exp.cast(exp.func("sum", row_hash), "HUGEINT"), "h"),
        )
        .from_("typed_events")
        .group_by(exp.column("day"))
    )
    con.execute("create or replace temp table sr_event_days_new as " + select.sql("duckdb"))
    return "sr_event_days_new"


def _event_types(stager: Stager) -> dict[str, str] | None:
    if "events" not in stager.present:
        return None
    return {c: stager._raw_types["events"][c] for c in stager.present["events"]}


def record_state(con, settings: Settings, stager: Stager, report) -> None:
    """Write the build manifest, the event-day fingerprints and the staged events into
    ``sr_build`` (called by a full build made with --incremental, before staging is dropped)."""
    con.execute(f"create schema if not exists {STATE_SCHEMA}")
    for t in ("manifest", "event_days", "stg_events"):
        con.execute(f"drop table if exists {STATE_SCHEMA}.{t}")
    days = _event_day_fingerprints(con, stager)
    if days is not None:
        con.execute(f"create table {STATE_SCHEMA}.event_days as select * from {days}")
        con.execute(f"create table {STATE_SCHEMA}.stg_events as select * from stg_events")
    _write_manifest(con, settings, stager)


def _write_manifest(con, settings: Settings, stager: Stager) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "settings": settings_fingerprint(settings),
        "code": code_fingerprint(),
        "as_of": settings.as_of_date.isoformat(),
        "event_columns": _event_types(stager),
        "rows": _row_counts(con),
        "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    con.execute(f"create or replace table {STATE_SCHEMA}.manifest (manifest varchar)")
    con.execute(f"insert into {STATE_SCHEMA}.manifest values (?)", [json.dumps(manifest)])


def _row_counts(con) -> dict[str, int]:
    """Rows of every table the build leaves in the file (models, calendars, staged events): a
    refresh of a file someone changed since would carry the change on."""
    names = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database() and table_type = 'BASE TABLE' and "
        "((table_schema = 'main' and not (starts_with(table_name, 'raw_') or "
        "starts_with(table_name, 'typed_') or starts_with(table_name, 'stg_'))) or "
        f"(table_schema = '{STATE_SCHEMA}' and table_name = 'stg_events')) "
        "order by 1, 2").fetchall()
    return {f"{schema}.{name}": con.execute(
        f"select count(*) from {_quoted(schema)}.{_quoted(name)}").fetchall()[0][0]
        for schema, name in names}


def read_manifest(con) -> dict | None:
    try:
        rows = con.execute(f"select manifest from {STATE_SCHEMA}.manifest").fetchall()
    except Exception:  # duckdb.CatalogException: built without --incremental
        return None
    return json.loads(rows[0][0]) if rows else None


# -- the decision -------------------------------------------------------------------------------

def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k} {a!r} → {b!r}")
    return out


def decide(con, manifest: dict | None, settings: Settings, stager: Stager) -> Decision:
    """Compare the previous build's manifest with the new source and settings (event-day
    fingerprints must already be in ``sr_event_days_new``)."""
    if manifest is None:
        return Decision(True, "the database has no build manifest (it was not built with "
                              "--incremental)")
    if manifest.get("format") != MANIFEST_FORMAT:
        return Decision(True, "the build manifest is of another format")
    changed = _diff(manifest["code"], code_fingerprint())
    if changed:
        return Decision(True, "the code that computes the numbers changed: " + "; ".join(changed))
    changed = _diff(manifest["settings"], settings_fingerprint(settings))
    if changed:
        return Decision(True, "settings changed: " + "; ".join(changed))
    changed = _diff(manifest["rows"], _row_counts(con))
    if changed:
        return Decision(True, "the database was changed after its last build (rows of "
                              + "; ".join(changed[:3]) + ")")
    old_as_of = dt.date.fromisoformat(manifest["as_of"])
    if settings.as_of_date < old_as_of:
        return Decision(True, f"as_of moved back ({old_as_of} → {settings.as_of_date})")
    old_cols, new_cols = manifest.get("event_columns"), _event_types(stager)
    if old_cols != new_cols:
        if old_cols is None or new_cols is None:
            what = "the events table appeared" if old_cols is None else "the events table is gone"
        else:
            what = "event columns changed: " + "; ".join(_diff(old_cols, new_cols))
        return Decision(True, what)
    if new_cols is None:
        return Decision(False, "no events table: every model is recomputed in full",
                        from_day=old_as_of)
    changed_days = [r[0] for r in con.execute(
        f"select coalesce(o.day, n.day) as day from {STATE_SCHEMA}.event_days o "
        "full join sr_event_days_new n on o.day is not distinct from n.day "
        "where o.n is distinct from n.n or o.h is distinct from n.h "
        "order by day nulls first").fetchall()]
    early = [d for d in changed_days if d is not None and d < old_as_of]
    if early:
        shown = ", ".join(str(d) for d in early[:3]) + (" …" if len(early) > 3 else "")
        return Decision(True, f"events dated before the last covered day ({old_as_of}) were "
                              f"added, edited or deleted on {len(early)} day(s): {shown}",
                        changed_days=changed_days)
    return Decision(False, f"events changed only from {old_as_of} (the last covered day) on",
                    from_day=old_as_of, changed_days=changed_days)


# -- the refresh --------------------------------------------------------------------------------

def _stage_window(con, stager: Stager, from_day: dt.date) -> None:
    """Keep only the source events of ``from_day`` on (and those whose time does not parse, so
    validation still reports them) in ``raw_events``, before the rules run: the earlier ones
    were validated and staged by the previous build and are unchanged."""
    raw = stager._raw_names["events"]
    cols = [exp.alias_(exp.column(RAW_PREFIX + c, quoted=True), exp.to_identifier(raw[c],
                                                                                    quoted=True))
            for c in stager.present["events"]]
    day = exp.cast(exp.column("event_time", quoted=True), "DATE")
    where = exp.or_(day.is_(exp.null()),
                    exp.GTE(this=day, expression=exp.cast(exp.Literal.string(
                        from_day.isoformat()), "DATE")))
    window = exp.select(*cols).from_("typed_events").where(where)
    con.execute("create temp table raw_events_window as " + window.sql("duckdb"))
    _drop(con, "raw_events")
    # typed_events binds raw_events by name when queried: it now reads the window
    con.execute("alter table raw_events_window rename to raw_events")


def _drop(con, name: str) -> None:
    """Drop a relation of this session whatever it was made as (view, table, temp table)."""
    for catalog, kind in con.execute(
        "select table_catalog, table_type from information_schema.tables "
        "where table_name = ? and table_schema = 'main'", [name]).fetchall():
        what = "view" if kind == "VIEW" else "table"
        con.execute(f"drop {what} {_quoted(catalog)}.main.{_quoted(name)}")


def _window_sql(name: str, settings: Settings, dimensions: list[str],
                first_period: int | None = None) -> str:
    """The model's SQL reading only the new rows: a day model reads the staged window of
    events; a period model (``first_period`` given) reads the rows of the periods from
    ``first_period`` on of every relation it reads (the events and incremental models)."""
    from .templates import load_catalog

    sql = _duckdb_sql(name, settings.grain, tuple(sorted(model_params(settings).items())),
                      tuple(dimensions))
    tree = sqlglot.parse_one(sql, read="duckdb")
    relations = load_catalog().models[name].relations

    def swap(node):
        if not isinstance(node, exp.Table) or node.db or node.name not in relations:
            return node
        alias = node.alias_or_name
        if first_period is None:
            return (exp.to_table("stg_events_window").as_(alias) if node.name == "stg_events"
                    else node)
        rows = (exp.select("*").from_(exp.to_table(node.name, quoted=True))
                .where(exp.GTE(this=exp.column("period_index"),
                               expression=exp.Literal.number(first_period))))
        return rows.subquery(alias)

    return tree.transform(swap).sql("duckdb")


def build_incremental(
    source: str | Path | Source,
    settings: Settings | None = None,
    *,
    database: str | Path,
    progress: Callable[[str], None] | None = None,
) -> IncrementalResult:
    """Refresh ``database`` from ``source``: only the events from the last covered day on are
    staged and the per-day event models are recomputed from that day; a full rebuild (which
    records the state for the next refresh) whenever that could differ from one."""
    started = time.perf_counter()
    settings = settings or load_settings()
    src = source if isinstance(source, Source) else open_source(source)
    db_path = Path(database).resolve()

    def full(reason: str) -> IncrementalResult:
        if progress:
            progress(f"full rebuild: {reason}")
        res = build(src, settings, database=db_path, progress=progress, keep_state=True)
        out = IncrementalResult(**vars(res), incremental=False, reason=reason)
        out.seconds = time.perf_counter() - started
        return out

    if not db_path.is_file():
        return full(f"{db_path.name} does not exist yet")
    if Path(f"{db_path}.wal").exists():
        # a copy of the file alone would lose what the log holds
        return full(f"{db_path.name} has a write-ahead log (it was written to after the build, "
                    "or a writer is still open)")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(db_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{db_path.name}.{os.getpid()}.",
                                    suffix=".building", dir=db_path.parent)
    os.close(fd)
    tmp_db = Path(tmp_name)
    con = None
    try:
        shutil.copyfile(db_path, tmp_db)
        con = _connect(str(tmp_db))
        manifest = read_manifest(con)
        stager = Stager(con, src, settings)
        stager.read()
        if stager.problems:
            raise SourceProblems(stager.problems)
        stager.type_tables()
        _event_day_fingerprints(con, stager)
        decision = decide(con, manifest, settings, stager)
        if decision.full:
            con.close()
            con = None
            return full(decision.reason)
        result = _refresh(con, settings, stager, decision, progress)
        _write_manifest(con, settings, stager)
        if "events" in stager.present:
            con.execute(f"create or replace table {STATE_SCHEMA}.event_days as "
                        "select * from sr_event_days_new")
        drop_staging(con)
        con.execute("checkpoint")
        con.close()
        con = None
        os.replace(tmp_db, db_path)
        result.database = db_path
        result.seconds = time.perf_counter() - started
        return result
    finally:
        if con is not None:
            con.close()
        for leftover in (tmp_db, Path(str(tmp_db) + ".wal")):
            if leftover.exists():
                leftover.unlink()


def _refresh(con, settings: Settings, stager: Stager, decision: Decision,
             progress: Callable[[str], None] | None) -> IncrementalResult:
    from_day = decision.from_day
    has_events = "events" in stager.present
    if has_events:
        _stage_window(con, stager, from_day)
    stager.check_rules()
    if stager.problems:
        raise SourceProblems(stager.problems)
    stager.stage()
    report = stager.report
    result = IncrementalResult(staging=report, incremental=True, reason=decision.reason,
                               from_day=from_day)
    if progress:
        progress(f"incremental refresh from {from_day}: {decision.reason}")
    refreshed: dict[str, int] = {}
    if has_events:
        result.staged_events = con.execute("select count(*) from stg_events").fetchall()[0][0]
        first_day = from_day.toordinal() - dt.date(1970, 1, 1).toordinal()
        con.execute(f"delete from {STATE_SCHEMA}.stg_events where day_index >= ?", [first_day])
        # the window once as a table (staging may have made stg_events a view over the source)
        con.execute("create or replace temp table stg_events_window as select * from stg_events")
        con.execute(f"insert into {STATE_SCHEMA}.stg_events by name "
                    "select * from stg_events_window")
        _drop(con, "stg_events")
        # every other model reads all the events: the kept ones and the window
        con.execute(f"create temp view stg_events as select * from {STATE_SCHEMA}.stg_events")
        first = con.execute(f"select min(activity_date) from {STATE_SCHEMA}.stg_events"
                            ).fetchall()[0][0]
        if first is not None:
            report.first_activity_date = min(d for d in (first, report.first_activity_date)
                                             if d is not None)
        if progress:
            progress(f"staged {result.staged_events:,} event rows from {from_day} on "
                     f"(of {report.tables.get('events', 0):,} in the source)")
        from .templates import load_catalog

        catalog = load_catalog()
        # the period holding the first recomputed day: a period model's rows from it on
        first_period = period_index(from_day, settings.grain, settings.week_start)
        # period models read the calendar: the new as_of's, which may hold a new period
        _create_calendar(con, settings, report)
        for name, (kind, key) in incremental_models().items():
            if any(t in report.skipped for t in catalog.models[name].inputs):
                raise SaasRetentionError(f"{name}: its inputs are absent but events exist "
                                         "(a bug: the manifest check should have caught it)")
            t0 = time.perf_counter()
            table = _quoted(name)
            first = first_day if kind == "day" else first_period
            sql = _window_sql(name, settings, report.dimensions,
                              None if kind == "day" else first_period)
            con.execute(f"delete from {table} where {_quoted(key)} >= ?", [first])
            con.execute(f"insert into {table} by name select * from ({sql}) as model "
                        f"where {_quoted(key)} >= {first}")
            refreshed[name] = con.execute(
                f"select count(*) from {table} where {_quoted(key)} >= ?", [first]
            ).fetchall()[0][0]
            if progress:
                since = from_day if kind == "day" else period_start(first_period,
                                                                    settings.grain,
                                                                    settings.week_start)
                progress(f"refreshed {name} from {since}: {refreshed[name]:,} rows in "
                         f"{time.perf_counter() - t0:.2f} s")
    rest = [m for m in _model_names() if m not in refreshed]
    models, skipped = build_models(con, settings, report, only=rest, progress=progress,
                                   calendar=not has_events)
    for name in refreshed:
        models[name] = con.execute(f"select count(*) from {_quoted(name)}").fetchall()[0][0]
    for name in skipped:
        # a model a full build would now skip must not survive from the previous build
        con.execute(f"drop table if exists {_quoted(name)}")
    result.models = {m: models[m] for m in _model_names() if m in models}
    result.skipped = skipped
    result.refreshed = refreshed
    return result


def _model_names() -> list[str]:
    from .templates import load_catalog

    return load_catalog().model_order()


__all__ = ["Decision", "IncrementalResult", "build_incremental", "decide", "read_manifest",
           "record_state"]
