"""The SQLAlchemy engine plugin that registers the Arrow UDFs on every DuckDB connection
Superset opens (and the read-only, no-file-access connection settings the demo ships)."""

from __future__ import annotations

import importlib.metadata

import duckdb
import pytest

from saas_retention.superset_plugin.bundle import DUCKDB_CONNECT_ARGS
from saas_retention.superset_plugin.engine_plugin import (
    SaasRetentionPlugin,
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


def test_superset_config_two_liner(database):
    """The superset_config.py alternative (docs/superset.md#without-the-extra): one listener
    on every pool."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("duckdb_engine", reason="duckdb-engine comes with Superset's [duckdb]")
    import saas_retention.superset_plugin.engine_plugin as sr

    sqlalchemy.event.listen(sqlalchemy.pool.Pool, "connect", sr.register_on_connect)
    try:
        engine = sqlalchemy.create_engine(f"duckdb:///{database}",
                                          connect_args=DUCKDB_CONNECT_ARGS)
        with engine.connect() as c:
            assert c.execute(sqlalchemy.text(
                "select sbg_fit(survivors).alpha from cohorts")).scalar() > 0
        engine.dispose()
        other = sqlalchemy.create_engine("sqlite://")
        with other.connect() as c:
            assert c.execute(sqlalchemy.text("select 1")).scalar() == 1
    finally:
        sqlalchemy.event.remove(sqlalchemy.pool.Pool, "connect", sr.register_on_connect)
