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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp

from saas_retention.builders.atomic import PendingDatabase
from saas_retention.builders.duckdb.calendars import create_calendar
from saas_retention.builders.duckdb.run import (
    BuildResult,
    build,
    build_models,
    drop_staging,
    duckdb_sql,
)
from saas_retention.builders.duckdb.sources import Source, open_source
from saas_retention.builders.duckdb.stage import RAW_PREFIX, Stager, quoted
from saas_retention.builders.incremental.state import (
    STATE_SCHEMA,
    Decision,
    decide,
    event_day_fingerprints,
    incremental_models,
    read_manifest,
    write_manifest,
)
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import Settings, load_settings
from saas_retention.core.errors import SaasRetentionError, SourceProblems
from saas_retention.core.params import model_params
from saas_retention.core.periods import period_index, period_start


@dataclass
class IncrementalResult(BuildResult):
    incremental: bool = False
    reason: str = ""
    from_day: dt.date | None = None
    refreshed: dict[str, int] = field(default_factory=dict)  # model -> rows recomputed
    staged_events: int | None = None  # event rows staged (those from from_day on)


# -- the refresh --------------------------------------------------------------------------------

def _stage_window(con, stager: Stager, from_day: dt.date) -> None:
    """Keep only the source events of ``from_day`` on (and those whose time does not parse, so
    validation still reports them) in ``raw_events``, before the rules run: the earlier ones
    were validated and staged by the previous build and are unchanged."""
    raw = stager.raw_names["events"]
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
        con.execute(f"drop {what} {quoted(catalog)}.main.{quoted(name)}")


def _window_sql(name: str, settings: Settings, dimensions: list[str],
                first_period: int | None = None) -> str:
    """The model's SQL reading only the new rows: a day model reads the staged window of
    events; a period model (``first_period`` given) reads the rows of the periods from
    ``first_period`` on of every relation it reads (the events and incremental models)."""
    sql = duckdb_sql(name, settings.grain, tuple(sorted(model_params(settings).items())),
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


# the contract tables a connector may produce besides subscriptions
DATED_CONTRACT = ("events", "survey_responses", "referrals", "support_tickets", "customers")


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

    from saas_retention.connectors import connector_for

    via = {t: c.name for t in ("subscriptions", *DATED_CONTRACT) if (c := connector_for(
        settings, t)) is not None}
    if via:
        # a connector's contract table is derived from the tool's whole history (a late
        # invoice changes earlier coverage): it is rebuilt, never refreshed from a day on
        return full(", ".join(f"{t} comes from the {n!r} connector" for t, n in via.items()))
    if not db_path.is_file():
        return full(f"{db_path.name} does not exist yet")
    if Path(f"{db_path}.wal").exists():
        # a copy of the file alone would lose what the log holds
        return full(f"{db_path.name} has a write-ahead log (it was written to after the build, "
                    "or a writer is still open)")
    pending = PendingDatabase(db_path, copy=True)
    con = None
    try:
        con = pending.connect()
        manifest = read_manifest(con)
        stager = Stager(con, src, settings)
        stager.read()
        if stager.problems:
            raise SourceProblems(stager.problems)
        stager.type_tables()
        event_day_fingerprints(con, stager)
        decision = decide(con, manifest, settings, stager)
        if decision.full:
            con.close()
            con = None
            return full(decision.reason)
        result = _refresh(con, settings, stager, decision, progress)
        write_manifest(con, settings, stager)
        if "events" in stager.present:
            con.execute(f"create or replace table {STATE_SCHEMA}.event_days as "
                        "select * from sr_event_days_new")
        drop_staging(con)
        result.database = pending.commit(con)
        con = None
        result.seconds = time.perf_counter() - started
        return result
    finally:
        if con is not None:
            con.close()
        pending.discard()


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
        if progress:
            progress(f"staged {result.staged_events:,} event rows from {from_day} on "
                     f"(of {report.tables.get('events', 0):,} in the source)")
        catalog = load_catalog()
        # the period holding the first recomputed day: a period model's rows from it on
        first_period = period_index(from_day, settings.grain, settings.week_start)
        # period models read the calendar: the new as_of's, which may hold a new period
        # (calendar_days starts at the earliest of all the events, kept and new)
        create_calendar(con, settings, report)
        for name, (kind, key) in incremental_models().items():
            if any(t in report.skipped for t in catalog.models[name].inputs):
                raise SaasRetentionError(f"{name}: its inputs are absent but events exist "
                                         "(a bug: the manifest check should have caught it)")
            t0 = time.perf_counter()
            table = quoted(name)
            first = first_day if kind == "day" else first_period
            sql = _window_sql(name, settings, report.dimensions,
                              None if kind == "day" else first_period)
            con.execute(f"delete from {table} where {quoted(key)} >= ?", [first])
            con.execute(f"insert into {table} by name select * from ({sql}) as model "
                        f"where {quoted(key)} >= {first}")
            refreshed[name] = con.execute(
                f"select count(*) from {table} where {quoted(key)} >= ?", [first]
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
        models[name] = con.execute(f"select count(*) from {quoted(name)}").fetchall()[0][0]
    for name in skipped:
        # a model a full build would now skip must not survive from the previous build
        con.execute(f"drop table if exists {quoted(name)}")
    result.models = {m: models[m] for m in _model_names() if m in models}
    result.skipped = skipped
    result.refreshed = refreshed
    return result


def _model_names() -> list[str]:
    return load_catalog().model_order()


__all__ = ["IncrementalResult", "build_incremental"]
