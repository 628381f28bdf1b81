"""Periods as integers (METRICS.md §2).

Every "previous period" computation in the models is done on an integer period index computed
once in staging, because calendar arithmetic (Jan 31 + 1 month, week truncation) differs between
engines. This module is the Python side of that index — it builds the ``calendar`` relation —
and the SQL side, as sqlglot expressions.
"""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

EPOCH = dt.date(1970, 1, 1)  # a Thursday
WEEKDAY_NUMBER = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
# 1970-01-01 is a Thursday: with Monday = 0 its weekday is 3.
_EPOCH_WEEKDAY = 3


def period_index(day: dt.date, grain: str, week_start: str = "monday") -> int:
    """The integer index of the period containing ``day``; consecutive periods differ by 1."""
    if grain == "month":
        return day.year * 12 + day.month - 1
    if grain == "quarter":
        return day.year * 4 + (day.month - 1) // 3
    if grain == "year":
        return day.year
    days = (day - EPOCH).days
    if grain == "day":
        return days
    if grain == "week":
        return (days + _EPOCH_WEEKDAY - WEEKDAY_NUMBER[week_start]) // 7
    raise ValueError(f"unknown grain {grain!r}")


def period_start(index: int, grain: str, week_start: str = "monday") -> dt.date:
    """First day of the period with this index."""
    if grain == "month":
        return dt.date(index // 12, index % 12 + 1, 1)
    if grain == "quarter":
        return dt.date(index // 4, (index % 4) * 3 + 1, 1)
    if grain == "year":
        return dt.date(index, 1, 1)
    if grain == "day":
        return EPOCH + dt.timedelta(days=index)
    if grain == "week":
        offset = index * 7 - _EPOCH_WEEKDAY + WEEKDAY_NUMBER[week_start]
        return EPOCH + dt.timedelta(days=offset)
    raise ValueError(f"unknown grain {grain!r}")


def calendar_rows(
    first: int, last: int, grain: str, week_start: str = "monday", as_of: dt.date | None = None
) -> list[dict]:
    """Rows of the ``calendar`` relation for indexes ``first``..``last`` inclusive.

    ``snapshot_date`` is the day whose state the period reports: its last day, or ``as_of``
    for the period still running. The rolling-window starts (30 and 365 days before it) serve
    the reconciliation presets and are computed here, once, because date arithmetic is not
    portable SQL.
    """
    rows = []
    for i in range(first, last + 1):
        start = period_start(i, grain, week_start)
        end = period_start(i + 1, grain, week_start)
        last_day = end - dt.timedelta(days=1)
        snapshot = min(last_day, as_of) if as_of else last_day
        rows.append(
            {
                "period_index": i,
                "period_start": start,
                "period_end": end,
                "last_day": last_day,
                "snapshot_date": snapshot,
                "rolling_30_start": snapshot - dt.timedelta(days=30),
                "rolling_365_start": snapshot - dt.timedelta(days=365),
            }
        )
    return rows


# --- SQL side ---------------------------------------------------------------------------------


def _int(n: int) -> exp.Expression:
    return exp.Literal.number(n)


def _functions(dialect: str):
    from .dialects import date_functions

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
        shift = _EPOCH_WEEKDAY - WEEKDAY_NUMBER[week_start]
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
        offset = WEEKDAY_NUMBER[week_start] - _EPOCH_WEEKDAY
        days = exp.Add(this=exp.Mul(this=i, expression=_int(7)), expression=_int(offset))
        return f.from_day_number(exp.paren(days))
    raise ValueError(f"unknown grain {grain!r}")


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
