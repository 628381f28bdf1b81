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
(the day models, already refreshed); the sessions model (``incremental: sessions``) has its
rows from the first period a session touched by those days starts in recomputed
(``sessions.py``). The staging of every other table is full (they are
small), and the manifest holds a fingerprint of each, as read and as staged: a model declaring
``refresh: keep`` in its .yml (the index of a row's period; rows never read later periods but
the ``ahead`` ones, nor as_of, nor whole-history aggregates) keeps its rows of the periods that
end before the first day anything it reads may differ (the calendars are compared row by row,
the staged tables whole: an edited subscription makes every model reading it, and every model
reading those, recomputed in full), and has the others recomputed; a model declaring
``refresh: full`` (and the reason) is recomputed in full. Whenever an event dated before the
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

import duckdb
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
    ensure_arrow_udfs,
    export_order,
)
from saas_retention.builders.duckdb.sources import Source, open_source
from saas_retention.builders.duckdb.stage import RAW_PREFIX, Stager, engine_values, quoted
from saas_retention.builders.incremental import sessions
from saas_retention.builders.incremental.state import (
    STATE_SCHEMA,
    Decision,
    append_staged_events,
    decide,
    event_day_fingerprints,
    incremental_models,
    read_manifest,
    record_customer_hashes,
    table_fingerprints,
    write_manifest,
)
from saas_retention.catalog.compile import bind_params
from saas_retention.catalog.templates import SESSIONS_PARAM, by_customer, load_catalog
from saas_retention.core.config import Settings, load_settings
from saas_retention.core.errors import SaasRetentionError, SourceProblems
from saas_retention.core.params import model_params
from saas_retention.core.periods import EPOCH, period_index, period_start


@dataclass
class IncrementalResult(BuildResult):
    incremental: bool = False
    reason: str = ""
    from_day: dt.date | None = None
    refreshed: dict[str, int] = field(default_factory=dict)  # model -> rows recomputed
    staged_events: int | None = None  # event rows staged (those from from_day on)
    # model -> first recomputed index of its rows (None: none recomputed), of the models that
    # kept the rows of closed periods; every other model but ``refreshed`` was rebuilt in full
    kept: dict[str, int | None] = field(default_factory=dict)
    # customers whose staged subscription or customer rows changed (a ``whole_history`` model
    # recomputed every row of theirs); None: no such model was kept
    changed_customers: int | None = None
    # model -> customers recomputed, of the models refreshed customer by customer
    # (``refresh: customers``); the other customers' rows were kept
    customers: dict[str, int] = field(default_factory=dict)
    fingerprints: dict = field(default_factory=dict)


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
                first_period: int | None = None, events: str | None = None,
                customers: str | None = None) -> str:
    """The model's SQL reading only the new rows: a day model reads the staged window of
    events; a period model (``first_period`` given) reads the rows of the periods from
    ``first_period`` on of every relation it reads (the events and incremental models), and
    only those of the customers in the relation ``customers`` when given; ``events``, when
    given, is read as the events instead (the sessions model's input)."""
    sql = duckdb_sql(name, settings.grain, tuple(sorted(model_params(settings).items())),
                      tuple(dimensions))
    tree = sqlglot.parse_one(sql, read="duckdb")
    relations = load_catalog().models[name].relations

    def swap(node):
        if not isinstance(node, exp.Table) or node.db or node.name not in relations:
            return node
        alias = node.alias_or_name
        if events is not None and node.name == "stg_events":
            return exp.to_table(events).as_(alias)
        if first_period is None:
            return (exp.to_table("stg_events_window").as_(alias) if node.name == "stg_events"
                    else node)
        rows = (exp.select("*").from_(exp.to_table(node.name, quoted=True))
                .where(exp.GTE(this=exp.column("period_index"),
                               expression=exp.Literal.number(first_period))))
        if customers is not None and node.name != "calendar":
            rows = rows.where(_of_customers(customers))
        return rows.subquery(alias)

    return tree.transform(swap).sql("duckdb")


