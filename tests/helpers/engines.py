"""Real engines for the conformance tests: DuckDB, SQLite, PostgreSQL (a server started here on
127.0.0.1), ClickHouse (chdb, in-process). Each loads source tables and runs SQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

COLUMN_TYPES = {"text": "VARCHAR", "date": "DATE", "number": "DOUBLE", "bool": "BOOLEAN",
                "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ"}


def normalise(value):
    """Engine values to comparable Python values."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | decimal.Decimal):
        return float(value)
    return value


class Engine:
    name = "engine"
    dialect = "duckdb"

    def quote(self, name: str) -> str:
        return f'"{name}"'

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def rows(self, sql: str) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError

    def load(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        raise NotImplementedError

    def materialise(self, name: str, sql: str) -> None:
        self.execute(f'drop table if exists "{name}"')
        self.execute(f'create table "{name}" as {sql}')

    def close(self) -> None:
        pass


class DuckDBEngine(Engine):
    name = dialect = "duckdb"

    def __init__(self, database: str | None = None):
        import duckdb

        # a database file opens read-only: the reference build, compared against
        self.con = (duckdb.connect(database, read_only=True) if database
                    else duckdb.connect())

    def execute(self, sql):
        self.con.execute(sql).fetchall()

    def rows(self, sql):
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return names, cur.fetchall()

    def load(self, table, columns, rows):
        cols = ", ".join(f'"{c}" {COLUMN_TYPES[k]}' for c, k in columns)
        self.execute(f'create table "{table}" ({cols})')
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.con.executemany(f'insert into "{table}" values ({marks})', rows)

    def close(self):
        self.con.close()


class SQLiteEngine(Engine):
    name = dialect = "sqlite"

    def __init__(self):
        import sqlite3

        self.con = sqlite3.connect(":memory:")

    def execute(self, sql):
        self.con.execute(sql)

    def rows(self, sql):
        cur = self.con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()

    def load(self, table, columns, rows):
        types = {"text": "TEXT", "date": "TEXT", "number": "REAL", "bool": "INTEGER",
                 "timestamp": "TEXT"}
        cols = ", ".join(f'"{c}" {types[k]}' for c, k in columns)
        self.execute(f'create table "{table}" ({cols})')
        marks = ", ".join("?" for _ in columns)
        self.con.executemany(f'insert into "{table}" values ({marks})',
                             [tuple(normalise(v) if isinstance(v, dt.date) else v for v in r)
                              for r in rows])

    def close(self):
        self.con.close()


class PostgresEngine(Engine):
    name = dialect = "postgres"

    def __init__(self, dsn: str):
        import psycopg

        self.con = psycopg.connect(dsn, autocommit=True)

    def execute(self, sql):
        self.con.execute(sql)

    def rows(self, sql):
        cur = self.con.execute(sql)
        return [d.name for d in cur.description], cur.fetchall()

    def load(self, table, columns, rows):
        types = {"text": "TEXT", "date": "DATE", "number": "DOUBLE PRECISION",
                 "bool": "BOOLEAN", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ"}
        cols = ", ".join(f'"{c}" {types[k]}' for c, k in columns)
        self.execute(f'drop table if exists "{table}"')
        self.execute(f'create table "{table}" ({cols})')
        marks = ", ".join("%s" for _ in columns)
        with self.con.cursor() as cur:
            cur.executemany(f'insert into "{table}" values ({marks})', rows)

    def close(self):
        self.con.close()


class ClickHouseEngine(Engine):
    name = dialect = "clickhouse"

    def __init__(self):
        from chdb import session

        self.path = tempfile.mkdtemp(prefix="sr-chdb-")
        # no session settings: the SQL under test carries the ones it needs (join_use_nulls…)
        self.session = session.Session(self.path)

    def execute(self, sql):
        self.session.query(sql)

    def rows(self, sql):
        table = self.session.query(sql, "ArrowTable")
        return table.column_names, [tuple(r.values()) for r in table.to_pylist()]

    def load(self, table, columns, rows):
        types = {"text": "Nullable(String)", "date": "Nullable(Date32)",
                 "number": "Nullable(Float64)", "bool": "Nullable(Bool)",
                 "timestamp": "Nullable(DateTime64(6))",
                 "timestamptz": "Nullable(DateTime64(6, 'UTC'))"}
        cols = ", ".join(f'"{c}" {types[k]}' for c, k in columns)
        self.execute(f'create table "{table}" ({cols}) engine = Memory')
        if rows:
            def lit(v):
                if v is None:
                    return "NULL"
                if isinstance(v, dt.datetime) and v.tzinfo is not None:
                    # an instant, written as its UTC time into a UTC column
                    v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
                if isinstance(v, bool):
                    return "true" if v else "false"
                if isinstance(v, int | float):
                    return repr(v)
                return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

            values = ",".join("(" + ",".join(lit(v) for v in r) + ")" for r in rows)
            self.execute(f'insert into "{table}" values {values}')

    def materialise(self, name, sql):
        self.execute(f'drop table if exists "{name}"')
        self.execute(f'create table "{name}" engine = Memory as {sql}')

    def close(self):
        self.session.close()
        shutil.rmtree(self.path, ignore_errors=True)


class SparkEngine(Engine):
    """Spark SQL in local mode: the distributed-engine tier. Tables are temporary views over
    cached DataFrames (no metastore, nothing written to disk)."""

    name = dialect = "spark"

    def quote(self, name: str) -> str:
        return f"`{name}`"

    def __init__(self, spark):
        self.spark = spark
        self.views: list[str] = []

    def execute(self, sql):
        self.spark.sql(sql).collect()

    def rows(self, sql):
        df = self.spark.sql(sql)
        return df.columns, [tuple(r) for r in df.collect()]

    def load(self, table, columns, rows):
        import pyspark.sql.types as T

        types = {"text": T.StringType(), "date": T.DateType(), "number": T.DoubleType(),
                 "bool": T.BooleanType(), "timestamp": T.TimestampType(),
                 "timestamptz": T.TimestampType()}
        schema = T.StructType([T.StructField(c, types[k]) for c, k in columns])
        data = [tuple(float(v) if k == "number" and v is not None else v
                      for v, (_, k) in zip(r, columns, strict=True)) for r in rows]
        self._view(table, self.spark.createDataFrame(data, schema))

    def materialise(self, name, sql):
        self._view(name, self.spark.sql(sql))

    def _view(self, name, df):
        df = df.cache()
        df.count()
        df.createOrReplaceTempView(name)
        self.views.append(name)

    def close(self):
        for v in self.views:
            self.spark.catalog.dropTempView(v)
        self.spark.catalog.clearCache()


def spark_session():
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("saas-retention-tests")
             .config("spark.ui.enabled", "false")
             # the conformance modules keep every materialised relation cached for the module:
             # the default 1 GiB heap runs out on the event fixtures
             .config("spark.driver.memory", "4g")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.sql.session.timeZone", "UTC")
             # fixtures of a few hundred rows: compiling Java for every stage of every query
             # (whole-stage code generation) and re-planning it at run time (adaptive query
             # execution) cost more than the query; the interpreted path gives the same rows
             # by Spark's design. Measured on three conformance modules: 208 s -> 130 s.
             .config("spark.sql.codegen.wholeStage", "false")
             .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
             .config("spark.sql.adaptive.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# -- PostgreSQL server ---------------------------------------------------------------------------

def pg_url(dsn: str, driver: str | None = "psycopg") -> str:
    """The SQLAlchemy URL of the test server's DSN (``host=… port=… user=… dbname=…``):
    ``postgresql+psycopg://`` for the package's warehouse builds, ``postgresql://`` (psycopg2,
    what Superset's SQLAlchemy 1.4 means by it) with ``driver=None``."""
    parts = dict(p.split("=", 1) for p in dsn.split())
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return f"{scheme}://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL on 127.0.0.1 (initdb + pg_ctl); yields a DSN."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="sr-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-w", "-l",
                    str(root / "log"), "start"], check=True, capture_output=True)
    try:
        dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        deadline = time.monotonic() + 20
        while True:
            try:
                import psycopg

                psycopg.connect(dsn).close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield dsn
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# -- MariaDB server (the MySQL dialect) ----------------------------------------------------------

class MySQLEngine(Engine):
    """MariaDB (or MySQL) through pymysql: the engine for sqlglot's ``mysql`` dialect."""

    name = "mysql"
    dialect = "mysql"

    def quote(self, name: str) -> str:
        return f"`{name}`"

    def __init__(self, url: dict):
        import pymysql

        self.con = pymysql.connect(**url, autocommit=True)

    def execute(self, sql):
        with self.con.cursor() as cur:
            cur.execute(sql)

    def rows(self, sql):
        with self.con.cursor() as cur:
            cur.execute(sql)
            return [d[0] for d in cur.description], list(cur.fetchall())

    def load(self, table, columns, rows):
        types = {"text": "VARCHAR(255)", "date": "DATE", "number": "DOUBLE", "bool": "BOOLEAN",
                 "timestamp": "DATETIME(6)"}
        cols = ", ".join(f"`{c}` {types[k]}" for c, k in columns)
        self.execute(f"drop table if exists `{table}`")
        self.execute(f"create table `{table}` ({cols})")
        if rows:
            marks = ", ".join("%s" for _ in columns)
            with self.con.cursor() as cur:
                cur.executemany(f"insert into `{table}` values ({marks})", rows)

    def materialise(self, name, sql):
        self.execute(f"drop table if exists `{name}`")
        self.execute(f"create table `{name}` as {sql}")

    def close(self):
        self.con.close()


def _mysql_bin(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()),
            None)
        if found:
            return found
    return None


