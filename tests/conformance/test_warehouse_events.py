"""The event, engagement and voice models on real engines give DuckDB's rows (floats to 1e-9
relative): the warehouse staging of the dated tables and of calendar_days, then every model,
compiled for each engine's dialect. The fixtures are those of test_engagement.py (local days
across a daylight-saving change, naive and offset timestamps, duplicates, sessions) and
test_voice.py (surveys, referrals, support tickets, churn) and test_journey.py (signup to
renewal, activation windows)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zoneinfo
from dataclasses import replace

import pytest
from engines import DuckDBEngine, engine_cases, normalise, pg_url
from test_engagement import AS_OF as ENGAGEMENT_AS_OF
from test_engagement import TZ as ENGAGEMENT_TZ
from test_engagement import tables as engagement_tables
from test_journey import AS_OF as JOURNEY_AS_OF
from test_journey import WINDOW as JOURNEY_WINDOW
from test_journey import source as journey_tables
from test_voice import AS_OF as VOICE_AS_OF
from test_voice import tables as voice_tables
from test_warehouse import make_engine

from saas_retention.builders.atomic import connect as _connect
from saas_retention.builders.duckdb.run import build_models
from saas_retention.builders.duckdb.sources import open_source
from saas_retention.builders.duckdb.stage import Stager
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.core.contract import TABLES
from saas_retention.export.standalone import standalone_sql
from saas_retention.relations.events import DATED_TABLES
from saas_retention.relations.graph import relation_order, relation_sql, warehouse_models
from saas_retention.relations.target import Target

DATED = tuple(DATED_TABLES)


def engagement_case():
    return engagement_tables(), {"timezone": ENGAGEMENT_TZ, "as_of": ENGAGEMENT_AS_OF}


def voice_case():
    return voice_tables(), {"as_of": VOICE_AS_OF}


def weekly_case():
    # the engagement data at the weekly grain, weeks starting on Sunday
    tables, settings = engagement_case()
    # every branch of retention_curves too: both kinds, "on or after", each grain, named events
    curves = [
        {"name": "login_report", "start_event": "login", "return_event": "create_report",
         "grain": "month"},
        {"name": "daily_recurring", "kind": "recurring", "grain": "day", "periods": 20},
        {"name": "weekly_after", "kind": "recurring", "cumulative": True, "periods": 6},
        {"name": "first_after", "start_event": "login", "cumulative": True, "grain": "month"},
    ]
    return tables, settings | {"grain": "week", "week_start": "sunday",
                               "retention_curves": curves}


def journey_case():
    return journey_tables(), {"as_of": JOURNEY_AS_OF, "activation_event": "create_report",
                              "journey_window_days": JOURNEY_WINDOW}


CASES = {"engagement": engagement_case, "voice": voice_case, "weekly": weekly_case,
         "journey": journey_case}

OFFSET = re.compile(r"([+-]\d\d:?\d\d|Z)$")


def _timestamp(text: str, tz: str, aware: bool) -> dt.datetime:
    """A CSV timestamp as the engine stores it: local wall-clock time in ``tz`` (a plain
    TIMESTAMP column), or the instant (a time-zone-aware column). Values with an offset are
    instants; values without are local times, as the DuckDB staging reads them."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    zone = zoneinfo.ZoneInfo(tz)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if aware:
        return value.astimezone(dt.timezone.utc)
    return value.astimezone(zone).replace(tzinfo=None)


def typed_tables(tables: dict[str, str], tz: str, aware: bool):
    """CSV text -> (columns with kinds, typed rows) per contract table."""
    out = {}
    for name, text in tables.items():
        records = list(csv.DictReader(io.StringIO(text.strip())))
        header = list(records[0]) if records else next(csv.reader(io.StringIO(text.strip())))
        kinds = []
        for column in header:
            kind = TABLES[name].column(column).kind if column in {
                c.name for c in TABLES[name].columns} else "text"
            kinds.append({"id": "text", "timestamp": "timestamptz" if aware else "timestamp"}
                         .get(kind, kind))
        rows = []
        for r in records:
            row = []
            for column, kind in zip(header, kinds, strict=True):
                v = r[column].strip()
                if v == "":
                    row.append(None)
                elif kind == "date":
                    row.append(dt.date.fromisoformat(v))
                elif kind == "number":
                    row.append(float(v))
                elif kind.startswith("timestamp"):
                    row.append(_timestamp(v, tz, aware))
                else:
                    row.append(v)
            rows.append(tuple(row))
        out[name] = (list(zip(header, kinds, strict=True)), rows)
    return out