def _of_customers(customers: str) -> exp.Expression:
    return exp.In(this=exp.column("customer_id"),
                  query=exp.select("customer_id").from_(customers).subquery())


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
    step = time.perf_counter()

    def done(what: str) -> None:
        nonlocal step
        if progress:
            progress(f"{what} in {time.perf_counter() - step:.2f} s")
        step = time.perf_counter()

    pending = PendingDatabase(db_path, copy=True)
    con = None
    try:
        done(f"copied {db_path.name} ({db_path.stat().st_size / 2**20:,.0f} MiB) to refresh "
             "the copy")
        con = pending.connect()
        manifest = read_manifest(con)
        stager = Stager(con, src, settings)
        stager.read()
        if stager.problems:
            raise SourceProblems(stager.problems)
        stager.type_tables()
        done("read the source")
        if event_day_fingerprints(con, stager):
            done("fingerprinted the source's events by day")
        decision = decide(con, manifest, settings, stager)
        if decision.full:
            con.close()
            con = None
            return full(decision.reason)
        result = _refresh(con, settings, stager, decision, manifest, progress)
        write_manifest(con, settings, stager, result.fingerprints)
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


def _refresh(con, settings: Settings, stager: Stager, decision: Decision, manifest: dict,
             progress: Callable[[str], None] | None) -> IncrementalResult:
    from_day = decision.from_day
    has_events = "events" in stager.present
    if progress:
        progress(f"incremental refresh from {from_day}: {decision.reason}")
    started = time.perf_counter()
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
        window = f" (the events from {from_day} on)" if has_events else ""
        progress(f"checked and staged the source{window} in "
                 f"{time.perf_counter() - started:.2f} s")
    refreshed: dict[str, int] = {}
    # incremental model -> the first day of its recomputed rows (its earlier rows are kept)
    recomputed_from: dict[str, dt.date] = {}
    if has_events:
        result.staged_events = con.execute("select count(*) from stg_events").fetchall()[0][0]
        first_day = from_day.toordinal() - dt.date(1970, 1, 1).toordinal()
        # the sessions the replaced events were in may change (incremental: sessions)
        con.execute("create or replace temp table sr_old_session_ids as select distinct "
                    f"customer_id, session_id from {STATE_SCHEMA}.stg_events where "
                    "day_index >= ? and session_id is not null and customer_id is not null",
                    [first_day])
        # the customers whose events changed: those of the replaced events and of the new
        # ones; a model computing each customer from their own rows (by_customer) recomputes
        # these alone
        con.execute("create or replace temp table sr_event_customers as select distinct "
                    f"customer_id from {STATE_SCHEMA}.stg_events where day_index >= ? and "
                    "customer_id is not null", [first_day])
        con.execute(f"delete from {STATE_SCHEMA}.stg_events where day_index >= ?", [first_day])
        # the window once as a table (staging may have made stg_events a view over the source)
        con.execute("create or replace temp table stg_events_window as select * from stg_events")
        con.execute("insert into sr_event_customers select distinct customer_id from "
                    "stg_events_window where customer_id is not null except "
                    "select customer_id from sr_event_customers")
        append_staged_events(con, "stg_events_window", settings.as_of_date)
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
        _snapshot_calendars(con)
        create_calendar(con, settings, report)
        for name, (kind, key) in incremental_models().items():
            if any(t in report.skipped for t in catalog.models[name].inputs):
                raise SaasRetentionError(f"{name}: its inputs are absent but events exist "
                                         "(a bug: the manifest check should have caught it)")
            t0 = time.perf_counter()
            table = quoted(name)
            # a day model's recomputed rows are all new; a period (sessions) model's rows of
            # the other customers stay when it computes each customer from their rows alone
            customers = "sr_event_customers" if by_customer(catalog.models[name]) else None
            if kind == "sessions":
                timeout = model_params(settings)[SESSIONS_PARAM]
                first = sessions.refresh_input(con, f"{STATE_SCHEMA}.stg_events", first_day,
                                               first_period, settings, timeout,
                                               "sr_old_session_ids", customers)
                sql = _window_sql(name, settings, report.dimensions, events=sessions.INPUT)
            else:
                first = first_day if kind == "day" else first_period
                sql = _window_sql(name, settings, report.dimensions,
                                  None if kind == "day" else first_period, customers=customers)
            which = (f" and {_of_customers(customers).sql('duckdb')}" if customers else "")
            con.execute(f"delete from {table} where {quoted(key)} >= ?{which}", [first])
            con.execute(f"insert into {table} by name select * from ({sql}) as model "
                        f"where {quoted(key)} >= {first}")
            refreshed[name] = con.execute(
                f"select count(*) from {table} where {quoted(key)} >= ?{which}", [first]
            ).fetchall()[0][0]
            since = from_day if kind == "day" else period_start(first, settings.grain,
                                                                settings.week_start)
            recomputed_from[name] = since
            if progress:
                of = " of the customers whose events changed" if customers else ""
                progress(f"refreshed {name} from {since}{of}: {refreshed[name]:,} rows in "
                         f"{time.perf_counter() - t0:.2f} s")
    fingerprints = table_fingerprints(con, stager)
    if not has_events:
        _snapshot_calendars(con)
        create_calendar(con, settings, report)
    clean, as_of_only = _clean_from(con, settings, from_day, manifest, fingerprints)
    if has_events:
        clean["stg_events"] = from_day
        clean.update(recomputed_from)
    changed = sorted(t for t, f in fingerprints["tables"].items()
                     if (manifest.get("tables") or {}).get(t) != f)
    if changed and progress:
        progress(f"changed since the last build: {', '.join(changed)} (the models reading "
                 "them are recomputed in full)")
    models, skipped, kept, result.changed_customers = _rest(
        con, settings, report, refreshed, clean, as_of_only, progress, result.customers,
        events=has_events)
    if result.changed_customers is None:
        record_customer_hashes(con)
    else:  # computed for the decision above, from the same staged tables
        con.execute(f"create or replace table {STATE_SCHEMA}.customer_hashes as "
                    "select * from sr_customer_hashes_new")
    for name in refreshed:
        models[name] = con.execute(f"select count(*) from {quoted(name)}").fetchall()[0][0]
    for name in skipped:
        # a model a full build would now skip must not survive from the previous build
        con.execute(f"drop table if exists {quoted(name)}")
    result.models = {m: models[m] for m in _model_names() if m in models}
    result.skipped = skipped
    result.refreshed = refreshed
    result.kept = kept
    result.fingerprints = fingerprints
    return result


