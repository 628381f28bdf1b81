"""Test matrix: the newest releases and Superset 6.1's pins (sqlglot 28.10.x, pyarrow 18.x,
duckdb 1.x). Run everything with ``python3 -m nox``; one session with ``-s``."""

import nox

nox.options.sessions = ["lint", "tests-newest", "tests-superset-pins"]
nox.options.reuse_existing_virtualenvs = True

PINS = {
    "newest": ["--upgrade", "duckdb", "sqlglot", "pyarrow"],
    "superset-pins": ["sqlglot>=28.10,<28.11", "pyarrow>=18,<19", "duckdb>=1.1,<2"],
}


def _tests(session: nox.Session, deps: str) -> None:
    session.install("-e", ".[test]", *PINS[deps])
    session.run("python", "-c", "import duckdb, sqlglot, pyarrow; print('duckdb', "
                "duckdb.__version__, 'sqlglot', sqlglot.__version__, 'pyarrow', "
                "pyarrow.__version__)")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(name="tests-newest")
def tests_newest(session: nox.Session) -> None:
    _tests(session, "newest")


@nox.session(name="tests-superset-pins")
def tests_superset_pins(session: nox.Session) -> None:
    _tests(session, "superset-pins")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