def reference(tmp_path, tables: dict[str, str], settings: dict):
    """The DuckDB staging and build of the CSV source, kept in memory (staged tables too)."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name, text in tables.items():
        (src / f"{name}.csv").write_text(text.strip() + "\n", encoding="utf-8")
    parsed = parse_settings(settings)
    con = _connect()
    report = Stager(con, open_source(src), parsed).run()
    built, _ = build_models(con, parsed, report)
    return con, built


TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)?$")


def norm(value):
    """normalise(), and timestamps as wall-clock text: engines return them as datetimes with
    or without a zone, or as text (SQLite)."""
    value = normalise(value)
    if isinstance(value, str):
        m = TIMESTAMP.match(value)
        if m:
            fraction = (m.group(3) or "").rstrip("0").rstrip(".")
            if m.group(2) == "00:00:00" and not fraction:
                return m.group(1)
            return f"{m.group(1)}T{m.group(2)}{fraction}"
    return value


def _sort_key(row):
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in row)


def relation_rows(engine, name: str):
    names, rows = engine.rows(f"select * from {engine.quote(name)}")
    return [n.lower() for n in names], sorted((tuple(norm(v) for v in r) for r in rows),
                                              key=_sort_key)


def assert_same(expected, actual, label):
    (en, er), (an, ar) = expected, actual
    assert an == en, label
    assert len(ar) == len(er), f"{label}: {len(ar)} rows, expected {len(er)}"
    for i, (a, e) in enumerate(zip(ar, er, strict=True)):
        for column, x, y in zip(en, a, e, strict=True):
            if isinstance(y, float) and isinstance(x, float):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-9), f"{label} row {i} {column}"
            else:
                assert x == y, f"{label} row {i} {column}: {x!r} != {y!r}"


def load(engine, typed) -> None:
    for name, (columns, rows) in typed.items():
        if engine.name == "postgres":  # one server for the module: fresh tables per test
            engine.execute(f'drop table if exists "{name}" cascade')
        engine.load(name, columns, rows)


def target_for(engine, tables: dict[str, str], settings: dict, aware: bool) -> Target:
    typed = typed_tables(tables, settings.get("timezone", "UTC"), aware)
    present = {name: [c for c, _ in cols] for name, (cols, _) in typed.items()}
    return Target(
        engine.dialect, parse_settings(settings),
        has_customers="customers" in present,
        optional_columns=frozenset(c for c in present["subscriptions"]
                                   if not TABLES["subscriptions"].column(c).required),
        tables=frozenset(t for t in present if t in DATED),
        columns=frozenset(f"{t}.{c}" for t in present if t != "subscriptions"
                          for c in present[t]),
        tz_columns=frozenset(f"{t}.{DATED_TABLES[t]}" for t in present if t in DATED)
        if aware else frozenset(),
    )


def event_models(built: dict) -> list[str]:
    """The portable models the DuckDB build made that read a dated table."""
    catalog = load_catalog()
    return [m for m in warehouse_models() if m in built
            and set(catalog.models[m].inputs) & set(DATED)]


def check_engine(tmp_path, request, engine_name: str, case: str, aware: bool) -> None:
    tables, settings = CASES[case]()
    ref, built = reference(tmp_path, tables, settings)
    engine = make_engine(engine_name, request)
    try:
        load(engine, typed_tables(tables, settings.get("timezone", "UTC"), aware))
        target = target_for(engine, tables, settings, aware)
        models = event_models(built)
        assert {"customer_sessions", "active_customers", "customer_journey",
                "journey_funnel_cohorts"} <= set(models) or case == "voice"
        done: list[str] = []
        for model in models:
            for name in relation_order(model):
                if name not in done:
                    engine.materialise(name, relation_sql(name, target, pretty=False))
                    done.append(name)
        duck = DuckDBEngine()
        duck.con.close()
        duck.con = ref
        staged = [f"stg_{t}" for t in DATED if t in tables] + ["calendar_days"]
        for name in staged + models:
            assert_same(relation_rows(duck, name), relation_rows(engine, name),
                        f"{engine_name}/{case}/{name}")
    finally:
        ref.close()
        engine.close()


ENGINES = ["duckdb", "sqlite", "postgres", "clickhouse",
           pytest.param("spark", marks=pytest.mark.slow),
           pytest.param("mysql", marks=pytest.mark.slow)]


# On Spark, engagement runs with time-zone-aware columns (the test below) and weekly is the
# engagement case at another grain: voice and journey are the other tables.
@pytest.mark.parametrize(("engine_name", "case"),
                         engine_cases(ENGINES, sorted(CASES), spark_cases={"voice", "journey"}))
def test_event_models_match_duckdb_on_engine(tmp_path, request, engine_name, case):
    check_engine(tmp_path, request, engine_name, case, aware=False)


@pytest.mark.parametrize("engine_name", ["duckdb", "postgres", "clickhouse",
                                         pytest.param("spark", marks=pytest.mark.slow)])
def test_time_zone_aware_columns_are_converted_to_local_time(tmp_path, request, engine_name):
    """The engagement events stored as instants (TIMESTAMPTZ, DateTime64 in UTC…): the staging
    converts them to Europe/Paris local time with the engine's own function."""
    check_engine(tmp_path, request, engine_name, "engagement", aware=True)