# -- keeping the closed periods of the other models ---------------------------------------------

def _snapshot_calendars(con) -> None:
    """The previous build's calendars, before this refresh replaces them."""
    for name in ("calendar", "calendar_days"):
        con.execute(f"create or replace temp table sr_old_{name} as select * from "
                    f"(select * from main.{quoted(name)})")


def _first_change(con, name: str, key: str) -> int | None:
    """The smallest ``key`` of a row that differs between the previous calendar and this one
    (None: the same rows)."""
    return con.execute(
        f"select min({key}) from ((select * from main.{quoted(name)} except all "
        f"select * from sr_old_{name}) union all (select * from sr_old_{name} except all "
        f"select * from main.{quoted(name)}))").fetchall()[0][0]


def _raw_tables(relation: str) -> set[str]:
    """The contract tables a staged relation is made from, through the relations it reads."""
    from saas_retention.relations.graph import contract_tables
    from saas_retention.relations.registry import STAGING_DEPS

    out = set(contract_tables(relation))
    for dep in STAGING_DEPS.get(relation, ()):
        out |= _raw_tables(dep)
    return out


def _clean_from(con, settings: Settings, old_as_of: dt.date, manifest: dict,
                fingerprints: dict) -> tuple[dict[str, dt.date], set[str]]:
    """relation -> the day from which its rows may differ from the previous build's (rows of
    periods, weeks, months or days that end before it are the same); a relation absent from
    the result may differ anywhere. Also the staged relations that differ only because as_of
    moved on (their source tables are unchanged).

    A staged relation with the same fingerprint is the same everywhere (``date.max``); a
    dated one (period_index) differs from its first period of another fingerprint; one whose
    source tables are unchanged differs only in what staging reads of as_of, which changes
    only the running period's snapshot: from the previous as_of's period on, but for values
    a customer's later subscription rows decide (their last paying period), which is why
    such a relation is returned too (see ``whole_history``). The calendars are compared row by
    row."""
    never = dt.date.max
    old, new = manifest.get("staged") or {}, fingerprints["staged"]
    old_tables, new_tables = manifest.get("tables") or {}, fingerprints["tables"]
    raw_changed = {t for t in set(old_tables) | set(new_tables)
                   if old_tables.get(t) != new_tables.get(t)}
    clean: dict[str, dt.date] = {}
    as_of_only: set[str] = set()
    for rel, f in new.items():
        o = old.get(rel)
        if o == f:
            clean[rel] = never
        elif isinstance(o, dict) and isinstance(f, dict) and o["columns"] == f["columns"]:
            keys = {k for k in set(o["periods"]) | set(f["periods"])
                    if o["periods"].get(k) != f["periods"].get(k)}
            if all(k.lstrip("-").isdigit() for k in keys):  # no row without a period
                clean[rel] = period_start(min(int(k) for k in keys), settings.grain,
                                          settings.week_start)
        elif isinstance(o, list) and isinstance(f, list) and o[2] == f[2] and not (
                _raw_tables(rel) & raw_changed):
            clean[rel] = period_start(period_index(old_as_of, settings.grain,
                                                   settings.week_start),
                                      settings.grain, settings.week_start)
            as_of_only.add(rel)
    first = _first_change(con, "calendar", "period_index")
    clean["calendar"] = never if first is None else period_start(first, settings.grain,
                                                                 settings.week_start)
    first = _first_change(con, "calendar_days", "day_index")
    clean["calendar_days"] = never if first is None else EPOCH + dt.timedelta(days=first)
    return clean, as_of_only


