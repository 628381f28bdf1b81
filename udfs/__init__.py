"""Registering the metric functions in DuckDB and calling them from Python.

``register(con)`` creates every metric function of ``sql/metrics.yml`` as a DuckDB macro
(``CREATE OR REPLACE MACRO``: idempotent, native speed, persisted in a database file) and
registers the vectorised Arrow UDFs for what SQL cannot express (model fitting).
"""

from __future__ import annotations

__all__ = ["macro_sql", "register", "call"]


def macro_sql(name: str | None = None) -> list[str]:
    """``CREATE OR REPLACE MACRO`` statements (DuckDB) for one or every metric function."""
    from sqlglot import exp

    from saas_retention.catalog.compile import metric_expression
    from saas_retention.catalog.templates import load_catalog

    metrics = load_catalog().metrics
    names = [name] if name else list(metrics)
    statements = []
    for n in names:
        metric = metrics[n]
        body = metric_expression(metric).sql(dialect="duckdb")
        params = ", ".join(exp.to_identifier(a).sql("duckdb") for a in metric.args)
        ident = exp.to_identifier(n).sql("duckdb")
        statements.append(f"CREATE OR REPLACE MACRO {ident}({params}) AS ({body})")
    return statements


def register(con, *, arrow: bool = True) -> list[str]:
    """Create every metric function in ``con``; returns the names registered.

    Safe to call repeatedly on the same connection.
    """
    from saas_retention.catalog.templates import load_catalog

    for statement in macro_sql():
        con.execute(statement)
    names = list(load_catalog().metrics)
    if arrow:
        from .arrow import register_arrow_udfs

        register_arrow_udfs(con)
        from .arrow import ARROW_UDFS

        names.extend(ARROW_UDFS)
    return names


def call(name: str, *arrays):
    """Evaluate metric function ``name`` on pyarrow arrays (or Python sequences).

    The expression is the macro's own body, evaluated by DuckDB over an Arrow table, so the
    Python result is the SQL result by construction.

    >>> call("crr", [100, 0], [95, 5], [5, 5]).to_pylist()
    [90.0, None]
    """
    import duckdb
    import pyarrow as pa
    from sqlglot import exp

    from saas_retention.catalog.compile import metric_expression
    from saas_retention.catalog.templates import load_catalog

    metric = load_catalog().metrics[name]
    if len(arrays) != len(metric.args):
        raise TypeError(f"{name}() takes {len(metric.args)} arrays ({', '.join(metric.args)})")
    table = pa.table({
        a: v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v)
        for a, v in zip(metric.args, arrays, strict=True)
    })
    query = exp.select(exp.alias_(metric_expression(metric), "value")).from_("sr_args")
    con = duckdb.connect()
    try:
        con.register("sr_args", table)
        # a RecordBatchReader on duckdb >= 1.4, a Table before: read_all covers both
        result = con.sql(query.sql(dialect="duckdb")).arrow()
        if isinstance(result, pa.RecordBatchReader):
            result = result.read_all()
        return result.column("value")
    finally:
        con.close()
