"""The generated dbt package (saas-retention dbt): ``dbt build`` with dbt-duckdb and with
dbt-postgres on the real PostgreSQL server passes — models and their data tests (keys, movement
types, the MRR bridge, GRR bounds, cohort sizes), the contract rules as source tests — and every
model has the DuckDB build's rows on the playbook, edge-case and demo fixtures (the demo with
every dated table: the event and voice models too); a source breaking a rule fails the build at
that rule's source test. Marker ``dbt`` (nox -s dbt installs dbt-core 1.11 and
the adapters); skipped where dbt is not installed.

The package is generated into a temporary folder, not committed: it depends on the config (table
mapping, dimensions, grain), and its SQL is the same compiled SQL as sql/dist, whose committed
copies tests/unit/test_generated.py checks for drift."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from engines import DuckDBEngine, PostgresEngine
from test_warehouse import CASES, SUB_COLUMNS, assert_same, engine_rows, reference
from test_warehouse_events import assert_same as assert_events_same

from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.export.dbt import write_package
from saas_retention.relations.events import DATED_TABLES
from saas_retention.relations.graph import warehouse_models

pytestmark = pytest.mark.dbt

dbt_main = pytest.importorskip("dbt.cli.main", reason="dbt-core is not installed (nox -s dbt)")

SOURCE_SCHEMA = "raw"
OPTIONAL = {c: c for c, _ in SUB_COLUMNS if c not in (
    "subscription_id", "customer_id", "start_date", "end_date", "mrr")}


def case_config(customer_columns) -> dict:
    config: dict = {"tables": {"subscriptions": {"columns": OPTIONAL}}}
    if customer_columns:
        config["tables"]["customers"] = {"dimensions": [c for c, _ in customer_columns[1:]]}
    return config


def dbt(project: Path, profiles: Path, *args: str):
    """One dbt command in this process (dbt's programmatic runner: no interpreter start)."""
    result = dbt_main.dbtRunner().invoke([
        *args, "--project-dir", str(project), "--profiles-dir", str(profiles)])
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"
    return result.result


def as_package(folder: Path, package: Path) -> Path:
    """A project of the user's that installs the package from a local path."""
    folder.mkdir()
    (folder / "dbt_project.yml").write_text(yaml.safe_dump(
        {"name": "host", "version": "1.0.0", "config-version": 2, "profile": "saas_retention"}))
    (folder / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(package)}]}))
    return folder


def release_duckdb() -> None:
    """dbt-duckdb keeps its database open in the process after a run (the programmatic
    runner's process is the test's): close it before the test reads the file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    if DuckDBConnectionManager._ENV is not None:
        DuckDBConnectionManager._ENV.close()
    DuckDBConnectionManager.close_all_connections()


def write_profile(folder: Path, output: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump(
        {"saas_retention": {"target": "test", "outputs": {"test": {"threads": 4, **output}}}}))
    return folder


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Per fixture, made once for both adapters: its data, the package generated for its
    config (the dimensions differ) and the DuckDB build to compare with."""
    made: dict = {}

    def get(case: str) -> dict:
        if case not in made:
            tables, customer_columns, as_of = CASES[case]()
            folder = tmp_path_factory.mktemp(f"dbt_{case}")
            project = folder / "saas_retention"
            write_package(project, parse_settings(case_config(customer_columns)),
                          ["duckdb", "postgres"])
            db, _ = reference(folder, tables, customer_columns, as_of)
            made[case] = {"tables": tables, "customer_columns": customer_columns,
                          "as_of": as_of, "project": project, "reference": db}
        return made[case]

    return get


def load_duckdb(path: Path, tables, customer_columns) -> None:
    import duckdb

    eng = DuckDBEngine.__new__(DuckDBEngine)  # a writable file, unlike the read-only default
    eng.con = duckdb.connect(str(path))
    try:
        eng.execute(f"create schema {SOURCE_SCHEMA}")
        eng.execute(f"use {SOURCE_SCHEMA}")
        eng.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
        if customer_columns:
            eng.load("customers", customer_columns, tables["customers"])
    finally:
        eng.close()


def _pg_profile(dsn: str, schema: str) -> dict:
    parts = dict(p.split("=", 1) for p in dsn.split())
    return {"type": "postgres", "host": parts["host"], "port": int(parts["port"]),
            "user": parts["user"], "password": "", "dbname": parts["dbname"], "schema": schema}


