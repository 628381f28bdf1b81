"""Vectorised Arrow UDFs for the sBG retention model (:mod:`saas_retention.udfs.sbg`).

The functions take and return pyarrow arrays, so they work on their own and as DuckDB
``type="arrow"`` UDFs, which :func:`register_arrow_udfs` installs on a connection:

* ``sbg_fit(survivors DOUBLE[]) -> STRUCT(alpha DOUBLE, beta DOUBLE, log_likelihood DOUBLE)``:
  survivor counts at t = 0..n (first = cohort size). A NULL or invalid list (fewer than 2 values,
  a NULL element, negative or increasing counts, cohort size 0) gives a NULL struct; a valid
  cohort with nothing to fit (nobody churned, everyone churned in period 1, a single period)
  gives a struct whose fields are NULL. Never raises mid-query.
* ``sbg_survival(alpha DOUBLE, beta DOUBLE, t DOUBLE) -> DOUBLE``: S(t) = B(α, β + t) / B(α, β);
  NULL when an argument is NULL, α or β is not > 0, or t < 0. BIGINT t is cast implicitly.

DuckDB hands an Arrow UDF one vector of rows (``duckdb.__standard_vector_size__``) per call;
all cohorts of a call are fitted together as one numpy batch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import sbg

__all__ = ["ARROW_UDFS", "FIT_TYPE", "register_arrow_udfs", "sbg_fit_arrow", "sbg_survival_arrow"]

# sbg_survival itself is a SQL macro (sql/metrics.yml, native speed); the Arrow version is
# registered under its own name for comparison and for exact NULL handling.
ARROW_UDFS = ["sbg_fit", "sbg_survival_arrow"]

FIT_TYPE = pa.struct(
    [
        pa.field("alpha", pa.float64()),
        pa.field("beta", pa.float64()),
        pa.field("log_likelihood", pa.float64()),
    ]
)
_FIT_SQL_TYPE = "STRUCT(alpha DOUBLE, beta DOUBLE, log_likelihood DOUBLE)"


def _as_array(values) -> pa.Array:
    """A single pa.Array from an Array, ChunkedArray (what DuckDB passes) or Python sequence."""
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 1:
            return values.chunk(0)
        if values.num_chunks == 0:
            return pa.array([], type=values.type)
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    return pa.array(values)


def _float_numpy(values, n: int | None = None) -> np.ndarray:
    """float64 numpy copy of an Arrow array or scalar, NULL as NaN."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = _as_array(values)
        if not pa.types.is_floating(arr.type):
            arr = arr.cast(pa.float64())
        out = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
        mask = arr.is_null().to_numpy(zero_copy_only=False)
        out[mask] = np.nan
        return out
    if isinstance(values, pa.Scalar):
        values = values.as_py()
    out = np.asarray(np.nan if values is None else values, dtype=np.float64)
    return np.broadcast_to(out, (n,)).copy() if n is not None and out.ndim == 0 else out


def _nullable(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """float64 Arrow array, NULL where ``values`` is NaN or ``mask`` is set."""
    null = np.isnan(values)
    if mask is not None:
        null |= mask
    return pa.array(values, type=pa.float64(), mask=null)


def sbg_fit_arrow(counts) -> pa.StructArray:
    """Fit the sBG model to each list of survivor counts; see the module docstring.

    ``counts`` is a list-typed Arrow array (list, large_list or fixed_size_list of numbers),
    or a ChunkedArray of one.
    """
    arr = _as_array(counts)
    if not (
        pa.types.is_list(arr.type)
        or pa.types.is_large_list(arr.type)
        or pa.types.is_fixed_size_list(arr.type)
    ):
        raise TypeError(f"sbg_fit expects a list array of survivor counts, got {arr.type}")
    n = len(arr)
    if pa.types.is_fixed_size_list(arr.type) or not pa.types.is_float64(arr.type.value_type):
        arr = arr.cast(pa.list_(pa.float64()))
    row_null = arr.is_null().to_numpy(zero_copy_only=False)
    offsets = arr.offsets.to_numpy(zero_copy_only=False)  # positions in arr.values
    values = _float_numpy(arr.values)

    alpha = np.full(n, np.nan)
    beta = np.full(n, np.nan)
    loglik = np.full(n, np.nan)
    invalid = row_null.copy()
    rows: list[int] = []
    cohorts: list[np.ndarray] = []
    for i in range(n):
        if row_null[i]:
            continue
        alive = values[offsets[i] : offsets[i + 1]]
        if sbg._survivor_problem(alive) is not None:
            invalid[i] = True
            continue
        rows.append(i)
        cohorts.append(alive)
    if rows:
        fits = sbg._fit_valid(cohorts)
        idx = np.asarray(rows)
        alpha[idx] = [f.alpha for f in fits]
        beta[idx] = [f.beta for f in fits]
        loglik[idx] = [f.log_likelihood for f in fits]

    return pa.StructArray.from_arrays(
        [_nullable(alpha), _nullable(beta), _nullable(loglik)],
        fields=list(FIT_TYPE),
        mask=pa.array(invalid, type=pa.bool_()),
    )


def sbg_survival_arrow(alpha, beta, t) -> pa.DoubleArray:
    """S(t) row by row for Arrow arrays (or scalars, broadcast) alpha, beta, t; see module doc."""
    lengths = [len(x) for x in (alpha, beta, t) if isinstance(x, (pa.Array, pa.ChunkedArray))]
    n = max(lengths) if lengths else None
    a = _float_numpy(alpha, n)
    b = _float_numpy(beta, n)
    tt = _float_numpy(t, n)
    a, b, tt = np.broadcast_arrays(a, b, tt)
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(tt) & (a > 0) & (b > 0) & (tt >= 0)
    out = np.full(a.shape, np.nan)
    if ok.any():
        out[ok] = sbg.survival(a[ok], b[ok], tt[ok])
    return _nullable(np.atleast_1d(out))


def _fit_udf(counts):
    return sbg_fit_arrow(counts)


def _survival_udf(alpha, beta, t):
    return sbg_survival_arrow(alpha, beta, t)


def register_arrow_udfs(con):
    """Register ``sbg_fit`` and ``sbg_survival_arrow`` on a DuckDB connection; safe to call again.

    Works with duckdb 1.x and 2.x. Returns the connection.
    """
    import duckdb

    specs = [
        ("sbg_fit", _fit_udf, ["DOUBLE[]"], _FIT_SQL_TYPE),
        ("sbg_survival_arrow", _survival_udf, ["DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE"),
    ]
    for name, function, parameters, return_type in specs:
        try:
            con.remove_function(name)
        except duckdb.InvalidInputException:
            pass  # not registered yet
        con.create_function(
            name,
            function,
            parameters,
            return_type,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
    from .sentiment import register_sentiment_udf

    register_sentiment_udf(con)
    return con
