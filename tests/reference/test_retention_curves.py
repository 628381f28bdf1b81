"""Model retention_curves against the retention tables other tools publish.

- PostHog: the cells of its own retention test cases (posthog/hogql_queries/insights/retention/
  test/test_retention_query_runner.py: test_day_interval, test_month_interval,
  test_rolling_retention), which are recurring cohorts with the same start and return event;
  the rolling one is PostHog's "cumulative" (on or after) option.
- Mixpanel: the documented response of its retention query API (docs.mixpanel.com/reference/
  retention-query: born_event "event integration", event "viewed report", daily, first time),
  rebuilt as events: the cohort sizes and per-interval counts it lists are the expected cells.
- Without the setting, the one default curve equals model event_retention cell for cell.

The expected numbers are typed from those pages, never computed by our SQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
import test_engagement as engagement
from engagement_reference import build_in_memory, rows

AS_OF = dt.date(2020, 11, 25)


def posthog_date(day: int, hour: int = 5, month: int = 0) -> str:
    # PostHog's test helper: datetime(2020, 6 + month, 10 + day, hour)
    return dt.datetime(2020, 6 + month, 10 + day, hour).isoformat()


# test_day_interval: person1 (distinct ids person1 and alias1) and person2, $pageview
POSTHOG_DAY = [("person1", d) for d in (0, 1, 2, 5)] + [("person1", 5, 9), ("person1", 6)] + [
    ("person2", d) for d in (1, 2, 3, 6)]
POSTHOG_DAY_CELLS = [
    [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0],
    [2, 2, 1, 0, 1, 2, 0, 0, 0, 0],
    [2, 1, 0, 1, 2, 0, 0, 0, 0],
    [1, 0, 0, 1, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 0],
    [2, 0, 0, 0, 0],
]
# test_month_interval (events on day 0 of the months -5 … 5 around June 2020)
POSTHOG_MONTH = ([("m1", m) for m in (-5, -4, -3, -1, 0, 3)]
                 + [("m2", m) for m in (-5, -4, -3, 0, 1, 5)])
POSTHOG_MONTH_CELLS = [
    [2, 2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
    [2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
    [2, 0, 1, 2, 1, 0, 1, 0, 1],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 0, 0, 1, 0, 0],
    [2, 1, 0, 1, 0, 1],
    [1, 0, 0, 0, 1],
    [0, 0, 0, 0],
    [1, 0, 0],
    [0, 0],
    [1],
]
# test_rolling_retention (cumulative): its first row is day 1 (_date(0) is outside its range)
POSTHOG_ROLLING = [("r1", 0), ("r1", 3), ("r1", 4), ("r2", 0), ("r2", 1), ("r3", 1), ("r3", 2),
                   ("r3", 3), ("r4", 3), ("r4", 4), ("r5", 4)]
POSTHOG_ROLLING_CELLS = [[2, 1, 1, 0, 0], [1, 1, 0, 0], [3, 2, 0], [3, 0]]
# Mixpanel's documented response: cohort date -> (first, counts per daily interval)
MIXPANEL = {
    dt.date(2012, 1, 1): (2, [2, 1, 2]),
    dt.date(2012, 1, 2): (10, [9, 7, 6]),
    dt.date(2012, 1, 3): (10, [9, 6, 4]),
}

CURVES = [
    {"name": "posthog_day", "start_event": "$pageview", "return_event": "$pageview",
     "kind": "recurring", "grain": "day", "periods": 10},
    {"name": "posthog_month", "start_event": "monthly", "return_event": "monthly",
     "kind": "recurring", "grain": "month", "periods": 10},
    {"name": "posthog_rolling", "start_event": "rolling", "return_event": "rolling",
     "kind": "recurring", "cumulative": True, "grain": "day", "periods": 4},
    {"name": "mixpanel", "start_event": "event integration", "return_event": "viewed report",
     "kind": "first_time", "grain": "day", "periods": 2},
]


def events() -> list[tuple[str, str, str]]:
    out = []
    for person, day, *hour in POSTHOG_DAY:
        out.append((person, posthog_date(day, *hour), "$pageview"))
    # another event on a day without a pageview: a curve on $pageview must not see it
    out.append(("person2", posthog_date(4), "other"))
    for person, month in POSTHOG_MONTH:
        out.append((person, posthog_date(0, month=month), "monthly"))
    for person, day in POSTHOG_ROLLING:
        out.append((person, posthog_date(day), "rolling"))
    for day, (first, counts) in MIXPANEL.items():
        for i in range(first):
            user = f"mp-{day.day}-{i}"
            out.append((user, f"{day}T09:00:00", "event integration"))
            for k, retained in enumerate(counts):
                if i < retained:
                    out.append((user, f"{day + dt.timedelta(days=k)}T10:00:00",
                                "viewed report"))
    return out


def tables() -> dict[str, str]:
    evs = events()
    customers = sorted({e[0] for e in evs})
    return {
        "subscriptions": engagement.csv(
            "subscription_id,customer_id,start_date,end_date,mrr",
            [(f"s-{c}", c, "2012-01-01", "", 10) for c in customers]),
        "events": engagement.csv("customer_id,event_time,event_name", evs),
    }


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    con = build_in_memory(tmp_path_factory.mktemp("curves"), tables(), ["retention_curves"],
                          as_of=str(AS_OF), retention_curves=CURVES)
    try:
        got = rows(con, "select * from retention_curves")
    finally:
        con.close()
    return {(r["curve"], r["cohort_start"], r["period_number"]): r for r in got}


def check(cells, curve: str, first: dt.date, step, table) -> None:
    for i, expected in enumerate(table):
        start = step(first, i)
        for k, value in enumerate(expected):
            row = cells.get((curve, start, k))
            if row is None:
                # PostHog lists empty cohorts; we have no row for a period nobody started in
                assert value == 0 and all(v == 0 for v in expected), (curve, start, k)
                continue
            assert row["retained_customers"] == value, (curve, start, k)
            assert row["retention_pct"] == pytest.approx(100 * value / row["cohort_customers"])


def days(first: dt.date, i: int) -> dt.date:
    return first + dt.timedelta(days=i)


def months(first: dt.date, i: int) -> dt.date:
    return dt.date(first.year, first.month + i, 1)


def test_posthog_daily_recurring(cells):
    check(cells, "posthog_day", dt.date(2020, 6, 10), days, POSTHOG_DAY_CELLS)
    # the other event on June 14 is neither a start nor a return of this curve
    assert cells[("posthog_day", dt.date(2020, 6, 11), 3)]["retained_customers"] == 0


def test_posthog_monthly_recurring_and_future_cells(cells):
    check(cells, "posthog_month", dt.date(2020, 1, 1), months, POSTHOG_MONTH_CELLS)
    # as_of is in November: PostHog's triangle — later cells exist and are NULL
    later = cells[("posthog_month", dt.date(2020, 11, 1), 1)]
    assert later["cohort_customers"] == 1 and later["retained_customers"] is None
    assert later["retention_pct"] is None


def test_posthog_cumulative_on_or_after(cells):
    check(cells, "posthog_rolling", dt.date(2020, 6, 11), days, POSTHOG_ROLLING_CELLS)


def test_mixpanel_first_time_with_another_return_event(cells):
    for day, (first, counts) in MIXPANEL.items():
        for k, retained in enumerate(counts):
            row = cells[("mixpanel", day, k)]
            assert (row["cohort_customers"], row["retained_customers"]) == (first, retained)
    # periods: 2 — no cell past the configured horizon
    assert ("mixpanel", dt.date(2012, 1, 1), 3) not in cells


def test_default_curve_is_event_retention(tmp_path):
    con = build_in_memory(tmp_path, engagement.tables(), ["retention_curves", "event_retention"],
                          timezone=engagement.TZ, as_of=str(engagement.AS_OF))
    try:
        curves = rows(con, "select * from retention_curves order by cohort_index, period_number")
        weekly = rows(con, "select * from event_retention "
                           "order by cohort_week_index, week_number")
    finally:
        con.close()
    assert {r["curve"] for r in curves} == {"weekly_usage"} and len(curves) == len(weekly)
    for c, w in zip(curves, weekly, strict=True):
        assert (c["cohort_start"], c["cohort_index"], c["period_number"], c["cohort_customers"],
                c["retained_customers"], c["retention_pct"]) == (
            w["cohort_week"], w["cohort_week_index"], w["week_number"], w["cohort_size"],
            w["retained_customers"], w["retention_rate"])


def test_config_rejects_duplicate_names_and_yaml_booleans():
    from saas_retention.core.config import parse_settings
    from saas_retention.core.errors import ConfigError

    with pytest.raises(ConfigError, match="given twice: a"):
        parse_settings({"retention_curves": [{"name": "a"}, {"name": "a"}]})
    # `start_event: on` unquoted is YAML 1.1's true: refused, not read as the event "True"
    with pytest.raises(ConfigError, match="start_event"):
        parse_settings({"retention_curves": [{"name": "a", "start_event": True}]})
