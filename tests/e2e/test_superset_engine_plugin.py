"""The SQLAlchemy engine plugin that registers the Arrow UDFs on every DuckDB connection
Superset opens and opens read-only files as they are at connect time (and the read-only,
no-file-access connection settings the demo ships)."""

from __future__ import annotations

import importlib.metadata

import duckdb
import pytest

from saas_retention.superset_plugin.bundle import DUCKDB_CONNECT_ARGS
from saas_retention.superset_plugin.engine_plugin import (
    SaasRetentionPlugin,
    attach_read_only,
    catalog_name,
    raw_duckdb_connection,
    register_on_connect,
)


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "models.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table cohorts as select [100.0, 80, 70, 65] as survivors")
    con.close()
    return path


def test_entry_point_is_registered():
    (ep,) = [e for e in importlib.metadata.entry_points(group="sqlalchemy.plugins")
             if e.name == "saas_retention"]
    assert ep.load() is SaasRetentionPlugin


def test_registers_udfs_on_a_locked_read_only_connection(database):
    con = duckdb.connect(str(database), **DUCKDB_CONNECT_ARGS)
    try:
        register_on_connect(con)
        alpha = con.execute("select sbg_fit(survivors).alpha from cohorts").fetchall()[0][0]
        assert alpha > 0
        with pytest.raises(duckdb.Error):
            con.execute("select * from read_csv('/etc/hostname')").fetchall()
        register_on_connect(con)  # a second registration is harmless
    finally:
        con.close()


def test_concurrent_connections_to_one_file_share_the_udfs(database):
    """Superset opens several connections at once: the second must not fail with "already
    exists" (UDFs live in the shared database instance), and they outlive the first."""
    import threading

    cons = [duckdb.connect(str(database), **DUCKDB_CONNECT_ARGS) for _ in range(6)]
    errors = []

    def connect(c):
        try:
            register_on_connect(c)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=connect, args=(c,)) for c in cons]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    cons[0].close()
    for c in cons[1:]:
        assert c.execute("select sbg_fit(survivors).alpha from cohorts").fetchall()[0][0] > 0
        c.close()


def test_other_connections_are_left_alone():
    import sqlite3

    con = sqlite3.connect(":memory:")
    register_on_connect(con)  # the superset_config.py listener sees SQLite connections too
    con.close()


def test_unwraps_duckdb_engine_connection_wrapper():
    class ConnectionWrapper:  # the shape of duckdb_engine's wrapper: private __c
        def __init__(self, c):
            self.__c = c

    raw = duckdb.connect()
    try:
        assert raw_duckdb_connection(ConnectionWrapper(raw)) is raw
        assert raw_duckdb_connection(raw) is raw
    finally:
        raw.close()


def test_plugin_through_sqlalchemy(database):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("duckdb_engine", reason="duckdb-engine comes with Superset's [duckdb]")
    engine = sqlalchemy.create_engine(f"duckdb:///{database}", plugins=["saas_retention"],
                                      connect_args=DUCKDB_CONNECT_ARGS)
    try:
        with engine.connect() as c:
            value = c.execute(sqlalchemy.text(
                "select sbg_fit(survivors).beta from cohorts")).scalar()
            assert value > 0
            with pytest.raises(sqlalchemy.exc.DBAPIError):
                c.execute(sqlalchemy.text("select * from read_csv('/etc/hostname')")).all()
    finally:
        engine.dispose()


def test_plugin_leaves_other_engines_alone(caplog):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine("sqlite://", plugins=["saas_retention"])
    with engine.connect() as c:
        assert c.execute(sqlalchemy.text("select 1")).scalar() == 1
    assert "not DuckDB" in caplog.text


