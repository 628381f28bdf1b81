"""Engagement models against the plain-Python reference (tests/helpers/engagement_reference.py).

One hand-made fixture, reporting time zone Europe/Paris, covers: a customer active on one
day only, a week straddling January and February, the March 2024 daylight-saving change with
+00:00 timestamps near midnight, a dormant customer resurrecting, duplicate events, naive
local timestamps either side of midnight, and sessions cut at 30 minutes of inactivity.
"""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_reference import Activity, build_in_memory, build_tables, rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TZ = "Europe/Paris"
AS_OF = dt.date(2024, 4, 3)
DATA_START = dt.date(2024, 1, 1)
CUSTOMERS = ("c1", "c2", "c3", "c4", "c5", "c6")

EVENTS = [
    # c1: two sessions on Jan 3 (20 then 40 minutes apart), one event in February, and the
    # daylight-saving weekend: 23:30 UTC on Mar 30 is 00:30 on Sunday Mar 31 in Paris (UTC+1),
    # 22:30 UTC on Mar 31 is 00:30 on Monday Apr 1 (UTC+2) — another week and month
    ("c1", "u1", "2024-01-03T09:00:00+00:00", "login"),
    ("c1", "u1", "2024-01-03T09:20:00+00:00", "create_report"),
    ("c1", "u1", "2024-01-03T10:00:00+00:00", "export_csv"),
    ("c1", "u2", "2024-02-05T08:00:00+00:00", "login"),
    ("c1", "u1", "2024-03-30T23:30:00+00:00", "login"),
    ("c1", "u1", "2024-03-31T22:30:00+00:00", "login"),
    # c2: active on one day only
    ("c2", "u1", "2024-02-14T12:00:00+00:00", "login"),
    ("c2", "u1", "2024-02-14T12:05:00+00:00", "share_dashboard"),
    # c3: January, dormant in February, resurrecting in March
    ("c3", "u1", "2024-01-10T10:00:00+00:00", "login"),
    ("c3", "u1", "2024-03-12T10:00:00+00:00", "login"),
    # c4: a duplicated event (one active customer-day)
    ("c4", "u1", "2024-01-15T10:00:00+00:00", "login"),
    ("c4", "u1", "2024-01-15T10:00:00+00:00", "login"),
    ("c4", "u1", "2024-02-20T10:00:00+00:00", "login"),
    # c5: naive local timestamps either side of midnight: two calendar days, one session
    ("c5", "u1", "2024-01-31 23:59:00", "login"),
    ("c5", "u1", "2024-02-01 00:01:00", "create_report"),
    # c6: only on Friday Feb 2, in the week of Mon Jan 29 that straddles the two months
    ("c6", "u1", "2024-02-02T10:00:00+00:00", "login"),
]


def csv(header: str, records) -> str:
    return "\n".join([header, *(",".join("" if v is None else str(v) for v in r)
                                for r in records)])


