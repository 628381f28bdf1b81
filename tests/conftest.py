"""Fixtures shared by the warehouse conformance tests: each test module that asks for one gets
its own PostgreSQL server or Spark session (module scope), started on 127.0.0.1 and stopped
after the module."""

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


@pytest.fixture(scope="module")
def pg_dsn():
    pytest.importorskip("psycopg")
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    session = spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def mysql_args():
    pytest.importorskip("pymysql")
    try:
        server = mysql_server()
        args = server.__enter__()
    except RuntimeError as exc:  # no server binaries on this machine
        pytest.skip(str(exc))
    yield args
    server.__exit__(None, None, None)


@pytest.fixture
def mysql(mysql_args):
    engine = MySQLEngine(mysql_args)
    _, tables = engine.rows("show tables")
    for (name,) in tables:  # one server for the module: fresh tables per test
        engine.execute(f"drop table if exists `{name}`")
    yield engine
    if engine.con.open:  # tests that share engine helpers may have closed it already
        engine.close()