@pytest.mark.parametrize("engine_name", ["duckdb", "sqlite", "postgres", "clickhouse",
                                         pytest.param("mysql", marks=pytest.mark.slow)])
def test_standalone_event_queries_run_as_shipped(tmp_path, request, engine_name):
    """Each shipped query reads only the source tables (the dated ones its model reads)."""
    tables, settings = engagement_case()
    ref, built = reference(tmp_path, tables, settings)
    engine = make_engine(engine_name, request)
    try:
        load(engine, typed_tables(tables, settings["timezone"], aware=False))
        # the source's optional columns, as `saas-retention sql` would be told them; the
        # tables each query reads are its model's own (tables=None)
        target = replace(target_for(engine, tables, settings, aware=False), tables=None)
        duck = DuckDBEngine()
        duck.con.close()
        duck.con = ref
        for model in event_models(built):
            sql = standalone_sql(model, target)
            # tables the model does not read are staged empty, never read from the source
            assert 'FROM "survey_responses"' not in sql
            engine.materialise(f"standalone_{model}", sql.rstrip().rstrip(";"))
            assert_same(relation_rows(duck, model),
                        relation_rows(engine, f"standalone_{model}"),
                        f"{engine_name}/standalone/{model}")
    finally:
        ref.close()
        engine.close()


# -- building inside PostgreSQL through a SQLAlchemy URL -------------------------------------

def test_build_inside_postgres_converts_timestamptz_and_matches_duckdb(tmp_path, request,
                                                                     pg_dsn):
    """`build --source postgresql://…`: the events as timestamptz in a schema of their own,
    every event model materialised in another, the same rows as DuckDB."""
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, settings = engagement_case()
    ref, built = reference(tmp_path, tables, settings)
    engine = make_engine("postgres", request)
    try:
        engine.execute("drop schema if exists app_events cascade")
        engine.execute("drop schema if exists analytics_events cascade")
        engine.execute("create schema app_events")
        load(engine, typed_tables(tables, settings["timezone"], aware=True))
        for name in tables:
            engine.execute(f'alter table "{name}" set schema app_events')
        result = build_on_warehouse(pg_url(pg_dsn), parse_settings(settings),
                                    schema="app_events", target_schema="analytics_events")
        models = event_models(built)
        assert set(models) <= set(result.models)
        assert result.skipped["nps"] == "input table survey_responses absent"
        duck = DuckDBEngine()
        duck.con.close()
        duck.con = ref
        for name in [*models, "calendar_days", "stg_events"]:
            assert_same(relation_rows(duck, name),
                        relation_rows(engine, f'analytics_events"."{name}'),
                        f"postgres-build/{name}")
    finally:
        ref.close()
        engine.close()