def tables(events=EVENTS, customers=CUSTOMERS) -> dict[str, str]:
    return {
        "customers": csv("customer_id,signup_date", [(c, "2024-01-01") for c in customers]),
        "subscriptions": csv("subscription_id,customer_id,start_date,end_date,mrr",
                             [(f"s-{c}", c, "2024-01-01", "", 10) for c in customers]),
        "events": csv("customer_id,user_id,event_time,event_name", events),
        "support_tickets": csv("customer_id,created_at,resolved_at",
                               [(customers[0], "2024-02-06T10:00:00+00:00", "")]),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    result, con = build_tables(tmp_path_factory.mktemp("engagement"), tables(),
                               timezone=TZ, as_of=AS_OF)
    yield result, con
    con.close()


@pytest.fixture(scope="module")
def con(built):
    return built[1]


@pytest.fixture(scope="module")
def ref():
    return Activity(EVENTS, TZ, AS_OF)


def test_local_days_duplicates_and_dst(con):
    got = {(r["customer_id"], r["activity_date"]): r for r in rows(
        con, "select * from customer_daily_activity")}
    # duplicates: one customer-day, both rows counted as events
    assert got[("c4", dt.date(2024, 1, 15))]["events"] == 2
    # daylight saving: local days, not UTC days
    c1_days = sorted(d for (c, d) in got if c == "c1")
    assert dt.date(2024, 3, 31) in c1_days and dt.date(2024, 4, 1) in c1_days
    assert dt.date(2024, 3, 30) not in c1_days
    # naive timestamps are local: 23:59 and 00:01 are two calendar days
    assert ("c5", dt.date(2024, 1, 31)) in got and ("c5", dt.date(2024, 2, 1)) in got
    assert got[("c1", dt.date(2024, 1, 3))]["event_names"] == 3
    assert got[("c1", dt.date(2024, 1, 3))]["duration_seconds"] is None


def test_active_customers_match_reference(con, ref):
    expected = ref.monthly(DATA_START)
    got = {r["date_month"]: r for r in rows(con, "select * from active_customers")}
    assert sorted(got) == sorted(expected)
    for month, want in expected.items():
        row = got[month]
        for key, value in want.items():
            assert row[key] == pytest.approx(value), (month, key)


def test_active_customers_by_hand(con):
    got = {r["date_month"]: r for r in rows(con, "select * from active_customers")}
    jan, feb, apr = (got[dt.date(2024, m, 1)] for m in (1, 2, 4))
    # January: c1, c3, c4, c5 on one day each
    assert jan["active_customers"] == 4
    assert jan["avg_daily_active_customers"] == pytest.approx(4 / 31)
    # c6 (Feb 2 only) counts in January's weekly average through Jan 29–31
    assert jan["avg_weekly_active_customers"] > 0
    weeks = {r["date_week"]: r for r in rows(con, "select * from active_customers_weekly")}
    assert weeks[dt.date(2024, 1, 29)]["active_customers"] == 2  # c5 (Jan 31, Feb 1), c6
    # February: c1, c2, c4, c5, c6
    assert feb["active_customers"] == 5 and feb["days"] == 29
    # April stops at as_of: 3 days, c1 on one of them
    assert apr["days"] == 3 and apr["active_customers"] == 1
    assert apr["stickiness"] == pytest.approx(1 / 3)
    daily = {r["date_day"]: r["active_customers"] for r in rows(
        con, "select * from active_customers_daily")}
    assert dt.date(2024, 1, 2) not in daily  # from the first day with activity
    assert daily[dt.date(2024, 1, 4)] == 0 and daily[dt.date(2024, 2, 14)] == 1
    assert len(daily) == (AS_OF - dt.date(2024, 1, 3)).days + 1


def test_usage_frequency_matches_reference(con, ref):
    got = {(r["date_month"], r["active_days"]): r["customers"]
           for r in rows(con, "select * from usage_frequency")}
    assert got == ref.usage_frequency()


def test_lifecycle_matches_reference(con, ref):
    got = {r["date_month"]: r for r in rows(con, "select * from lifecycle")}
    expected = ref.lifecycle()
    assert sorted(got) == sorted(expected)
    for month, want in expected.items():
        row = got[month]
        assert (row["new_customers"], row["returning_customers"], row["resurrecting_customers"],
                row["dormant_customers"], row["active_customers"]) == (
            want["new"], want["returning"], want["resurrecting"], want["dormant"], want["active"])
    assert got[dt.date(2024, 3, 1)]["resurrecting_customers"] == 1  # c3


def test_event_retention_matches_reference(con, ref):
    got = {(r["cohort_week"], r["week_number"]): r for r in rows(
        con, "select * from event_retention")}
    expected = ref.event_retention()
    for key, (size, on, after) in expected.items():
        row = got[key]
        assert (row["cohort_size"], row["retained_customers"],
                row["retained_customers_on_or_after"]) == (size, on, after), key
        assert row["retention_rate"] == pytest.approx(100 * on / size)
    # cells after as_of's week exist and are NULL, never 0
    future = [r for k, r in got.items() if k not in expected]
    assert future and all(r["retained_customers"] is None and r["retention_rate"] is None
                          for r in future)
    bench = {r["week_number"]: r["benchmark_rate"] for r in got.values()}
    assert bench[8] == 35 and all(v is None for k, v in bench.items() if k != 8)


def test_sessions_match_reference(con, ref):
    got = {(r["customer_id"], r["period_index"]): (r["sessions"], r["session_seconds"])
           for r in rows(con, "select * from customer_sessions")}
    expected = {(c, m.year * 12 + m.month - 1): v for (c, m), v in ref.sessions().items()}
    assert got == {k: (n, pytest.approx(s)) for k, (n, s) in expected.items()}
    assert got[("c1", 2024 * 12)] == (2, 1200.0)  # 20 minutes, then a gap of 40
    assert got[("c5", 2024 * 12)] == (1, 120.0)  # across midnight: one session


def test_feature_adoption_matches_reference(con, ref):
    got = {(r["date_month"], r["event_name"]): (r["feature_customers"], r["active_customers"])
           for r in rows(con, "select * from feature_adoption")}
    expected = ref.feature_adoption()
    for key, value in expected.items():
        assert got[key] == value
    # every other (month, feature) cell is an explicit zero
    assert all(v[0] == 0 for k, v in got.items() if k not in expected)


def test_time_of_use_matches_reference(con, ref):
    got = {(r["date_month"], r["day_of_week"], r["hour_of_day"]): r["events"]
           for r in rows(con, "select * from time_of_use")}
    assert got == ref.time_of_use()
    assert got[(dt.date(2024, 3, 1), 7, 0)] == 1  # Sunday 00:30 local, before the change
    assert got[(dt.date(2024, 4, 1), 1, 0)] == 1  # Monday 00:30 local, after it


def test_engagement_score_components(con):
    scores = rows(con, "select * from customer_engagement")
    assert scores and all(0 <= r["engagement_score"] <= 100 for r in scores)
    by_key = {(r["customer_id"], r["date_month"]): r for r in scores}
    # one ticket halves the support component; without tickets it is 100
    feb_c1 = by_key[("c1", dt.date(2024, 2, 1))]
    assert feb_c1["support_tickets"] == 1 and feb_c1["support_score"] == 50
    assert all(r["support_score"] == 100 for k, r in by_key.items() if r is not feb_c1)
    # frequency: c2 active on 1 of February's 29 days; breadth: 2 of the 3 features used that month
    feb_c2 = by_key[("c2", dt.date(2024, 2, 1))]
    assert feb_c2["frequency_score"] == pytest.approx(100 / 29)
    assert feb_c2["breadth_score"] == pytest.approx(100 * 2 / 3)
    weights = (0.4, 0.3, 0.2, 0.1)
    parts = (feb_c2["frequency_score"], feb_c2["breadth_score"], feb_c2["time_score"],
             feb_c2["support_score"])
    assert feb_c2["engagement_score"] == pytest.approx(
        sum(w * p for w, p in zip(weights, parts, strict=True)) / sum(weights))
    # paying customers without activity are scored (low), not dropped: c6 in March
    assert by_key[("c6", dt.date(2024, 3, 1))]["active_days"] == 0
    dist = rows(con, "select period_index, sum(customers) as n from engagement_distribution "
                     "group by period_index")
    per_period = rows(con, "select period_index, count(*) as n from customer_engagement "
                           "group by period_index")
    assert sorted((r["period_index"], r["n"]) for r in dist) == sorted(
        (r["period_index"], r["n"]) for r in per_period)


def test_event_warnings_unknown_customer_and_before_signup(tmp_path):
    events = [*EVENTS, ("ghost", "u1", "2024-02-01T10:00:00+00:00", "login")]
    t = tables(events)
    t["customers"] = csv("customer_id,signup_date",
                         [(c, "2024-01-01" if c != "c3" else "2024-02-01") for c in CUSTOMERS])
    result, con = build_tables(tmp_path, t, timezone=TZ, as_of=AS_OF)
    try:
        messages = [str(w) for w in result.staging.warnings]
        assert any("unknown to the customers" in m and "events" in m for m in messages)
        assert any("before the customer's signup_date" in m for m in messages)
        # kept: the unknown customer is active under its own id
        assert con.execute("select count(*) from customer_daily_activity "
                           "where customer_id = 'ghost'").fetchall()[0][0] == 1
    finally:
        con.close()


# -- properties ------------------------------------------------------------------------------

event_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(0, 89),  # day offset from Jan 1 2024
        st.integers(0, 23),
        st.sampled_from(["login", "export_csv"]),
    ),
    min_size=1,
    max_size=25,
)


