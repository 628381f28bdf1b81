"""Periods as integers, the SQL side: the same integers as ``saas_retention.core.periods``,
built as sqlglot expressions from each engine's date primitives (``date_functions``)."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.core.periods import EPOCH_WEEKDAY, WEEKDAY_NUMBER
from saas_retention.dialects import date_functions


def _int(n: int) -> exp.Expression:
    return exp.Literal.number(n)


def _functions(dialect: str):
    return date_functions(dialect)


def day_number_sql(date_expr: exp.Expression, dialect: str = "duckdb") -> exp.Expression:
    """Days since 1970-01-01 of a DATE expression."""
    return _functions(dialect).day_number(date_expr.copy())


def period_index_sql(date_expr: exp.Expression, grain: str, week_start: str = "monday",
                     dialect: str = "duckdb") -> exp.Expression:
    """SQL expression giving the same integer as :func:`period_index` for a DATE expression."""
    f = _functions(dialect)
    year = f.year(date_expr.copy())
    month = f.month(date_expr.copy())
    if grain == "month":
        return exp.Sub(this=exp.Add(this=exp.Mul(this=year, expression=_int(12)), expression=month),
                       expression=_int(1))
    if grain == "quarter":
        quarter0 = f.int_div(exp.paren(exp.Sub(this=month, expression=_int(1))), _int(3))
        return exp.Add(this=exp.Mul(this=year, expression=_int(4)), expression=quarter0)
    if grain == "year":
        return year
    days = day_number_sql(date_expr, dialect)
    if grain == "day":
        return days
    if grain == "week":
        shift = EPOCH_WEEKDAY - WEEKDAY_NUMBER[week_start]
        # floor division: days before 1970 are negative
        shifted = exp.Add(this=days, expression=_int(shift))
        return exp.cast(
            exp.Floor(this=exp.Div(this=exp.cast(shifted, exp.DataType.Type.DOUBLE),
                                   expression=_int(7))),
            exp.DataType.Type.BIGINT,
        )
    raise ValueError(f"unknown grain {grain!r}")


def period_start_sql(index_expr: exp.Expression, grain: str, week_start: str = "monday",
                     dialect: str = "duckdb") -> exp.Expression:
    """SQL expression for the first day of the period with this (non-negative-year) index."""
    f = _functions(dialect)
    i = exp.paren(index_expr.copy())
    one = _int(1)
    if grain == "month":
        year = f.int_div(i, _int(12))
        month = exp.Add(this=exp.Mod(this=i.copy(), expression=_int(12)), expression=one)
        return f.from_parts(year, exp.paren(month), one.copy())
    if grain == "quarter":
        year = f.int_div(i, _int(4))
        month = exp.Add(this=exp.Mul(this=exp.paren(exp.Mod(this=i.copy(), expression=_int(4))),
                                     expression=_int(3)), expression=one)
        return f.from_parts(year, exp.paren(month), one.copy())
    if grain == "year":
        return f.from_parts(i, one, one.copy())
    if grain == "day":
        return f.from_day_number(i)
    if grain == "week":
        offset = WEEKDAY_NUMBER[week_start] - EPOCH_WEEKDAY
        days = exp.Add(this=exp.Mul(this=i, expression=_int(7)), expression=_int(offset))
        return f.from_day_number(exp.paren(days))
    raise ValueError(f"unknown grain {grain!r}")


# what snapshot_index_columns gives each subscription row (the dbt package's column docs)
SNAPSHOT_INDEX_DOCS = {
    "start_period_index": "index of the period holding start_date",
    "end_period_index": "index of the period holding end_date (NULL: still running)",
    "first_period_index": "first period the row counts in (NULL: it starts after as_of)",
    "last_period_index": "last period the row counts in: the one before end_date's, or "
                         "as_of's while running (NULL: it starts after as_of)",
}


def snapshot_index_columns(start: exp.Expression, end: exp.Expression, as_of: exp.Expression,
                           as_of_index: exp.Expression, grain: str, week_start: str = "monday",
                           dialect: str = "duckdb") -> list[exp.Expression]:
    """The staged period indexes of a subscription, one definition for every engine.

    Snapshot rule: it counts in period p when start <= last day of p < end, the current
    period's snapshot being taken at as_of — so it covers indexes first..last; a subscription
    starting after as_of covers none (NULL)."""
    start_idx = period_index_sql(start, grain, week_start, dialect)
    end_idx = period_index_sql(end, grain, week_start, dialect)
    future = exp.GT(this=start.copy(), expression=as_of.copy())
    last_idx = exp.Case(
        ifs=[exp.If(this=future.copy(), true=exp.null()),
             exp.If(this=exp.or_(end.copy().is_(exp.null()),
                                 exp.GT(this=end.copy(), expression=as_of.copy())),
                    true=as_of_index.copy())],
        default=exp.Sub(this=end_idx.copy(), expression=_int(1)),
    )
    first_idx = exp.Case(ifs=[exp.If(this=future, true=exp.null())], default=start_idx.copy())
    return [
        exp.alias_(start_idx, "start_period_index"),
        exp.alias_(end_idx, "end_period_index"),
        exp.alias_(first_idx, "first_period_index"),
        exp.alias_(last_idx, "last_period_index"),
    ]