def test_event_tables_missing_columns_or_values_name_the_warehouse_table(request, pg_dsn):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse
    from saas_retention.core.errors import SourceProblems

    engine = make_engine("postgres", request)
    try:
        engine.execute("drop table if exists ev_subs")
        engine.execute("drop table if exists clicks")
        engine.execute("create table ev_subs (subscription_id text, customer_id text, "
                       "start_date date, end_date date, mrr double precision)")
        engine.execute("insert into ev_subs values ('s1', 'c1', '2024-01-01', null, 5)")
        engine.execute("create table clicks (account text, happened_at timestamp, "
                       "action text)")
        engine.execute("insert into clicks values ('c1', '2024-02-01 10:00', 'login'), "
                       "('c1', null, 'login'), (null, '2024-02-02 10:00', 'export')")
        base = {"as_of": dt.date(2024, 6, 30), "tables": {
            "subscriptions": {"table": "ev_subs"},
            "events": {"table": "clicks", "columns": {"customer_id": "account",
                                                      "event_time": "happened_at"}}}}
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(pg_url(pg_dsn), parse_settings(base))
        message = str(info.value)
        assert "clicks.event_name: required column missing from the warehouse table" in message
        assert "columns found: account, happened_at, action" in message
        base["tables"]["events"]["columns"]["event_name"] = "action"
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(pg_url(pg_dsn), parse_settings(base))
        message = str(info.value)
        assert "clicks.happened_at: missing (NULL) values in a required column (1 row)" in \
            message
        assert "clicks.account: missing (NULL) values in a required column (1 row)" in message
        # offsets in a text column: a cast would silently read them as local time
        engine.execute("drop table if exists clicks")
        engine.execute("create table clicks (account text, happened_at text, action text)")
        engine.execute("insert into clicks values ('c1', '2024-02-01 10:00:00', 'login'), "
                       "('c1', '2024-02-01T23:30:00+00:00', 'login'), "
                       "('c1', '2024-02-02 10:00:00.5-05:00', 'login'), "
                       "('c1', '2024-02-03T10:00:00Z', 'login')")
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(pg_url(pg_dsn), parse_settings(base))
        message = str(info.value)
        assert "clicks.happened_at: timestamps with a UTC offset in a text column" in message
        assert "(3 rows)" in message and "2024-02-01T23:30:00+00:00" in message
    finally:
        engine.close()



# -- the DuckDB build's warnings, from the warehouse checks ----------------------------------

# Every warning the DuckDB staging gives, at least once, on every dated table; a day boundary
# in the reporting zone decides some (00:30 in Paris is 22:30 UTC the day before). Rules with
# at most three rows show them all, so their examples are compared too.
WARNING_TZ = "Europe/Paris"
WARNING_TABLES = {
    "subscriptions": """subscription_id,customer_id,start_date,end_date,mrr
s1,c1,2024-01-01,,100
s2,c2,2024-02-15,2024-04-01,50
s3,c3,2025-01-01,,10
s4,c9,2024-03-01,2024-03-01,10
s5,c4,2024-01-10,,20""",
    "customers": """customer_id,signup_date,plan
c1,2024-01-01,pro
c2,2024-02-01,starter
c3,2024-01-01,pro
c4,2024-01-10,pro""",
    "events": """customer_id,event_time,event_name
c1,2024-03-01 10:00:00,login
ghost,2024-03-02 10:00:00,login
ghost,2024-03-03 10:00:00,export
ghost,2024-03-04 10:00:00,export
c9,2024-03-05 10:00:00,export
c2,2024-01-15 10:00:00,login
c1,2024-06-30T22:30:00+00:00,login
c1,2024-06-30 23:30:00,login
c4,2024-01-09T23:30:00+00:00,login
c4,2024-01-09T22:30:00+00:00,login""",
    "survey_responses": """customer_id,responded_at,survey,score
c1,2024-03-01 09:00:00,nps,9
ghost2,2024-03-01 09:00:00,nps,7
c1,2024-08-01 09:00:00,csat,4""",
    "referrals": """referrer_customer_id,referred_at,referred_customer_id
c1,2024-03-01 09:00:00,c2
stranger,2024-03-02 09:00:00,
c2,2024-01-20 09:00:00,""",
    "support_tickets": """customer_id,created_at,resolved_at
c1,2024-03-01 09:00:00,2024-03-02 09:00:00
c3,2023-12-31 09:00:00,
c1,2024-07-02 09:00:00,""",
}


def _warning_key(p) -> tuple:
    return (p.column, p.count, p.message, p.severity)


def _example_ids(p) -> list[str]:
    """The first shown column (the row's id) of each example, as text."""
    return sorted(str(next(iter(e.values()))) for e in p.examples)


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres",
                                         pytest.param("mysql", marks=pytest.mark.slow)])