def test_superset_config_lines(database):
    """The superset_config.py alternative (docs/superset.md#without-the-extra): a listener on
    every pool and one on every engine."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("duckdb_engine", reason="duckdb-engine comes with Superset's [duckdb]")
    import saas_retention.superset_plugin.engine_plugin as sr

    sqlalchemy.event.listen(sqlalchemy.pool.Pool, "connect", sr.register_on_connect)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "do_connect", sr.open_as_it_is_now)
    try:
        engine = sqlalchemy.create_engine(f"duckdb:///{database}",
                                          connect_args=DUCKDB_CONNECT_ARGS)
        with engine.connect() as c:
            assert c.execute(sqlalchemy.text(
                "select sbg_fit(survivors).alpha from cohorts")).scalar() > 0
            attached = c.execute(sqlalchemy.text(
                "select list(database_name order by database_name) from duckdb_databases()"))
            assert attached.scalar() == ["models", "system", "temp"]
        engine.dispose()
        other = sqlalchemy.create_engine("sqlite://")
        with other.connect() as c:
            assert c.execute(sqlalchemy.text("select 1")).scalar() == 1
    finally:
        sqlalchemy.event.remove(sqlalchemy.pool.Pool, "connect", sr.register_on_connect)
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "do_connect", sr.open_as_it_is_now)


def _swap_in(path, value: int) -> None:
    """What ``saas-retention build`` does: a new file renamed over the served path."""
    new = path.with_name(path.name + ".new")
    con = duckdb.connect(str(new))
    con.execute(f"create table answer as select {value} as x; "
                "create macro twice(a) as a * 2")
    con.close()
    new.replace(path)


REFUSED = ["select * from read_csv('/etc/hostname')", "attach '{other}' as other",
           "copy (select 1) to '{folder}/out.csv'", "set enable_external_access = true",
           "set allowed_directories = ['/']", "load httpfs"]


def test_attached_file_is_the_file_as_it_is_now_and_stays_locked(tmp_path):
    """A connection held open on the replaced file does not hold back a new one (opened
    directly, DuckDB shares one instance per path and the new one would read the old file),
    and the attached file is as closed to the outside as one opened with the settings."""
    served, other = tmp_path / "models.duckdb", tmp_path / "other.duckdb"
    _swap_in(served, 1)
    _swap_in(other, 9)
    settings = {"lock_configuration": True, "enable_external_access": False}
    held = duckdb.connect()
    attach_read_only(held, str(served), settings)
    held_directly = duckdb.connect(str(served), **DUCKDB_CONNECT_ARGS)
    _swap_in(served, 2)
    direct = duckdb.connect(str(served), **DUCKDB_CONNECT_ARGS)
    fresh = duckdb.connect()
    try:
        attach_read_only(fresh, str(served), settings)
        assert fresh.execute("select twice(x), current_database() from main.answer").fetchall() \
            == [(4, "models")]
        assert held.execute("select x from answer").fetchall() == [(1,)]
        # the DuckDB behaviour this works around (if it ever changes, this says so)
        assert direct.execute("select x from answer").fetchall() == [(1,)]
        assert {r[0] for r in fresh.execute("select database_name from duckdb_databases()")
                .fetchall()} == {"models", "system", "temp"}
        for statement in REFUSED:
            with pytest.raises(duckdb.Error):
                fresh.execute(statement.format(other=other, folder=tmp_path)).fetchall()
        with pytest.raises(duckdb.Error):
            fresh.execute("create table written(a int)")
    finally:
        for con in (held, held_directly, direct, fresh):
            con.close()


@pytest.mark.parametrize(("path", "name"), [
    ("/x/models.duckdb", "models"), ("/x/saas.v2.duckdb", "saas"), ("/x/temp.duckdb", "temp_db"),
    ("/x/memory.db", "memory_db")])  # DuckDB calls the last "memory": taken by the instance
def test_catalog_name_is_the_one_duckdb_gives_a_file(path, name):
    assert catalog_name(path) == name


def test_plugin_opens_the_swapped_in_file_at_once(tmp_path):
    """Through SQLAlchemy and duckdb-engine, as Superset connects: the Arrow UDFs, the macros
    and the settings on a connection that sees the file swapped in while another was open."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("duckdb_engine", reason="duckdb-engine comes with Superset's [duckdb]")
    served = tmp_path / "models.duckdb"
    _swap_in(served, 1)
    engine = sqlalchemy.create_engine(f"duckdb:///{served}", plugins=["saas_retention"],
                                      connect_args=DUCKDB_CONNECT_ARGS)
    text = sqlalchemy.text
    try:
        with engine.connect() as held:
            assert held.execute(text("select x from answer")).scalar() == 1
            _swap_in(served, 2)
            with engine.connect() as c:
                assert c.execute(text("select twice(x) from main.answer")).scalar() == 4
                sentiment = c.execute(text("select classify_sentiment('Great tool!')"))
                assert sentiment.scalar() == "positive"
                inspector = sqlalchemy.inspect(c)
                assert "models.main" in inspector.get_schema_names()
                assert inspector.get_table_names("models.main") == ["answer"]
                for statement in REFUSED[:4]:
                    with pytest.raises(sqlalchemy.exc.DBAPIError):
                        c.execute(text(statement.format(other=served, folder=tmp_path))).all()
    finally:
        engine.dispose()


def test_plugin_leaves_writable_connections_as_they_were(database):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("duckdb_engine", reason="duckdb-engine comes with Superset's [duckdb]")
    engine = sqlalchemy.create_engine(f"duckdb:///{database}", plugins=["saas_retention"])
    try:
        with engine.begin() as c:
            c.execute(sqlalchemy.text("create table written as select 1 as a"))
            assert c.execute(sqlalchemy.text("select current_database()")).scalar() == "models"
    finally:
        engine.dispose()


def test_a_fresh_instance_registers_without_listing_every_function(database, monkeypatch):
    """A connection the plugin opened on an instance of its own registers the UDFs at once:
    asking ``duckdb_functions()`` first (every function and stored macro) cost ≈ 45 ms of
    every chart request. A connection opened directly still checks (its instance is shared)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("duckdb_engine", reason="duckdb-engine comes with Superset's [duckdb]")
    import saas_retention.superset_plugin.engine_plugin as sr

    listed = []
    real = sr._registered
    monkeypatch.setattr(sr, "_registered", lambda con: listed.append(con) or real(con))
    engine = sqlalchemy.create_engine(f"duckdb:///{database}", plugins=["saas_retention"],
                                      connect_args=DUCKDB_CONNECT_ARGS)
    try:
        for _ in range(2):  # a new connection each time: both fresh instances
            with engine.connect() as c:
                assert c.execute(sqlalchemy.text(
                    "select sbg_fit(survivors).alpha from cohorts")).scalar() > 0
            engine.dispose()
    finally:
        engine.dispose()
    assert listed == []
    direct = sqlalchemy.create_engine(f"duckdb:///{database}", plugins=["saas_retention"])
    try:
        with direct.connect() as c:
            assert c.execute(sqlalchemy.text(
                "select sbg_fit(survivors).alpha from cohorts")).scalar() > 0
    finally:
        direct.dispose()
    assert len(listed) == 1