def _changed_customers(con) -> int:
    """``sr_changed_customers``: customers whose rows of a staged relation keyed by customer
    differ from the previous build's; returns how many."""
    record_customer_hashes(con, "sr_customer_hashes_new", temp=True)
    con.execute(
        "create or replace temp table sr_changed_customers as select distinct "
        "coalesce(o.customer_id, n.customer_id) as customer_id from "
        f"{STATE_SCHEMA}.customer_hashes o full join sr_customer_hashes_new n "
        "on o.relation = n.relation and o.customer_id is not distinct from n.customer_id "
        "where o.n is distinct from n.n or o.h is distinct from n.h")
    return con.execute("select count(*) from sr_changed_customers").fetchall()[0][0]


def _grain(index: str, settings: Settings) -> str:
    """The grain of a ``refresh:`` index (``period``: the settings' grain)."""
    return settings.grain if index == "period" else index


def _rest(con, settings: Settings, report, refreshed: dict, clean: dict[str, dt.date],
          as_of_only: set[str], progress, by_customers: dict[str, int], *,
          events: bool) -> tuple[dict, dict, dict, int | None]:
    """Every model but the incremental ones, in build order: those declaring ``refresh: keep``
    whose every input is unchanged before some day keep their rows of the periods that end
    before it and have the others recomputed; those declaring ``refresh: customers`` keep the
    rows of the customers whose inputs are unchanged (``by_customers`` gets how many were
    recomputed); the rest are recomputed in full (and what reads them too). Returns (rows,
    skipped, kept: model -> first recomputed index, changed customers). ``events``: the
    events were refreshed (``sr_event_customers`` holds the customers whose events changed)."""
    catalog = load_catalog()
    params = tuple(sorted(model_params(settings).items()))
    kept: dict[str, int | None] = {}
    built: dict[str, int] = {}
    skipped: dict[str, str] = {}
    arrow = False
    changed_customers: int | None = None
    # model -> columns of closed rows that changed for some customers (``whole_history``)
    stale_columns: dict[str, set[str]] = {}
    for name in _model_names():
        if name in refreshed:
            continue
        model = catalog.models[name]
        spec = model.refresh
        sql = duckdb_sql(name, settings.grain, params, tuple(report.dimensions))
        # an input absent now, or a model it reads skipped: built (or skipped) like in full
        absent = (any(t in report.skipped for t in model.inputs)
                  or any(d in skipped for d in model.depends_on(catalog.models)))
        if "customers" in spec and not absent and _has_rows_by(con, name, "customer_id"):
            if changed_customers is None:
                changed_customers = _changed_customers(con)
            by_customers[name] = _refresh_customers(
                con, name, model, sql, spec, clean.get("stg_events") if events else None,
                dict(params), progress)
            built[name] = con.execute(f"select count(*) from {quoted(name)}").fetchall()[0][0]
            continue
        reads_stale = any(_mentions(sql, r, stale_columns[r]) for r in model.relations
                          if r in stale_columns)
        since = [clean.get(r, dt.date.min) for r in model.relations]
        history = spec.get("whole_history") and bool(model.relations & as_of_only)
        if (spec.get("keep") is None or not since or dt.date.min in since or reads_stale
                or absent or not _has_rows_by(con, name, spec["keep"])):
            # one model at a time, so a model after it may still keep its rows
            b, s = build_models(con, settings, report, only=[name], progress=progress,
                                calendar=False)
            built.update(b)
            skipped.update(s)
            continue
        grain = _grain(spec["index"], settings)
        # every day a relation's clean day gives starts one of its own periods (days, weeks…),
        # so a row whose period ends before it reads only unchanged rows; ``align``: a row
        # also reads the whole weeks (say) overlapping its period, which may end after it
        start = min(since)
        if spec.get("align") and start != dt.date.max:
            g = _grain(spec["align"], settings)
            start = period_start(period_index(start, g, settings.week_start), g,
                                 settings.week_start)
        first = None
        if start == dt.date.max:
            clean[name] = dt.date.max  # nothing it reads changed: every row is kept
        else:
            first = period_index(start, grain, settings.week_start) - spec.get("ahead", 0)
            clean[name] = period_start(first, grain, settings.week_start)
            started = time.perf_counter()
            keep = _keep_sql(spec["keep"])
            table = quoted(name)
            if not arrow:
                arrow = ensure_arrow_udfs(con, [name])
            customers = ""
            if history:
                if changed_customers is None:
                    changed_customers = _changed_customers(con)
                if changed_customers:
                    customers = (" or customer_id in (select customer_id from "
                                 "sr_changed_customers)")
                    stale_columns[name] = set(spec["whole_history"])
            con.execute(f"delete from {table} where {keep} >= {first}{customers}")
            with engine_values(name):
                # like a full build: per-period marts in key order (the kept rows are of
                # earlier periods), per-customer tables as the engine gives them
                order = ("" if "customer_id" in model.key
                         else f" order by {export_order(model, con, table)}")
                con.execute(f"insert into {table} by name select * from "
                            f"({_pruned(sql, spec.get('prune', {}), first)}) as model "
                            f"where {keep} >= {first}{order}")
                if customers:
                    # every row of those customers: their staged rows alone make them
                    con.execute(f"insert into {table} by name select * from "
                                f"({_customers_sql(sql, as_of_only)}) as model "
                                f"where {keep} < {first}")
            if progress:
                extra = (f" and every row of {changed_customers:,} customers whose "
                         "subscriptions changed" if customers else "")
                progress(f"kept {name} before {clean[name]}: recomputed the rest{extra} in "
                         f"{time.perf_counter() - started:.2f} s")
        kept[name] = first
        built[name] = con.execute(f"select count(*) from {quoted(name)}").fetchall()[0][0]
    return built, skipped, kept, changed_customers


