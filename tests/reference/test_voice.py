"""Voice of the customer and pain points: NPS, CSAT, feedback sentiment, referral rate, support
load, churn reasons and the churn feature lift, against hand-made fixtures and the reference."""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_reference import build_tables, csat, nps, rows
from hypothesis import given, settings
from hypothesis import strategies as st

from saas_retention.core.errors import SourceProblems
from saas_retention.udfs import call

AS_OF = dt.date(2024, 3, 31)

SUBSCRIPTIONS = """
subscription_id,customer_id,start_date,end_date,mrr,cancel_reason
s1,r1,2024-01-05,,10,
s2,r2,2024-01-10,,10,
s3,r3,2024-02-01,2024-03-15,10,price
s4,r4,2024-02-10,,10,
s5,r5,2024-01-01,2024-02-20,10,missing_feature
s6a,r6,2024-01-01,2024-03-10,10,price
s6b,r6,2024-01-01,2024-03-10,5,business_closed
s7,r7,2024-01-01,2024-03-05,10,
"""

REFERRALS = """
referrer_customer_id,referred_at,referred_customer_id
r1,2024-01-03 09:00:00,r2
r1,2024-02-11 10:00:00,prospect
r1,2024-02-12 10:00:00,
r2,2024-03-01 10:00:00,r4
"""

NPS_SCORES = {1: [10, 9, 8, 6, 0, 9], 2: [10]}
CSAT_SCORES = {1: [5, 4, 3, 1], 3: [2, 4]}


def survey_rows() -> str:
    lines = ["customer_id,responded_at,survey,score,comment,sentiment"]
    for month, scores in NPS_SCORES.items():
        for i, s in enumerate(scores):
            kind = "NPS" if i == 5 else "nps"  # the survey kind is matched in any case
            lines.append(f"r1,2024-{month:02d}-{i + 2:02d} 10:00:00,{kind},{s},,")
    for month, scores in CSAT_SCORES.items():
        for i, s in enumerate(scores):
            lines.append(f"r2,2024-{month:02d}-{i + 2:02d} 11:00:00,csat,{s},,")
    lines += [
        "r3,2024-01-20 10:00:00,nps,9,Great tool,positive",
        "r3,2024-01-21 10:00:00,csat,5,Awful exports,",
        "r3,2024-01-22 10:00:00,csat,4,meh,Neutral",
        "r3,2024-02-22 10:00:00,csat,4,Ce n'est pas bon,",
    ]
    return "\n".join(lines)


EVENTS = """
customer_id,user_id,event_time,event_name
r1,u1,2024-01-06 10:00:00,login
r2,u1,2024-01-11 10:00:00,login
r3,u1,2024-01-12 10:00:00,login
r1,u1,2024-02-06 10:00:00,login
"""

TICKETS = """
customer_id,created_at,resolved_at
r1,2024-01-07 10:00:00,2024-01-08 10:00:00
r1,2024-01-09 10:00:00,
r2,2024-01-12 10:00:00,2024-01-12 12:00:00
r4,2024-02-15 10:00:00,
"""


def tables(**overrides) -> dict[str, str]:
    base = {"subscriptions": SUBSCRIPTIONS, "referrals": REFERRALS,
            "survey_responses": survey_rows(), "events": EVENTS, "support_tickets": TICKETS}
    return base | overrides


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    _, c = build_tables(tmp_path_factory.mktemp("voice"), tables(), as_of=AS_OF)
    yield c
    c.close()


def by_month(con, model: str) -> dict[int, dict]:
    return {r["date_month"].month: r for r in rows(con, f"select * from {model}")}


def test_nps_matches_reference(con):
    got = by_month(con, "nps")
    jan_scores = [*NPS_SCORES[1], 9]  # r3's commented response
    for month, scores in {1: jan_scores, 2: NPS_SCORES[2], 3: []}.items():
        want = nps(scores)
        row = got[month]
        for key, value in want.items():
            assert row[key] == pytest.approx(value), (month, key)
    assert got[3]["nps"] is None and got[3]["responses"] == 0
    # all promoters: NPS 100 and an interval that stays on the scale
    assert (got[2]["nps"], got[2]["nps_ci_upper"]) == (100, 100)


def test_csat_matches_reference(con):
    got = by_month(con, "csat")
    expected = {1: [*CSAT_SCORES[1], 5, 4], 2: [4], 3: CSAT_SCORES[3]}
    for month, scores in expected.items():
        want = csat(scores)
        assert {k: got[month][k] for k in want} == pytest.approx(want)


