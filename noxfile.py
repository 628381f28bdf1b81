"""Test matrix: the newest releases and Superset 6.1's pins (sqlglot 28.10.x, pyarrow 18.x,
duckdb 1.x). Run everything with ``python3 -m nox``; one session with ``-s``; a session's
pytest arguments after ``--`` (``nox -s tests-newest -- -m postgres -x``). The tiers (pytest
markers) and what each session runs: docs/testing.md."""

import nox

nox.options.sessions = ["lint", "generated", "tests-newest", "tests-superset-pins", "superset",
                        "dbt"]
nox.options.reuse_existing_virtualenvs = True

PINS = {
    "newest": ["--upgrade", "duckdb", "sqlglot", "pyarrow"],
    "superset-pins": ["sqlglot>=28.10,<28.11", "pyarrow>=18,<19", "duckdb>=1.1,<2"],
}
# Every tier but Superset's: the newest releases run each test once here.
EVERY_TIER_BUT_SUPERSET = "not superset"
# Under Superset's pins: what runs in the package's own code with those sqlglot, pyarrow and
# duckdb versions (compiling, DuckDB builds, Arrow UDFs, the bundle) and the in-process and
# PostgreSQL engines. Spark and MariaDB add a JVM and a server for the same SQL compiled by the
# same sqlglot, and the slow tier repeats builds the fast tier already makes at a larger size:
# both run once, in tests-newest.
PINNED_TIERS = "not (spark or mysql or slow or superset)"


def _tests(session: nox.Session, deps: str, tiers: str) -> None:
    session.install("-e", ".[test]", *PINS[deps])
    session.run("python", "-c", "import duckdb, sqlglot, pyarrow; print('duckdb', "
                "duckdb.__version__, 'sqlglot', sqlglot.__version__, 'pyarrow', "
                "pyarrow.__version__)")
    session.run("pytest", *(session.posargs or ["-q", "-m", tiers]))


@nox.session(name="tests-newest")
def tests_newest(session: nox.Session) -> None:
    _tests(session, "newest", EVERY_TIER_BUT_SUPERSET)


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
    session.run("pytest", "-q", "tests/unit/test_generated.py")


@nox.session
def superset(session: nox.Session) -> None:
    """End to end against a real Superset 6.1 (started by the tests on 127.0.0.1): imports,
    installs, chart-data numbers, SQL Lab safety, dashboards in headless Chromium (the system
    /usr/bin/chromium: .ci/run installs it; no browser is ever downloaded). Screenshots and
    timings land in .nox/artifacts/superset/. No warehouse engine is needed, so not [test]'s
    drivers: pytest and hypothesis (tests/conftest.py imports it)."""
    session.install("-e", ".[superset]", "pytest>=8", "hypothesis>=6.100", "playwright")
    session.run("pytest", "-m", "superset", *(session.posargs or ["-q"]),
                env={"SUPERSET_ARTIFACTS": ".nox/artifacts/superset"})


# dbt-core 1.12 depends on dbt-core-experimental-parser, whose install downloads a wheel from
# outside the package registries (it fails on machines without that access); 1.11 is the newest
# that installs from the registries alone.
DBT = ["dbt-core>=1.11,<1.12", "dbt-duckdb>=1.11,<1.12", "dbt-postgres>=1.9,<1.12"]


@nox.session
def dbt(session: nox.Session) -> None:
    """The generated dbt package (saas-retention dbt) built by dbt-core 1.11 with dbt-duckdb and
    dbt-postgres (the PostgreSQL server the tests start): ``pytest -m "dbt and not spark"``.
    Only what those tests import: the package, pytest, hypothesis (tests/conftest.py),
    psycopg, dbt. The dbt-spark session-mode test needs pyspark and takes minutes: on request,
    ``nox -s dbt -- -m "dbt and spark"`` after ``pip install 'dbt-spark[session]'``."""
    session.install("-e", ".", "pytest>=8", "hypothesis>=6.100", "psycopg[binary]>=3.1", *DBT)
    session.run("dbt", "--version")
    # the dbt tests' module only: collecting the others imports what this session lacks
    session.run("pytest", *(session.posargs or ["-q", "-m", "dbt and not spark",
                                                "tests/conformance/test_dbt.py"]))