def _pruned(sql: str, prune: dict[str, str], first: int) -> str:
    """``sql`` reading, of each relation ``prune`` names (by the name or alias the template
    gives it), only the rows whose period index (its expression) is ``first`` or later: a
    model's ``refresh: prune`` says those rows make every row the refresh recomputes, where
    the filter on ``keep`` cannot reach them (the optimiser does not see that
    ``cohort_period_index + period_number`` is the observed period's index, so it computed
    every cohort × age and then dropped all but the last)."""
    if not prune:
        return sql

    def since(table: exp.Table) -> exp.Expression | None:
        if table.alias_or_name not in prune:
            return None
        return exp.GTE(this=sqlglot.parse_one(prune[table.alias_or_name], read="duckdb"),
                       expression=exp.Literal.number(first))

    return _reading_only(sql, since)


def _refresh_customers(con, name: str, model, sql: str, spec: dict,
                       events_from: dt.date | None, params: dict, progress) -> int:
    """Recompute the rows of ``name`` (one per customer) of the customers whose events or
    staged rows changed (``sr_event_customers``, ``sr_changed_customers``) and of those whose
    previous row meets ``spec['customers']`` (as_of may still change it); returns how many.
    ``events_from``: the first day whose events were replaced (None: no event changed).
    ``spec['events_until']``, when given, is the last day (index) whose events a previous
    row read: a customer whose row read no event of the replaced days keeps it."""
    started = time.perf_counter()
    table = quoted(name)
    condition = spec["customers"]
    sources = ["select customer_id from sr_changed_customers",
               # a row whose condition is unknown may change too
               f"select customer_id from {table} where {_keep_sql(condition)} is not false"]
    if events_from is not None:
        event_customers = "select customer_id from sr_event_customers"
        if spec.get("events_until"):
            until = bind_params(sqlglot.parse_one(str(spec["events_until"]), read="duckdb"),
                                params, name).sql("duckdb")
            # a customer without a previous row, or whose last day is unknown, is recomputed
            event_customers += (
                f" as e where not exists (select 1 from {table} as previous where "
                f"previous.customer_id = e.customer_id and ({until}) < "
                f"{(events_from - EPOCH).days})")
        sources.append(event_customers)
    con.execute("create or replace temp table sr_recomputed_customers as "
                + " union ".join(sources))
    con.execute(f"delete from {table} where "
                f"{_of_customers('sr_recomputed_customers').sql('duckdb')}")
    relations = {r for r in model.relations if r not in ("calendar", "calendar_days")}
    with engine_values(name):
        con.execute(f"insert into {table} by name select * from "
                    f"({_customers_sql(sql, relations, 'sr_recomputed_customers')}) as model")
    n = con.execute("select count(*) from sr_recomputed_customers").fetchall()[0][0]
    if progress:
        progress(f"refreshed {name} for {n:,} customers whose inputs changed or whose row "
                 f"as_of may change ({condition}) in {time.perf_counter() - started:.2f} s")
    return n