@contextlib.contextmanager
def mysql_server():
    """A throwaway MariaDB on 127.0.0.1 in a temporary datadir; yields pymysql connect args."""
    install = _mysql_bin("mariadb-install-db", "mysql_install_db")
    server = _mysql_bin("mariadbd", "mysqld")
    if not install or not server:
        raise RuntimeError("MariaDB server binaries not found (apt-get install mariadb-server)")
    root = Path(tempfile.mkdtemp(prefix="sr-mariadb-"))
    data = root / "data"
    # as root the server must be told to run as root (the tests' own throwaway server)
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run([install, f"--datadir={data}", "--auth-root-authentication-method=normal",
                    "--skip-test-db", *user], check=True, capture_output=True)
    port = _free_port()
    log = (root / "log").open("w")
    proc = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={data}", f"--socket={root / 'sock'}",
         f"--port={port}", "--bind-address=127.0.0.1", "--skip-grant-tables",
         "--skip-name-resolve", f"--pid-file={root / 'pid'}", "--innodb-flush-log-at-trx-commit=0",
         "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin",
         "--default-time-zone=+00:00", *user],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        import pymysql

        args = {"host": "127.0.0.1", "port": port, "user": "root", "password": ""}
        deadline = time.monotonic() + 30
        while True:
            try:
                pymysql.connect(**args).close()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (root / "log").read_text()
                    raise RuntimeError(f"MariaDB did not start:\n{log_text}") from None
                time.sleep(0.2)
        con = pymysql.connect(**args, autocommit=True)
        with con.cursor() as cur:
            cur.execute("create database sr")
        con.close()
        yield {**args, "database": "sr"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


# -- which cases run on which engine ------------------------------------------------------------

def engine_cases(engines, cases, *, spark_cases):
    """``(engine_name, case)`` parameters, id ``engine-case``: every case on every engine but
    Spark, which runs only ``spark_cases``. A Spark query of a model plans each reference to
    each CTE anew (Spark inlines deterministic CTEs: 434 exchanges for the 13 rows of the
    retention model), so one case there costs minutes; the cases kept are the ones whose
    rows exercise what the others do not (boundary days, time-zone conversion, each event
    table), and every case still runs on the other engines."""
    import pytest

    params = []
    for engine in engines:
        name, marks = (engine.values[0], engine.marks) if hasattr(engine, "values") else (
            engine, ())
        for case in cases:
            if name == "spark" and case not in spark_cases:
                continue
            params.append(pytest.param(name, case, marks=marks, id=f"{name}-{case}"))
    return params
