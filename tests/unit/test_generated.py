"""Committed generated artefacts equal what ``python -m saas_retention.generate`` produces.

The text of generated SQL depends on sqlglot's formatting, so the comparison runs with the
sqlglot version recorded in ``sql/dist/SQLGLOT_VERSION``: the nox session ``generated``
installs exactly that version; other environments check what they can (the version file) and
skip the rest with the reason.
"""

from __future__ import annotations

import functools
import logging
import re

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


# A top-level CTE's first line in a shipped file (pretty-printed: everything inside a CTE is
# indented, so a line at column 0 is the WITH clause's own).
CTE_START = re.compile(r"^(?:WITH |\), )\S+ AS \($")


def statement_parts(text: str) -> list[str] | None:
    """The body of each top-level CTE of a shipped query, then the rest of it (the SELECT after
    the CTEs and anything following it); None where the text is not that shape.

    Every shipped query repeats the relations it depends on as CTEs: the calendar's 300 lines
    in each of 37 files, about 250 CTEs per dialect of which 74 distinct. Parsing each distinct
    part once finds every cast the whole files hold (a cast lies inside one part) in a fifth of
    the time of parsing every file whole."""
    lines = [line for line in text.split("\n") if not line.startswith("--")]
    if not lines or not CTE_START.match(lines[0]):
        return None
    parts: list[str] = []
    body: list[str] = []
    for i, line in enumerate(lines):
        if CTE_START.match(line):
            if i:
                parts.append("\n".join(body))
            body = []
        elif line == ")" or line.startswith(") "):
            # the last CTE ends: the rest is the query that reads the CTEs
            parts.append("\n".join(body))
            parts.append(line[1:] + "\n" + "\n".join(lines[i + 1:]))
            return parts
        elif line[:1] not in ("", " "):
            return None  # a line at column 0 inside a CTE: not the shape assumed above
        else:
            body.append(line)
    return None


@pytest.mark.parametrize("dialect", ROUNDING_CASTS)
def test_no_integer_division_by_rounding_cast(dialect):
    """Integer division must not be written as CAST(a / b AS INT) where that cast rounds.

    Runs with whatever sqlglot is installed: sqlglot 28.x (Superset's pin) translated integer
    division that way for MySQL, Snowflake and Trino, which put month 2023-07 in 2024.
    Each distinct part of the shipped files (``statement_parts``) is parsed once; a file of
    another shape is parsed whole.
    """
    found, seen = [], set()
    for model, text in shipped(dialect)[0].items():
        parts = statement_parts(text)
        for part in [text] if parts is None else parts:
            if part in seen:
                continue
            seen.add(part)
            for tree in sqlglot.parse(part, read=dialect):
                if tree is not None:
                    found += [f"{model}: {c.sql(dialect)[:160]}" for c in _rounding_casts(tree)]
    assert not found, "\n".join(found[:5])


def test_statement_parts_cover_the_whole_query():
    """The parts are the CTE bodies and the final query, every line of the text in one part,
    and each parses as the same expression as it does inside the whole query."""
    text = shipped("postgres")[0]["retention"]
    parts = statement_parts(text)
    whole = sqlglot.parse_one(text, read="postgres")
    ctes = whole.args["with_" if "with_" in sqlglot.exp.Select.arg_types else "with"]
    assert parts is not None and len(parts) == len(ctes.expressions) + 1
    for part, cte in zip(parts, ctes.expressions, strict=False):
        assert sqlglot.parse_one(part, read="postgres") == cte.this
    body_lines = sum(len(p.split("\n")) for p in parts[:-1])
    code_lines = [x for x in text.split("\n") if not x.startswith("--")]
    # each CTE's first line and the line closing the last one are not in a body
    assert body_lines + len(ctes.expressions) + len(parts[-1].split("\n")) == len(code_lines)
    assert statement_parts("SELECT 1") is None
    assert statement_parts("WITH a AS (\n  SELECT 1\nSELECT 2\n), b AS (") is None


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
