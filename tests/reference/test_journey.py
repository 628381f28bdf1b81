"""The customer journey (signup → activation → regular use → paying → renewed) against the
plain-Python reference and hand-counted funnels."""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_reference import build_tables, funnel, journey, rows

AS_OF = dt.date(2024, 6, 30)
WINDOW = 30
D = dt.date

SIGNUPS = {
    "j1": D(2024, 1, 1),  # every step: monthly plan renewed by continuing
    "j2": D(2024, 1, 1),  # activated, one week of use, pays, cancels before its first term end
    "j3": D(2024, 2, 1),  # regular use but never the activation event
    "j4": D(2024, 2, 1),  # activated and regular, but pays after the window
    "j5": D(2024, 6, 20),  # window still open at as_of: not in the funnel
    "j6": D(2024, 3, 1),  # the activation event only before signup: ignored
    "j7": D(2024, 1, 1),  # first subscription ends at its term, a new one within the grace days
}
EVENTS = [
    ("j1", D(2024, 1, 1), "login"), ("j1", D(2024, 1, 3), "create_report"),
    ("j1", D(2024, 1, 9), "login"), ("j1", D(2024, 1, 20), "login"),
    ("j2", D(2024, 1, 5), "create_report"),
    ("j3", D(2024, 2, 1), "login"), ("j3", D(2024, 2, 8), "login"), ("j3", D(2024, 2, 15), "login"),
    ("j4", D(2024, 2, 2), "create_report"), ("j4", D(2024, 2, 9), "login"),
    ("j4", D(2024, 2, 16), "login"), ("j4", D(2024, 2, 23), "login"),
    ("j5", D(2024, 6, 21), "create_report"),
    ("j6", D(2024, 2, 25), "create_report"),
    ("j7", D(2024, 1, 2), "create_report"), ("j7", D(2024, 1, 8), "login"),
    ("j7", D(2024, 1, 15), "login"), ("j7", D(2024, 1, 22), "login"),
]
PAID = [
    ("j1", D(2024, 1, 15), None),
    ("j2", D(2024, 1, 20), D(2024, 2, 10)),
    ("j4", D(2024, 4, 1), None),
    ("j7", D(2024, 1, 10), D(2024, 2, 10)),
    ("j7", D(2024, 2, 12), None),
]


def source() -> dict[str, str]:
    customers = ["customer_id,signup_date", *(f"{c},{d}" for c, d in SIGNUPS.items())]
    subs = ["subscription_id,customer_id,start_date,end_date,mrr,billing_interval"]
    subs += [f"s{i},{c},{s},{e or ''},10,month" for i, (c, s, e) in enumerate(PAID)]
    # a trial for j3: not paying
    subs.append("t3,j3,2024-02-01,2024-02-15,0,month")
    events = ["customer_id,user_id,event_time,event_name"]
    events += [f"{c},u,{d} 10:00:00,{n}" for c, d, n in EVENTS]
    return {"customers": "\n".join(customers), "subscriptions": "\n".join(subs),
            "events": "\n".join(events)}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    _, c = build_tables(tmp_path_factory.mktemp("journey"), source(), as_of=AS_OF,
                        activation_event="create_report", journey_window_days=WINDOW)
    yield c
    c.close()


def reference():
    return journey(SIGNUPS, EVENTS, PAID, activation_event="create_report", window_days=WINDOW,
                   as_of=AS_OF)


def test_customer_steps_match_reference(con):
    got = {r["customer_id"]: r for r in rows(con, "select * from customer_journey")}
    for customer, want in reference().items():
        row = got[customer]
        assert bool(row["is_window_closed"]) == want["eligible"], customer
        flags = [True, row["is_activated"], row["is_regular_user"], row["is_paying"],
                 row["is_renewed"]]
        assert [bool(f) for f in flags] == want["steps"], customer


def test_funnel_matches_reference_and_hand_counts(con):
    got = rows(con, "select * from journey_funnel order by step_number")
    expected = funnel(reference())
    assert [(r["customers"], r["customers_any_order"]) for r in got] == expected
    # by hand: 6 eligible; activated j1 j2 j4 j7; regular j1 j4 j7; paying j1 j7; renewed j1 j7
    assert [r["customers"] for r in got] == [6, 4, 3, 2, 2]
    assert [r["step"] for r in got] == ["signup", "activation", "regular_use", "paying",
                                        "renewed"]
    assert [r["conversion_from_previous"] for r in got] == pytest.approx(
        [100, 100 * 4 / 6, 75, 100 * 2 / 3, 100])
    assert got[-1]["conversion_overall"] == pytest.approx(100 * 2 / 6)


def test_funnel_by_signup_cohort(con):
    got = {(r["signup_month"], r["step_number"]): r for r in rows(
        con, "select * from journey_funnel_cohorts")}
    jan = [got[(D(2024, 1, 1), k)]["customers"] for k in range(1, 6)]
    assert jan == [3, 3, 2, 2, 2]  # j1 j2 j7; j2 is not a regular user
    feb = [got[(D(2024, 2, 1), k)]["customers"] for k in range(1, 6)]
    assert feb == [2, 1, 1, 0, 0]  # j3 not activated; j4 pays too late
    assert (D(2024, 6, 1), 1) not in got  # j5's window is still open
    total = rows(con, "select customers from journey_funnel where step_number = 1")[0]
    assert sum(r["customers"] for k, r in got.items() if k[1] == 1) == total["customers"]


def test_cohort_funnels_add_up_to_the_funnel(con):
    """The Journey dashboard sums the cohorts of the chosen signup months: over all of them,
    the sums and the ratios of sums are the whole funnel's."""
    funnel_rows = rows(con, "select * from journey_funnel order by step_number")
    cohorts = rows(con, "select * from journey_funnel_cohorts")
    for whole in funnel_rows:
        mine = [r for r in cohorts if r["step_number"] == whole["step_number"]]
        customers = sum(r["customers"] for r in mine)
        previous = sum(r["previous_step_customers"] for r in mine)
        signed_up = sum(r["signed_up_customers"] for r in mine)
        assert customers == whole["customers"]
        assert 100 * customers / previous == pytest.approx(whole["conversion_from_previous"])
        assert 100 * customers / signed_up == pytest.approx(whole["conversion_overall"])
    for r in cohorts:  # each cohort's own ratios, from its own counts (NULL over nobody)
        if r["previous_step_customers"]:
            assert r["conversion_from_previous"] == pytest.approx(
                100 * r["customers"] / r["previous_step_customers"])
        else:
            assert r["conversion_from_previous"] is None


def test_any_event_activates_when_no_event_is_configured(tmp_path):
    _, c = build_tables(tmp_path, source(), as_of=AS_OF, journey_window_days=WINDOW)
    try:
        got = {r["customer_id"]: r["is_activated"] for r in rows(
            c, "select * from customer_journey")}
    finally:
        c.close()
    assert got["j3"] == 1  # any event now activates
    assert got["j6"] == 0  # activity before signup still does not
