"""Test matrix: the newest releases and Superset 6.1's pins (sqlglot 28.10.x, pyarrow 18.x,
duckdb 1.x). Run everything with ``python3 -m nox`` (the session ``all``: every other session,
in the lanes of ``LANES`` at once); one session with ``-s``; a session's pytest arguments
after ``--`` (``nox -s tests-newest -- -m postgres -x``). The tiers (pytest markers) and
what each session runs: docs/testing.md."""

import os
import subprocess
import sys
import time
from pathlib import Path

import nox

nox.options.sessions = ["all"]
nox.options.reuse_existing_virtualenvs = True
# uv makes each session's environment in seconds where pip took one to two minutes of a CPU
# (measured: Superset's environment 12.6 s with uv, 106 s with pip, the same versions
# resolved); seven environments per CI run. Without uv on PATH, nox falls back to virtualenv
# and pip.
nox.options.default_venv_backend = "uv|virtualenv"

# Lanes of sessions that run at the same time. One pytest process keeps a 2-core machine busy
# ~40 % of the time (Python between queries, servers and browsers waiting on each other):
# measured on CI, 77 % CPU of one core over a 59-minute serial run. Each lane is about a third
# of the work (two lanes measured 40 minutes: the second held two-thirds); within a lane,
# sessions run in order. Measured with three lanes of one session each first: tests-newest's
# lane took the longest, so its Spark tier moved behind tests-superset-pins. The next CI run
# (lanes of 25.9, 35.7 and 37.1 min) moved dbt behind tests-newest.
LANES = [["lint", "tests-newest", "dbt"], ["tests-superset-pins", "tests-spark"],
         ["generated", "superset"]]
# pytest-xdist workers per test session, one test module per worker at a time (module-scoped
# fixtures — a PostgreSQL database, a build — stay shared by the module's tests)
XDIST = ["-n", "2", "--dist", "loadfile"]

PINS = {
    "newest": ["--upgrade", "duckdb", "sqlglot", "pyarrow"],
    "superset-pins": ["sqlglot>=28.10,<28.11", "pyarrow>=18,<19", "duckdb>=1.1,<2"],
}
# Every tier but Superset's and dbt's: the newest releases run each test once here, and in
# tests-spark (Spark's tier, split off so that another lane can take it).
NEWEST_TIERS = "not (superset or dbt or spark)"
# Under Superset's pins: what runs in the package's own code with those sqlglot, pyarrow and
# duckdb versions (compiling, DuckDB builds, Arrow UDFs, the bundle) and the in-process and
# PostgreSQL engines. Spark and MariaDB add a JVM and a server for the same SQL compiled by the
# same sqlglot, and the slow tier repeats builds the fast tier already makes at a larger size:
# both run once, with the newest releases.
PINNED_TIERS = "not (spark or mysql or slow or superset or dbt)"


def _tests(session: nox.Session, deps: str, tiers: str) -> None:
    session.install("-e", ".[test]", *PINS[deps])
    session.run("python", "-c", "import duckdb, sqlglot, pyarrow; print('duckdb', "
                "duckdb.__version__, 'sqlglot', sqlglot.__version__, 'pyarrow', "
                "pyarrow.__version__)")
    session.run("pytest", *(session.posargs or ["-q", *XDIST, "-m", tiers]))


@nox.session(name="tests-newest")
def tests_newest(session: nox.Session) -> None:
    _tests(session, "newest", NEWEST_TIERS)


@nox.session(name="tests-spark")
def tests_spark(session: nox.Session) -> None:
    """The Spark tier with the newest releases: the rest of tests-newest, split off so that the
    lanes come out even (it is the slowest tier per test)."""
    _tests(session, "newest", "spark")


@nox.session(name="tests-superset-pins")
def tests_superset_pins(session: nox.Session) -> None:
    _tests(session, "superset-pins", PINNED_TIERS)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def generated(session: nox.Session) -> None:
    """Committed generated files (dialect SQL, docs) equal what the generator produces, with
    the sqlglot version they were generated with. No engine is needed: the package, pytest and
    hypothesis (tests/conftest.py imports it)."""
    version = open("sql/dist/SQLGLOT_VERSION").read().strip()
    session.install("-e", ".", "pytest>=8", "hypothesis>=6.100", f"sqlglot=={version}")
    # the drift test only: the module's other checks run with whatever sqlglot is installed,
    # and both test sessions run them
    session.run("pytest", "-q", "tests/unit/test_generated.py", "-k",
                "test_committed_copy_matches_generator")


