"""Test tiers and the fixtures shared by the warehouse conformance tests.

Tiers (docs/testing.md): a test that needs a server or a heavy engine carries its marker —
``postgres``, ``mysql``, ``spark``, ``clickhouse`` (chdb), ``superset`` — and the slowest builds
carry ``slow``. Plain ``pytest`` runs the fast tier (pyproject's addopts deselect the others);
``-m`` picks tiers, ``-m ""`` runs them all. The engine markers are added here from the fixtures a
test asks for and from its ``engine_name`` parameter, so a new engine case is in its tier without
anyone remembering; a test that reaches a server another way (``request.getfixturevalue``) says so
with the marker itself, and fails if it does not (``_require_marker``).

One PostgreSQL server serves the whole run and each test module gets a database of its own on it
(the server's start is most of a PostgreSQL module's set-up); MariaDB and Spark are per module."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The test folders mirror the package's parts (unit, reference, conformance, e2e) and share
# helpers (tests/helpers) and each other's fixtures by module name: every folder is importable.
for _folder in ("helpers", "unit", "reference", "conformance", "e2e"):
    _path = str(Path(__file__).resolve().parent / _folder)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import pytest  # noqa: E402
from engines import MySQLEngine, mysql_server, postgres_server, spark_session  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI (.ci/run sets CI=1) replays the same examples every run, so that whether a change lands
# never depends on the draw; runs elsewhere draw new examples and keep finding new cases
# (failures found are kept in .hypothesis/ and replayed first next time).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# the fixtures that start a server or an engine, and the tier of the tests that use them
FIXTURE_TIERS = {"pg_dsn": "postgres", "mysql": "mysql", "mysql_args": "mysql", "spark": "spark"}
# conformance tests name their engine in an ``engine_name`` parameter
ENGINE_TIERS = {"postgres", "mysql", "spark", "clickhouse"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        tiers = {tier for name, tier in FIXTURE_TIERS.items() if name in item.fixturenames}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("engine_name") in ENGINE_TIERS:
            tiers.add(callspec.params["engine_name"])
        for tier in sorted(tiers):
            item.add_marker(tier)


def _require_marker(request, tier: str) -> None:
    """A server started for an unmarked test would slip into the fast tier unnoticed."""
    if request.node.get_closest_marker(tier) is None:
        pytest.fail(f"{request.node.nodeid} starts the {tier} engine: mark it "
                    f"@pytest.mark.{tier} (plain `pytest` must not need a server)", pytrace=False)


@pytest.fixture(scope="session")
def postgres_server_dsn():
    pytest.importorskip("psycopg")
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="module")
def postgres_module_dsn(request, postgres_server_dsn):
    """A fresh database per test module: the modules reuse table and schema names."""
    import psycopg

    name = "m_" + "".join(c if c.isalnum() else "_" for c in request.module.__name__).lower()
    with psycopg.connect(postgres_server_dsn, autocommit=True) as con:
        con.execute(f'drop database if exists "{name}"')
        con.execute(f'create database "{name}"')
    yield postgres_server_dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(postgres_server_dsn, autocommit=True) as con:
        con.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def pg_dsn(request):
    _require_marker(request, "postgres")
    return request.getfixturevalue("postgres_module_dsn")


@pytest.fixture(scope="session")
def spark_run_session():
    """One Spark session for the run: starting one costs a JVM's start and warm-up, and each
    test's tables are temporary views it drops (SparkEngine.close)."""
    pytest.importorskip("pyspark")
    session = spark_session()
    yield session
    session.stop()


@pytest.fixture
def spark(request):
    _require_marker(request, "spark")
    return request.getfixturevalue("spark_run_session")


@pytest.fixture(scope="module")
def mysql_module_args():
    pytest.importorskip("pymysql")
    try:
        server = mysql_server()
        args = server.__enter__()
    except RuntimeError as exc:  # no server binaries on this machine
        pytest.skip(str(exc))
    yield args
    server.__exit__(None, None, None)


@pytest.fixture
def mysql_args(request):
    _require_marker(request, "mysql")
    return request.getfixturevalue("mysql_module_args")


@pytest.fixture
def mysql(mysql_args):
    engine = MySQLEngine(mysql_args)
    _, tables = engine.rows("show tables")
    for (name,) in tables:  # one server for the module: fresh tables per test
        engine.execute(f"drop table if exists `{name}`")
    yield engine
    if engine.con.open:  # tests that share engine helpers may have closed it already
        engine.close()
