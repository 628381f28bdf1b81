"""Fixtures shared by the warehouse conformance tests: each test module that asks for one gets
its own PostgreSQL server or Spark session (module scope), started on 127.0.0.1 and stopped
after the module."""

from __future__ import annotations

import pytest
from engines import postgres_server, spark_session


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