def _mentions(sql: str, relation: str, columns: set[str]) -> bool:
    """Whether a model's SQL names any of ``columns`` (by name, wherever: a superset of what
    it reads of them), or selects every column of ``relation``."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if any(c.name in columns for c in tree.find_all(exp.Column)):
        return True
    for select in tree.find_all(exp.Select):
        tables = [t for t in select.find_all(exp.Table) if t.parent_select is select]
        if any(t.name == relation for t in tables) and any(
                isinstance(e, exp.Star) or (isinstance(e, exp.Column) and e.is_star)
                for e in select.expressions):
            return True
    return False


def _customers_sql(sql: str, relations: set[str],
                   customers: str = "sr_changed_customers") -> str:
    """``sql`` reading, of each of ``relations``, only the rows of the customers in the
    relation ``customers``."""
    return _reading_only(sql, lambda table: _of_customers(customers)
                         if table.name in relations else None)


def _reading_only(sql: str, where: Callable[[exp.Table], exp.Expression | None]) -> str:
    """``sql`` reading, of each relation it names (unqualified) for which ``where`` gives a
    condition, only the rows meeting it, under the name or alias the query gives it."""
    tree = sqlglot.parse_one(sql, read="duckdb")

    def swap(node):
        if not isinstance(node, exp.Table) or node.db or isinstance(node.this, exp.Anonymous):
            return node
        condition = where(node)
        if condition is None:
            return node
        rows = exp.select("*").from_(exp.Table(this=node.this.copy())).where(condition)
        return rows.subquery(node.alias_or_name)

    return tree.transform(swap).sql("duckdb")


def _keep_sql(keep: str) -> str:
    return "(" + sqlglot.parse_one(str(keep), read="duckdb").sql("duckdb") + ")"


def _has_rows_by(con, name: str, keep: str) -> bool:
    """The previous build holds the model and every row of it has a period: a row without one
    could never be replaced, so such a model is recomputed in full."""
    try:
        nulls = con.execute(f"select count(*) from {quoted(name)} where {_keep_sql(keep)} "
                            "is null").fetchall()[0][0]
    except duckdb.Error:  # not in the previous build, or of other columns
        return False
    return nulls == 0


def _model_names() -> list[str]:
    return load_catalog().model_order()


__all__ = ["IncrementalResult", "build_incremental"]