def test_warehouse_build_warns_like_the_duckdb_build(tmp_path, request, engine_name):
    """`build --source <URL>` reports the DuckDB build's warnings — the same rules, words,
    counts and example rows — naming the warehouse table; rows after as_of are left out of
    the warehouse staging as they are of DuckDB's."""
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.duckdb.run import check
    from saas_retention.builders.warehouse.run import build_on_warehouse

    settings = {"timezone": WARNING_TZ, "as_of": dt.date(2024, 6, 30)}
    src = tmp_path / "src"
    src.mkdir()
    for name, text in WARNING_TABLES.items():
        (src / f"{name}.csv").write_text(text.strip() + "\n", encoding="utf-8")
    duck = check(src, parse_settings(settings)).warnings
    aware = engine_name == "postgres"
    typed = typed_tables(WARNING_TABLES, WARNING_TZ, aware)
    schema = None
    if engine_name == "sqlite":
        import sqlite3

        from engines import SQLiteEngine

        path = tmp_path / "warehouse.db"
        engine = SQLiteEngine()
        engine.con.close()
        engine.con = sqlite3.connect(path)
        load(engine, typed)
        engine.con.commit()
        url = f"sqlite:///{path}"
    elif engine_name == "postgres":
        engine = make_engine("postgres", request)
        schema = "app_warnings"
        engine.execute(f"drop schema if exists {schema} cascade")
        engine.execute(f"create schema {schema}")
        engine.execute(f"set search_path to {schema}")
        load(engine, typed)
        url = pg_url(request.getfixturevalue("pg_dsn"))
    else:
        engine = make_engine("mysql", request)
        load(engine, typed)
        args = request.getfixturevalue("mysql_args")
        url = (f"mysql+pymysql://{args['user']}@{args['host']}:{args['port']}/"
               f"{args['database']}")
    try:
        result = build_on_warehouse(url, parse_settings(settings), schema=schema,
                                    target_schema="analytics_warnings"
                                    if engine_name != "sqlite" else None)
        ours = result.warnings
        # every kind of warning, on every table that can have it
        assert {(p.table, p.column) for p in duck} == {
            ("subscriptions", "end_date"), ("subscriptions", "start_date"),
            ("subscriptions", "customer_id"), ("events", "event_time"),
            ("events", "customer_id"), ("survey_responses", "responded_at"),
            ("survey_responses", "customer_id"), ("referrals", "referrer_customer_id"),
            ("referrals", "referred_at"), ("support_tickets", "created_at")}
        assert [_warning_key(p) for p in ours] == [_warning_key(p) for p in duck]
        prefix = f"{schema}." if schema else ""
        assert [p.table for p in ours] == [prefix + p.table for p in duck]
        for mine, theirs in zip(ours, duck, strict=True):
            assert len(mine.examples) == min(mine.count, 3), str(mine)
            assert [list(e) for e in mine.examples] == [list(e) for e in theirs.examples]
            if mine.count <= 3:
                assert _example_ids(mine) == _example_ids(theirs), (str(mine), str(theirs))
        assert "(4 rows)" in str(ours[[p.column for p in ours].index("customer_id", 3)])
        # left out of the staging as DuckDB leaves them out: 10 events read, 1 after as_of
        quote = "`" if engine_name == "mysql" else '"'
        table = (f"analytics_warnings{quote}.{quote}stg_events" if engine_name != "sqlite"
                 else "stg_events")
        assert engine.rows(f"select count(*) from {quote}{table}{quote}")[1] == [(9,)]
    finally:
        engine.close()


def test_warehouse_build_prints_the_warnings_and_exits_zero(tmp_path):
    """The command line prints them as it prints the DuckDB build's."""
    pytest.importorskip("sqlalchemy")
    import sqlite3
    import subprocess
    import sys

    from engines import SQLiteEngine

    path = tmp_path / "warehouse.db"
    engine = SQLiteEngine()
    engine.con.close()
    engine.con = sqlite3.connect(path)
    tables = {k: WARNING_TABLES[k] for k in ("subscriptions", "customers", "events")}
    load(engine, typed_tables(tables, "UTC", aware=False))
    engine.con.commit()
    engine.close()
    done = subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", "build", "--source", f"sqlite:///{path}",
         "--as-of", "2024-06-30", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert ("  warning: events.customer_id: rows of customers unknown to the "
            "customers/subscriptions tables; kept, counted under their own id (4 rows)"
            in done.stdout), done.stdout
    assert "warning: subscriptions.start_date: subscriptions starting after as_of" in \
        done.stdout
    assert "warning: events.event_time: rows dated before the customer's signup_date" in \
        done.stdout
