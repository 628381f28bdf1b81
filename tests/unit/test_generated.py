"""Committed generated artefacts equal what ``python -m saas_retention.generate`` produces.

The text of generated SQL depends on sqlglot's formatting, so the comparison runs with the
sqlglot version recorded in ``sql/dist/SQLGLOT_VERSION``: the nox session ``generated``
installs exactly that version; other environments check what they can (the version file) and
skip the rest with the reason.
"""

from __future__ import annotations

import functools
import logging

import pytest
import sqlglot

from saas_retention.export.dist import ROOT, SQLGLOT_VERSION_FILE, artefacts

RECORDED = (ROOT / SQLGLOT_VERSION_FILE).read_text().strip()


@functools.cache
def shipped(dialect: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Every warehouse model's standalone SQL for ``dialect`` as ``sql/dist`` ships it, and
    the warnings sqlglot logged while writing it: compiled once for the module's tests (each
    dialect's models take seconds, and three tests read them)."""
    from saas_retention.export.standalone import dist_target, standalone_sql
    from saas_retention.relations.graph import warehouse_models

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    collect = Collect()
    logger = logging.getLogger("sqlglot")
    logger.addHandler(collect)
    try:
        target = dist_target(dialect)
        texts = {model: standalone_sql(model, target) for model in warehouse_models()}
    finally:
        logger.removeHandler(collect)
    return texts, tuple(collect.messages)


@pytest.mark.parametrize("rel", sorted(artefacts(), key=str), ids=str)
def test_committed_copy_matches_generator(rel):
    if rel == SQLGLOT_VERSION_FILE:
        assert RECORDED, "sql/dist/SQLGLOT_VERSION is empty"
        return
    if sqlglot.__version__ != RECORDED:
        pytest.skip(f"generated with sqlglot {RECORDED}, this is {sqlglot.__version__} "
                    "(the nox session 'generated' checks it)")
    dialect, name = rel.parent.name, rel.stem
    if rel.parent.parent == SQLGLOT_VERSION_FILE.parent and name in shipped(dialect)[0]:
        produced = shipped(dialect)[0][name]
    else:
        produced = artefacts()[rel]()
    committed = (ROOT / rel).read_text(encoding="utf-8")
    assert committed == produced, (
        f"{rel} drifted from its definitions; run `python -m saas_retention.generate`")


# Engines whose CAST of a fraction to an integer rounds (the others truncate).
ROUNDING_CASTS = ["duckdb", "postgres", "redshift", "mysql", "snowflake", "trino", "bigquery"]


def _rounding_casts(tree: sqlglot.exp.Expression):
    for cast in tree.find_all(sqlglot.exp.Cast):
        if not cast.to.is_type(*sqlglot.exp.DataType.INTEGER_TYPES):
            continue
        inner = cast.this.unnest()
        if not isinstance(inner, sqlglot.exp.Div):
            continue
        # (a - a % b) / b divides exactly: nothing to round
        mod = inner.this.find(sqlglot.exp.Mod)
        if mod is not None and mod.expression == inner.expression:
            continue
        yield cast


@pytest.mark.parametrize("dialect", ROUNDING_CASTS)
def test_no_integer_division_by_rounding_cast(dialect):
    """Integer division must not be written as CAST(a / b AS INT) where that cast rounds.

    Runs with whatever sqlglot is installed: sqlglot 28.x (Superset's pin) translated integer
    division that way for MySQL, Snowflake and Trino, which put month 2023-07 in 2024.
    """
    found = []
    for model, text in shipped(dialect)[0].items():
        for tree in sqlglot.parse(text, read=dialect):
            found += [f"{model}: {c.sql(dialect)[:160]}" for c in _rounding_casts(tree)]
    assert not found, "\n".join(found[:5])


@pytest.mark.parametrize("dialect", sorted(set(__import__(
    "saas_retention.dialects", fromlist=["SUPPORTED"]).SUPPORTED)))
def test_no_null_ordering_dropped_by_sqlglot(dialect):
    """Every model generates without sqlglot dropping a NULLS FIRST/LAST it cannot write
    (it did in the framed windows of customer_sessions and customer_value for MySQL, T-SQL
    and BigQuery): the dialect registry writes the order out instead. Runs with whatever
    sqlglot is installed."""
    dropped = [m for m in shipped(dialect)[1] if "NULLS" in m]
    assert not dropped, dropped[:3]


FRAMED = ("select sum(v) over (partition by g order by k{order} "
          "rows between unbounded preceding and current row) as s from t")


@pytest.mark.parametrize(("order", "expected"), [
    # DuckDB's default, NULLs last: a NULL rank first where the engine sorts NULLs first
    ("", {"mysql": "ORDER BY CASE WHEN k IS NULL THEN 1 ELSE 0 END ASC, k ROWS",
          "tsql": "ORDER BY CASE WHEN k IS NULL THEN 1 ELSE 0 END ASC, k ROWS",
          "bigquery": "ORDER BY CASE WHEN k IS NULL THEN 1 ELSE 0 END ASC, k ROWS",
          "postgres": "ORDER BY k ROWS", "duckdb": "ORDER BY k ROWS"}),
    # descending: NULLs last is already where MySQL puts them
    (" desc", {"mysql": "ORDER BY k DESC ROWS", "postgres": "ORDER BY k DESC NULLS LAST ROWS"}),
    (" desc nulls first", {
        "mysql": "ORDER BY CASE WHEN k IS NULL THEN 0 ELSE 1 END ASC, k DESC ROWS",
        "postgres": "ORDER BY k DESC ROWS"}),
])
def test_window_null_ordering_per_dialect(order, expected):
    from saas_retention.dialects import window_null_ordering

    for dialect, fragment in expected.items():
        tree = window_null_ordering(sqlglot.parse_one(FRAMED.format(order=order),
                                                      read="duckdb"), dialect)
        assert fragment in tree.sql(dialect).replace(" rows ", " ROWS "), (
            dialect, tree.sql(dialect))