# the demo fixture: test_dbt_build_of_the_demo_with_every_table (a demo with every table)
@pytest.mark.parametrize("case", sorted(c for c in CASES if c != "demo"))
@pytest.mark.parametrize("adapter", ["duckdb", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_dbt_build_gives_the_duckdb_rows(tmp_path, request, cases, adapter, case):
    made = cases(case)
    tables, customer_columns, as_of = made["tables"], made["customer_columns"], made["as_of"]
    db, project = made["reference"], made["project"]
    if adapter == "duckdb":
        warehouse = tmp_path / "warehouse.duckdb"
        load_duckdb(warehouse, tables, customer_columns)
        profiles = write_profile(tmp_path / "profile", {"type": "duckdb", "path": str(warehouse),
                                                        "schema": "main"})
    else:
        dsn = request.getfixturevalue("pg_dsn")
        engine = PostgresEngine(dsn)
        try:
            for schema in (SOURCE_SCHEMA, f"out_{case}"):
                engine.execute(f'drop schema if exists "{schema}" cascade')
            engine.execute(f'create schema "{SOURCE_SCHEMA}"')
            engine.execute(f'set search_path to "{SOURCE_SCHEMA}"')
            engine.load("subscriptions", SUB_COLUMNS, tables["subscriptions"])
            if customer_columns:
                engine.load("customers", customer_columns, tables["customers"])
        finally:
            engine.close()
        profiles = write_profile(tmp_path / "profile", _pg_profile(dsn, f"out_{case}"))
    variables = yaml.safe_dump({"saas_retention_source_schema": SOURCE_SCHEMA,
                                "as_of": as_of.isoformat()})
    if case == "playbook" and adapter == "duckdb":
        # the other way to use it: installed by another project (packages.yml, local path)
        host = as_package(tmp_path / "host", project)
        dbt(host, profiles, "deps")
        dbt(host, profiles, "build", "--select", "package:saas_retention", "--vars", variables)
    else:
        dbt(project, profiles, "build", "--vars", variables)

    if adapter == "duckdb":
        release_duckdb()
        built = DuckDBEngine(str(warehouse))
    else:
        built = PostgresEngine(dsn)
        built.execute(f'set search_path to "out_{case}"')
    ref = DuckDBEngine(str(db))
    catalog = load_catalog()
    inputs = ("subscriptions", "customers") if customer_columns else ("subscriptions",)
    models = warehouse_models(inputs=inputs)
    if adapter == "duckdb":  # the sBG fit as a dbt Python model (the others leave it out)
        models.append("cohort_value")
    assert {"retention", "cohort_retention", "customer_periods", "mrr_movements"} <= set(models)
    try:
        for model in models:
            key = catalog.models[model].key
            assert_same(engine_rows(ref, model, key), engine_rows(built, model, key),
                        f"dbt-{adapter}/{case}/{model}")
    finally:
        ref.close()
        built.close()


def test_dbt_parse_is_clean_and_settings_are_checked(tmp_path, cases):
    """``dbt parse`` with warnings as errors; a grain var the package was not generated for
    fails with the command to regenerate it."""
    project = cases("edges")["project"]
    profiles = write_profile(tmp_path / "profile", {"type": "duckdb",
                                                    "path": str(tmp_path / "p.duckdb")})
    dbt(project, profiles, "--warn-error", "parse")
    # what `dbt docs generate` shows: the metadata's descriptions and the metric definitions
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    catalog = load_catalog()
    retention = nodes["retention"]
    assert retention["description"] == " ".join(catalog.models["retention"].description.split())
    assert retention["columns"]["nrr_12m"]["description"] == catalog.models[
        "retention"].columns["nrr_12m"]
    overview = next(d for d in manifest["docs"].values() if d["name"] == "__overview__"
                    and d["package_name"] == "saas_retention")
    assert all(name in overview["block_contents"] for name in catalog.metrics)
    result = dbt_main.dbtRunner().invoke([
        "parse", "--project-dir", str(project), "--profiles-dir", str(profiles),
        "--vars", "{grain: week}"])
    assert not result.success
    assert "regenerate" in str(result.exception)


def test_dbt_build_fails_at_the_source_tests_of_the_broken_rules(tmp_path, cases):
    """The contract rules as source tests (models/sources.yml): a source with a repeated
    subscription_id and an end_date before its start_date fails `dbt build` at those two
    tests, named after the rules, with the rows breaking them; the models reading the source
    are skipped. The build's warnings are dbt warnings: customers missing from the customers
    table (the edge fixture has some) and a start after as_of."""
    made = cases("edges")
    subs = list(made["tables"]["subscriptions"])
    again = ("a1", "a", dt.date(2023, 7, 1), None, 5.0, None, "month", None)
    backwards = ("k1", "c", dt.date(2023, 5, 1), dt.date(2023, 4, 1), 10.0, None, "month", None)
    warehouse = tmp_path / "warehouse.duckdb"
    load_duckdb(warehouse, {**made["tables"], "subscriptions": [*subs, again, backwards]},
                made["customer_columns"])
    profiles = write_profile(tmp_path / "profile", {"type": "duckdb", "path": str(warehouse),
                                                    "schema": "main"})
    result = dbt_main.dbtRunner().invoke([
        "build", "--project-dir", str(made["project"]), "--profiles-dir", str(profiles),
        "--vars", yaml.safe_dump({"saas_retention_source_schema": SOURCE_SCHEMA,
                                  "as_of": made["as_of"].isoformat()})])
    release_duckdb()
    assert not result.success
    status = {r.node.name: (str(r.status), r.failures) for r in result.result.results}
    failed = {name: n for name, (s, n) in status.items() if s == "fail"}
    assert failed == {"contract__subscriptions__subscription_id__duplicate_key": 1,
                      "contract__subscriptions__end_date__end_before_start": 1}
    warned = {name for name, (s, _) in status.items() if s == "warn"}
    assert {"contract__subscriptions__customer_id__unlisted_customer",
            "contract__subscriptions__start_date__future_start"} <= warned
    assert status["stg_subscriptions"][0] == "skipped"
    assert status["retention"][0] == "skipped"
    assert all(s in ("pass", "warn") for name, (s, _) in status.items()
               if name.startswith("contract__") and name not in failed)


# the demo source, with every dated table: every model, the event and voice ones among them,
# on both adapters
DEMO_AS_OF = dt.date(2024, 6, 30)
DEMO_DIMENSIONS = ["plan", "segment", "country", "channel"]
DEMO_CONFIG = {"tables": {
    "subscriptions": {"columns": {c: c for c in ("is_trial", "billing_interval",
                                                 "cancel_reason")}},
    "customers": {"dimensions": DEMO_DIMENSIONS, "columns": {"signup_date": "signup_date"}},
    **{t: {} for t in DATED_TABLES}}}
DUCKDB_KINDS = {"VARCHAR": "text", "DATE": "date", "DOUBLE": "number", "INTEGER": "number",
                "BIGINT": "number", "BOOLEAN": "bool", "TIMESTAMP": "timestamp"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo source (40 customers, 12 months, every dated table), the package generated
    for it and the DuckDB build of it (build(), what `saas-retention build` runs)."""
    import duckdb

    from saas_retention.builders.duckdb.run import build
    from saas_retention.datagen.demo import generate

    folder = tmp_path_factory.mktemp("dbt_demo")
    source = folder / "demo.duckdb"
    generate(source, customers=40, months=12, seed=5, end_date=DEMO_AS_OF)
    con = duckdb.connect(str(source), read_only=True)
    try:
        tables = {}
        for (name,) in con.execute("show tables").fetchall():
            columns = [(c, DUCKDB_KINDS[k]) for c, k, *_ in con.execute(f"describe {name}")
                       .fetchall()]
            tables[name] = (columns, con.execute(f"select * from {name}").fetchall())
    finally:
        con.close()
    assert set(DATED_TABLES) <= set(tables)
    settings = parse_settings({**DEMO_CONFIG, "as_of": DEMO_AS_OF})
    reference_db = folder / "reference.duckdb"
    build(source, settings, database=reference_db)
    project = folder / "saas_retention"
    write_package(project, parse_settings(DEMO_CONFIG), ["duckdb", "postgres"])
    return {"source": source, "tables": tables, "reference": reference_db,
            "project": project, "settings": settings}


@pytest.mark.parametrize("adapter", ["duckdb", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_dbt_build_of_the_demo_with_every_table(tmp_path, request, demo, adapter):
    """Every model of the package — the revenue models, the event and voice models, and on
    dbt-duckdb cohort_value and feedback_sentiment through their dbt Python models — has the
    rows of the DuckDB build of the demo source with every dated table (events, surveys,
    referrals, support tickets); every model and data test passes (the source tests of the
    contract rules at most warn)."""
    from test_warehouse_events import relation_rows

    from saas_retention.export.dbt import plan
    from saas_retention.relations.graph import read_tables

    if adapter == "duckdb":
        import duckdb

        warehouse = tmp_path / "warehouse.duckdb"
        con = duckdb.connect(str(warehouse))
        try:  # the demo's tables as they are (a copy: dbt-duckdb writes into this file)
            con.execute(f"attach '{demo['source']}' as demo (read_only)")
            con.execute(f"create schema {SOURCE_SCHEMA}")
            for name in demo["tables"]:
                con.execute(f"create table {SOURCE_SCHEMA}.{name} as select * from demo.{name}")
        finally:
            con.close()
        output: dict = {"type": "duckdb", "path": str(warehouse), "schema": "main"}
    else:
        dsn = request.getfixturevalue("pg_dsn")
        engine = PostgresEngine(dsn)
        try:
            for schema in (SOURCE_SCHEMA, "out_demo"):
                engine.execute(f'drop schema if exists "{schema}" cascade')
            engine.execute(f'create schema "{SOURCE_SCHEMA}"')
            engine.execute(f'set search_path to "{SOURCE_SCHEMA}"')
            for name, (columns, rows) in demo["tables"].items():
                engine.load(name, columns, rows)
        finally:
            engine.close()
        output = _pg_profile(dsn, "out_demo")
    profiles = write_profile(tmp_path / "profile", output)
    package = plan(demo["settings"], [adapter])
    catalog = load_catalog()
    dated = [m for m in package.models if m in catalog.models and read_tables(m)]
    results = dbt(demo["project"], profiles, "build", "--vars", yaml.safe_dump(
        {"saas_retention_source_schema": SOURCE_SCHEMA, "as_of": DEMO_AS_OF.isoformat()}))
    ran = {r.node.name: str(r.status) for r in results.results}
    assert all(status in ("success", "pass") for name, status in ran.items()
               if not name.startswith("contract__")), ran
    if adapter == "duckdb":
        release_duckdb()
        built = DuckDBEngine(str(warehouse))
    else:
        built = PostgresEngine(dsn)
        built.execute('set search_path to "out_demo"')
    ref = DuckDBEngine(str(demo["reference"]))
    try:
        _, listed = ref.rows("select table_name from information_schema.tables")
        in_reference = {name for name, in listed}
        models = [m for m in package.models if m in in_reference and m in ran]
        assert set(dated) <= set(models), set(dated) - set(models)
        assert len(dated) > 20 and ("feedback_sentiment" in dated) == (adapter == "duckdb")
        assert {"retention", "cohort_retention", "mrr_movements", "customer_periods",
                "renewals"} <= set(models)
        assert ("cohort_value" in models) == (adapter == "duckdb")
        for model in models:
            assert_events_same(relation_rows(ref, model), relation_rows(built, model),
                               f"dbt-{adapter}/demo/{model}")
    finally:
        ref.close()
        built.close()


REVENUE = ("customer_periods", "retention", "mrr_movements", "cohort_retention")


@pytest.mark.spark
@pytest.mark.slow
def test_dbt_spark_session_builds_the_revenue_models(tmp_path, cases, request):
    """dbt-spark in session mode (pyspark local): the revenue models and their tests, with
    the DuckDB build's rows (`nox -s dbt` installs dbt-spark[session])."""
    pytest.importorskip("dbt.adapters.spark", reason="dbt-spark[session] is not installed")
    import pyspark.sql.types as T
    from engines import SparkEngine

    made = cases("edges")
    project = made["project"].parent / "saas_retention_spark"
    write_package(project, parse_settings(case_config(made["customer_columns"])), ["spark"])
    spark = request.getfixturevalue("spark")  # dbt-spark's session mode uses this session
    types = {"text": T.StringType(), "date": T.DateType(), "number": T.DoubleType(),
             "bool": T.BooleanType()}
    # databases with a location of their own: the tables' files go there, not into a
    # spark-warehouse folder in the working directory
    for schema in (SOURCE_SCHEMA, "out_spark"):
        spark.sql(f"drop database if exists {schema} cascade")
        spark.sql(f"create database {schema} location '{tmp_path / schema}'")
    for name, columns in (("subscriptions", SUB_COLUMNS),
                          ("customers", made["customer_columns"])):
        schema = T.StructType([T.StructField(c, types[k]) for c, k in columns])
        spark.createDataFrame(made["tables"][name], schema).write.mode("overwrite") \
            .saveAsTable(f"{SOURCE_SCHEMA}.{name}")
    profiles = write_profile(tmp_path / "profile", {"type": "spark", "method": "session",
                                                    "host": "NA", "schema": "out_spark"})
    dbt(project, profiles, "build", "--select", " ".join(f"+{m}" for m in REVENUE), "--vars",
        yaml.safe_dump({"saas_retention_source_schema": SOURCE_SCHEMA,
                        "as_of": made["as_of"].isoformat()}))
    spark.catalog.setCurrentDatabase("out_spark")
    built, ref = SparkEngine(spark), DuckDBEngine(str(made["reference"]))
    catalog = load_catalog()
    try:
        for model in REVENUE:
            key = catalog.models[model].key
            assert_same(engine_rows(ref, model, key), engine_rows(built, model, key),
                        f"dbt-spark/edges/{model}")
    finally:
        ref.close()


def test_dbt_incremental_day_models_recompute_from_the_last_day(tmp_path):
    """The event models on dbt-duckdb, built in two runs: the events up to a day (part of it),
    then all of them. The second run is incremental for the per-day models (it replaces the
    days from the last one they held on); every model then has the rows of the DuckDB build
    of all the events."""
    from test_engagement import AS_OF, TZ
    from test_engagement import tables as engagement_tables
    from test_warehouse_events import event_models, relation_rows, typed_tables
    from test_warehouse_events import reference as events_reference

    from saas_retention.core.contract import TABLES

    tables = engagement_tables()
    settings = {"timezone": TZ, "as_of": AS_OF}
    ref_con, built = events_reference(tmp_path, tables, settings)
    config = {"timezone": TZ, "tables": {
        "customers": {"dimensions": [], "columns": {"signup_date": "signup_date"}},
        "events": {}, "support_tickets": {}}}
    project = tmp_path / "saas_retention"
    write_package(project, parse_settings(config), ["duckdb"])

    typed = typed_tables(tables, TZ, aware=False)
    for name in ("events", "support_tickets"):  # the package reads every contract column
        columns, rows = typed[name]
        have = {c for c, _ in columns}
        extra = [(c.name, {"id": "text"}.get(c.kind, c.kind)) for c in TABLES[name].columns
                 if c.name not in have]
        typed[name] = (columns + extra, [r + (None,) * len(extra) for r in rows])
    columns, rows = typed["events"]
    at = [c for c, _ in columns].index("event_time")
    # the first run sees the events before 14 Feb and the first one of that day
    first = [r for r in rows if r[at] < dt.datetime(2024, 2, 14, 13, 1)]
    assert 0 < len(first) < len(rows)

    day_models = [m for m in load_catalog().models.values() if m.incremental == "day"]
    warehouse = tmp_path / "warehouse.duckdb"
    profiles = write_profile(tmp_path / "profile", {"type": "duckdb", "path": str(warehouse),
                                                    "schema": "main"})
    variables = yaml.safe_dump({"saas_retention_source_schema": SOURCE_SCHEMA,
                                "as_of": AS_OF.isoformat()})
    import duckdb

    for run, events in enumerate((first, rows)):
        source = DuckDBEngine.__new__(DuckDBEngine)
        source.con = duckdb.connect(str(warehouse))
        try:
            source.execute(f"create schema if not exists {SOURCE_SCHEMA}")
            source.execute(f"use {SOURCE_SCHEMA}")
            for name, (cols, data) in typed.items():
                source.execute(f'drop table if exists "{name}"')
                source.load(name, cols, events if name == "events" else data)
        finally:
            source.close()
        results = dbt(project, profiles, "build", "--vars", variables)
        release_duckdb()
        # the second run reads only the days from the last one held on (is_incremental())
        compiled = {r.node.name: r.node.compiled_code for r in results.results
                    if r.node.resource_type == "model"}
        filtered = ">= (select coalesce(max(day_index)"
        assert all((filtered in compiled[m.name]) == (run == 1) for m in day_models)
        if run == 0:
            dbt_built = DuckDBEngine(str(warehouse))
            try:
                _, days = dbt_built.rows("select max(day_index) from customer_daily_activity")
            finally:
                dbt_built.close()
            assert days[0][0] is not None
    reference_engine = DuckDBEngine.__new__(DuckDBEngine)
    reference_engine.con = ref_con
    dbt_built = DuckDBEngine(str(warehouse))
    models = [m for m in event_models(built) if (project / "macros" / "relations"
                                                  / f"{m}.sql").exists()]
    assert {m.name for m in day_models} <= set(models)
    try:
        for model in models:
            assert_events_same(relation_rows(reference_engine, model),
                               relation_rows(dbt_built, model), f"dbt-duckdb/incremental/{model}")
    finally:
        ref_con.close()
        dbt_built.close()