PROPERTY_MODELS = ["customer_daily_activity", "customer_daily_features", "active_customers",
                   "active_customers_daily", "lifecycle"]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=event_strategy)
def test_activity_properties(tmp_path_factory, raw):
    events = [(c, "u1", f"{dt.date(2024, 1, 1) + dt.timedelta(days=d)}T{h:02d}:15:00+00:00", n)
              for c, d, h, n in raw]
    as_of = dt.date(2024, 3, 31)
    con = build_in_memory(tmp_path_factory.mktemp("prop"), tables(events, "abcd"),
                          PROPERTY_MODELS, timezone=TZ, as_of=as_of)
    try:
        months = {r["date_month"]: r for r in rows(con, "select * from active_customers")}
        life = {r["date_month"]: r for r in rows(con, "select * from lifecycle")}
        daily = rows(con, "select * from active_customers_daily")
    finally:
        con.close()
    for m in months.values():
        assert m["avg_daily_active_customers"] <= m["active_customers"]
        assert m["avg_weekly_active_customers"] >= m["avg_daily_active_customers"] - 1e-9
        if m["stickiness"] is not None:
            assert 0 <= m["stickiness"] <= 1
    for d in daily:
        month = d["date_day"].replace(day=1)
        assert d["active_customers"] <= months[month]["active_customers"]
    for month, row in life.items():
        assert row["active_customers"] == (row["new_customers"] + row["returning_customers"]
                                           + row["resurrecting_customers"])
        assert row["previous_active_customers"] == (row["returning_customers"]
                                                    + row["dormant_customers"])
        if month in months:
            assert row["active_customers"] == months[month]["active_customers"]
    expected = Activity(events, TZ, as_of).monthly(DATA_START)
    for month, want in expected.items():
        assert months[month]["active_customers"] == want["active_customers"]
        assert months[month]["avg_daily_active_customers"] == pytest.approx(
            want["avg_daily_active_customers"])
