"""Periods as integers (docs/definitions.md#time-rules).

Every "previous period" computation in the models is done on an integer period index computed
once in staging, because calendar arithmetic (Jan 31 + 1 month, week truncation) differs between
engines. This module is the Python side of that index; ``saas_retention.dialects.periods`` is
the SQL side, the same integers for every engine.
"""

from __future__ import annotations

import datetime as dt

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
EPOCH_WEEKDAY = 3

# The dates a period can have (docs/definitions.md#limits): every date and timestamp of the
# source must lie in this range, as_of too. The earliest keeps the day calendar (at most
# 100,000 days from the earliest dated row to as_of: relations.target.NUMBERS_DIGITS) whole
# for any as_of up to LATEST_AS_OF, and refuses the usual typos and placeholders (0000-01-01,
# 0024-05-01, a spreadsheet's empty date 1899-12-30); the latest is the last date Python and
# most engines hold, so 9999-12-31 stays usable as "never ends".
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(9999, 12, 31)
# the day calendar starts up to 6 days before EARLIEST_DATE (widened to a whole week)
LATEST_AS_OF = EARLIEST_DATE + dt.timedelta(days=100_000 - 7)


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
        return (days + EPOCH_WEEKDAY - WEEKDAY_NUMBER[week_start]) // 7
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
        offset = index * 7 - EPOCH_WEEKDAY + WEEKDAY_NUMBER[week_start]
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