def test_feedback_sentiment_column_then_classifier(con):
    got = by_month(con, "feedback_sentiment")
    jan = got[1]
    # "Great tool" labelled positive, "meh" labelled Neutral, "Awful exports" classified
    assert (jan["comments"], jan["positive"], jan["neutral"], jan["negative"]) == (3, 1, 1, 1)
    assert jan["classified_comments"] == 1
    assert jan["negative_share"] == pytest.approx(100 / 3)
    feb = got[2]  # French, classified: "pas bon" is negative
    assert (feb["comments"], feb["negative"], feb["classified_comments"]) == (1, 1, 1)
    assert got[3]["comments"] == 0 and got[3]["positive_share"] is None


def test_referral_rate(con):
    got = by_month(con, "referral_rate")
    # January: r1, r2, r5, r6, r7 new; r2 referred on Jan 3
    assert (got[1]["new_customers"], got[1]["referred_new_customers"]) == (5, 1)
    assert got[1]["referral_rate"] == pytest.approx(20.0)
    # February: r3, r4 new; r4's referral came later (March), so it does not count
    assert (got[2]["new_customers"], got[2]["referred_new_customers"]) == (2, 0)
    assert got[2]["referral_rate"] == 0
    assert got[3]["new_customers"] == 0 and got[3]["referral_rate"] is None
    assert (got[2]["referrals"], got[2]["referring_customers"]) == (2, 1)


def test_support_load(con):
    got = by_month(con, "support_load")
    assert (got[1]["tickets"], got[1]["customers_with_tickets"], got[1]["resolved_tickets"],
            got[1]["active_customers"]) == (3, 2, 2, 3)
    assert got[1]["tickets_per_active_customer"] == pytest.approx(1.0)
    assert got[2]["tickets_per_active_customer"] == pytest.approx(1.0)  # 1 ticket, r1 active
    assert got[3]["tickets_per_active_customer"] is None  # nobody active


def test_churn_reasons(con):
    got = {(r["date_month"].month, r["cancel_reason"]): r for r in rows(
        con, "select * from churn_reasons")}
    assert got[(2, "missing_feature")]["churned_customers"] == 1
    # March: r3 (price), r6 (price and business_closed: the last alphabetically), r7 (none)
    assert got[(3, "price")]["churned_customers"] == 2
    assert got[(3, "price")]["churned_mrr"] == pytest.approx(-25.0)
    assert got[(3, "(none)")]["churned_customers"] == 1
    assert got[(3, "price")]["share_of_churned"] == pytest.approx(200 / 3)
    assert (3, "business_closed") not in got


def test_churn_feature_lift(tmp_path):
    # two features; churners used only "login" in their window, retained customers both
    subs = ["subscription_id,customer_id,start_date,end_date,mrr"]
    events = ["customer_id,user_id,event_time,event_name"]
    for i in range(4):
        churner = i < 2
        subs.append(f"s{i},k{i},2024-01-01,{'2024-05-10' if churner else ''},10")
        events.append(f"k{i},u,2024-01-02 10:00:00,login")  # the data starts here
        events.append(f"k{i},u,2024-04-02 10:00:00,login")
        if not churner:
            events.append(f"k{i},u,2024-04-03 10:00:00,export")
    _, con = build_tables(tmp_path, {"subscriptions": "\n".join(subs),
                                     "events": "\n".join(events)}, as_of=dt.date(2024, 5, 31))
    try:
        got = {r["event_name"]: r for r in rows(con, "select * from churn_feature_lift")}
    finally:
        con.close()
    # windows ending Mar 31 (April, retained only), Apr 30 (May: 2 churned, 2 retained)
    export = got["export"]
    assert export["churned_customers"] == 2 and export["churned_users"] == 0
    assert export["retained_users"] == 2
    assert export["usage_lift"] == 0
    login = got["login"]
    assert login["churned_usage_rate"] == 100
    assert login["usage_lift"] == pytest.approx(login["churned_usage_rate"]
                                                / login["retained_usage_rate"])


@pytest.mark.parametrize(("survey", "score"), [("nps", 11), ("nps", -1), ("csat", 0),
                                               ("csat", 6)])
def test_scores_off_the_scale_are_rejected(tmp_path, survey, score):
    bad = "customer_id,responded_at,survey,score\n" f"r1,2024-01-02 10:00:00,{survey},{score}\n"
    with pytest.raises(SourceProblems, match=r"scores outside the survey's scale \(NPS 0–10, "
                                             r"CSAT 1–5\)"):
        build_tables(tmp_path, tables(survey_responses=bad), as_of=AS_OF)


@settings(max_examples=40, deadline=None)
@given(scores=st.lists(st.integers(0, 10), min_size=0, max_size=40))
def test_nps_function_bounds(scores):
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    n = len(scores)
    value = call("net_promoter_score", [promoters], [detractors], [n]).to_pylist()[0]
    margin = call("nps_margin", [promoters], [detractors], [n]).to_pylist()[0]
    if n == 0:
        assert value is None and margin is None
        return
    assert -100 <= value <= 100
    assert value == pytest.approx(nps(scores)["nps"])
    assert margin >= 0