@nox.session
def superset(session: nox.Session) -> None:
    """End to end against a real Superset 6.1 (started by the tests on 127.0.0.1): imports,
    installs, chart-data numbers, SQL Lab safety, dashboards in headless Chromium (the system
    /usr/bin/chromium: .ci/run installs it; no browser is ever downloaded). Screenshots and
    timings land in .nox/artifacts/superset/. Of [test]'s drivers only PostgreSQL's (one test
    installs into a Superset whose analytics database is PostgreSQL): pytest and hypothesis
    (tests/conftest.py imports it)."""
    # psycopg: the tests' PostgreSQL server (the analytics database one test installs into);
    # psycopg2: what postgresql:// means under Superset's SQLAlchemy 1.4
    session.install("-e", ".[superset]", "pytest>=8", "hypothesis>=6.100", "playwright",
                    "psycopg[binary]>=3.1", "psycopg2-binary")
    session.run("pytest", "-m", "superset", *(session.posargs or ["-q"]),
                env={"SUPERSET_ARTIFACTS": ".nox/artifacts/superset"})


# dbt-core 1.12 depends on dbt-core-experimental-parser, whose install downloads a wheel from
# outside the package registries (it fails on machines without that access); 1.11 is the newest
# that installs from the registries alone.
DBT = ["dbt-core>=1.11,<1.12", "dbt-duckdb>=1.11,<1.12", "dbt-postgres>=1.9,<1.12",
       "dbt-spark[session]>=1.9,<1.12"]


@nox.session
def dbt(session: nox.Session) -> None:
    """The generated dbt package (saas-retention dbt) built by dbt-core 1.11 with dbt-duckdb,
    dbt-postgres (the PostgreSQL server the tests start) and dbt-spark in session mode (pyspark
    in local mode): ``pytest -m dbt``. Only what those tests import: the package, pytest,
    hypothesis (tests/conftest.py), psycopg, dbt and its adapters."""
    session.install("-e", ".", "pytest>=8", "hypothesis>=6.100", "psycopg[binary]>=3.1", *DBT)
    session.run("dbt", "--version")
    # the dbt tests' module only: collecting the others imports what this session lacks
    session.run("pytest", *(session.posargs or ["-q", "-m", "dbt",
                                                "tests/conformance/test_dbt.py"]))


@nox.session(name="all", python=False)
def all_sessions(session: nox.Session) -> None:
    """Every session above, in the ``LANES`` at once; each lane's output is printed whole
    when it ends (``.nox/lane-N.log``), then the time each lane took. Fails if any session
    failed. Extra arguments are passed to nox (e.g. ``-- --no-install``)."""
    Path(".nox").mkdir(exist_ok=True)
    started = time.monotonic()
    running = []
    for i, lane in enumerate(LANES, 1):
        log = Path(f".nox/lane-{i}.log")
        out = log.open("w")
        cmd = [sys.executable, "-m", "nox", "-s", *lane, *session.posargs]
        running.append((i, lane, log, out, subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())))
    failed = []
    times = {}
    while running:
        for item in list(running):
            i, lane, log, out, proc = item
            if proc.poll() is None:
                continue
            running.remove(item)
            out.close()
            times[i] = time.monotonic() - started
            print(f"===== lane {i}: {', '.join(lane)} — exit {proc.returncode} after "
                  f"{times[i] / 60:.1f} min =====", flush=True)
            print(log.read_text(errors="replace"), flush=True)
            if proc.returncode:
                failed.append(i)
        time.sleep(2)
    for i, lane in enumerate(LANES, 1):
        print(f"lane {i} ({', '.join(lane)}): {times[i] / 60:.1f} min")
    if failed:
        session.error(f"lane(s) {', '.join(map(str, failed))} failed (output above)")
