"""Model churn_presets against the rules the vendors publish (docs/comparing.md).

Every expected value is computed by hand from the vendor's written rule, in the comments next
to it, never by running our SQL:

- Stripe, "Calculating subscriber churn rate in Billing" (support.stripe.com): churned
  subscribers in the past 30 days ÷ (active subscribers 30 days ago + new subscribers in those
  30 days); one who starts and churns inside the window counts in both; a returning customer
  who churns again churns again.
- Baremetrics, "User and Revenue Churn" (help.baremetrics.com) and its changelog "Churn
  Update": cancelled customers in the last 30 days ÷ active customers 30 days ago, sign-up and
  cancel inside the 30 days included; any plan that is not monthly over 365 days instead.
  Its quick ratio (changelog "New Quick Ratio Metric"): (new + expansion) ÷ (contraction +
  churn) MRR.
- ChartMogul, "Net MRR Churn Rate" (its published example: $100 at the start, $10 churn, $10
  contraction, $10 expansion → 10 %) and "Customer Lifetime Value" (ARPA ÷ the average churn
  of the six previous months, the current one excluded; its example: ARPA $100 and 5 % → $2,000).

Each fixture also separates the preset from our default.
"""

from __future__ import annotations

import datetime as dt

import pytest
import test_engagement as engagement
from engagement_reference import build_in_memory, rows

SUBSCRIPTIONS = "subscription_id,customer_id,start_date,end_date,mrr,billing_interval"


def build(tmp_path_factory, name: str, subs, as_of: str) -> dict[dt.date, dict]:
    tables = {"subscriptions": engagement.csv(SUBSCRIPTIONS, subs)}
    con = build_in_memory(tmp_path_factory.mktemp(name), tables, ["churn_presets"],
                          as_of=as_of)
    try:
        return {r["snapshot_date"]: r for r in rows(con, "select * from churn_presets")}
    finally:
        con.close()


# March 2024: snapshot Mar 31, 30 days before = Mar 1, 365 days before = 2023-04-01
CHURN_SUBS = [
    *((f"a{i}", f"a{i}", "2024-01-01", "", 10, "month") for i in range(10)),  # stay
    ("b", "b", "2024-01-01", "2024-03-10", 10, "month"),        # churns Mar 10
    ("c", "c", "2024-03-05", "2024-03-20", 10, "month"),        # signs up and cancels in March
    ("d1", "d", "2024-01-01", "2024-03-08", 10, "month"),       # churns Mar 8 …
    ("d2", "d", "2024-03-15", "", 10, "month"),                 # … and is back Mar 15
    ("e", "e", "2024-03-12", "", 10, "month"),                  # new Mar 12
    ("k1", "k", "2024-01-01", "", 10, "month"),                 # cancels one of two:
    ("k2", "k", "2024-01-01", "2024-03-10", 10, "month"),       # contraction, not churn
    ("f", "f", "2023-03-01", "2024-02-15", 100, "year"),        # annual, churned Feb 15
    ("g", "g", "2023-01-01", "", 100, "year"),                  # annual, stays
    ("h", "h", "2023-01-01", "2024-03-20", 100, "year"),        # annual, churns Mar 20
]


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    return build(tmp_path_factory, "churn", CHURN_SUBS, "2024-03-31")[dt.date(2024, 3, 31)]


def test_stripe_counts_sign_up_and_cancel_and_churn_and_return(churn):
    # paying on Mar 1: a0–a9, b, d, k, g, h = 15; started since: c, d (again), e = 3;
    # churn events in (Mar 1, Mar 31]: b, c, d, h = 4  →  4 ÷ 18
    assert (churn["customers_30_start"], churn["customers_30_new"],
            churn["customers_30_churned"]) == (15, 3, 4)
    assert churn["churn_rate_stripe"] == pytest.approx(100 * 4 / 18)
    # our default (calendar March, snapshots Feb 29 → Mar 31): b and h of 15
    assert churn["churn_rate_default"] == pytest.approx(100 * 2 / 15)
    assert churn["churn_rate_stripe"] != pytest.approx(churn["churn_rate_default"])


def test_baremetrics_headline_is_30_days_for_every_plan(churn):
    # cancelled customers in the 30 days (c, who signed up inside them, included): b, c, d, h
    # ÷ the 15 paying 30 days before; the annual h counts in the headline like anyone
    assert churn["customers_30_churned_customers"] == 4
    assert churn["churn_rate_baremetrics"] == pytest.approx(100 * 4 / 15)


def test_baremetrics_plans_monthly_30_days_others_365_days(churn):
    # monthly plans on Mar 1: a0–a9, b, d, k = 13; of them or signed up since, b, c, d cancelled
    assert (churn["monthly_30_start"], churn["monthly_30_churned"]) == (13, 3)
    assert churn["churn_rate_baremetrics_monthly"] == pytest.approx(100 * 3 / 13)
    # not monthly on 2023-04-01: f, g, h; cancelled in the 365 days: f (Feb 15), h (Mar 20)
    assert (churn["non_monthly_365_start"], churn["non_monthly_365_churned"]) == (3, 2)
    assert churn["churn_rate_baremetrics_non_monthly"] == pytest.approx(100 * 2 / 3)


def test_profitwell_equals_default_and_preset_selects(churn):
    assert churn["churn_rate_profitwell"] == churn["churn_rate_default"]
    assert churn["preset"] == "default" and churn["churn_rate"] == churn["churn_rate_default"]


# February: ChartMogul's own example. March: a reactivation and a new customer as well.
MRR_SUBS = [
    ("p1a", "p1", "2024-01-01", "2024-02-10", 10, "month"),   # Feb: churn 10
    ("p1b", "p1", "2024-03-05", "", 5, "month"),              # Mar: reactivation 5
    ("p2a", "p2", "2024-01-01", "2024-02-10", 20, "month"),   # Feb: contraction 10
    ("p2b", "p2", "2024-02-10", "2024-03-20", 10, "month"),   # Mar: churn 10
    ("p3a", "p3", "2024-01-01", "2024-02-10", 30, "month"),   # Feb: expansion 10
    ("p3b", "p3", "2024-02-10", "2024-03-10", 40, "month"),
    ("p3c", "p3", "2024-03-10", "", 30, "month"),             # Mar: contraction 10
    ("p4a", "p4", "2024-01-01", "2024-03-10", 40, "month"),
    ("p4b", "p4", "2024-03-10", "", 50, "month"),             # Mar: expansion 10
    ("p5", "p5", "2024-03-05", "", 15, "month"),              # Mar: new 15
]


@pytest.fixture(scope="module")
def mrr(tmp_path_factory):
    return build(tmp_path_factory, "mrr", MRR_SUBS, "2024-03-31")


def test_chartmogul_net_mrr_churn_published_example(mrr):
    feb = mrr[dt.date(2024, 2, 29)]
    # ((10 + 10) − (10 + 0)) ÷ 100 = 10 %: ChartMogul's example, no reactivation
    assert feb["net_mrr_churn_chartmogul"] == pytest.approx(10.0)


def test_chartmogul_net_mrr_churn_offsets_reactivation(mrr):
    mar = mrr[dt.date(2024, 3, 31)]
    # start MRR 10 + 40 + 40 = 90; churn 10, contraction 10, expansion 10, reactivation 5
    assert mar["net_mrr_churn_chartmogul"] == pytest.approx(100 * (10 + 10 - 10 - 5) / 90)


def test_baremetrics_quick_ratio_leaves_reactivation_out(mrr):
    mar = mrr[dt.date(2024, 3, 31)]
    # (new 15 + expansion 10) ÷ (contraction 10 + churn 10); ours adds the reactivation 5
    assert mar["quick_ratio_baremetrics"] == pytest.approx(25 / 20)


def ltv_subs():
    """20 customers at $100 from December 2023; January to June one leaves and one joins each
    month (5 % churn), July two (10 %)."""
    subs = [(f"s{i}", f"c{i}", "2023-12-01", "", 100, "month") for i in range(20)]
    leaving = iter(range(20))
    for month, churned in zip(range(1, 8), [1, 1, 1, 1, 1, 1, 2], strict=True):
        for j in range(churned):
            i = next(leaving)
            end = dt.date(2024, month, 10).isoformat()
            subs[i] = (f"s{i}", f"c{i}", "2023-12-01", end, 100, "month")
            subs.append((f"n{month}-{j}", f"n{month}-{j}", end, "", 100, "month"))
    return subs


@pytest.fixture(scope="module")
def ltv(tmp_path_factory):
    return build(tmp_path_factory, "ltv", ltv_subs(), "2024-07-31")


def test_chartmogul_ltv_uses_the_six_months_before(ltv):
    jul = ltv[dt.date(2024, 7, 31)]
    # January–June at 5 % each; July's 10 % is left out: $100 ÷ 0.05 = $2,000, ChartMogul's
    # own example
    assert jul["churn_rate_chartmogul_ltv"] == pytest.approx(5.0)
    assert jul["ltv_chartmogul"] == pytest.approx(2000.0)
    # our default formula CLTV would average the trailing six including July
    assert jul["churn_rate_default"] == pytest.approx(10.0)
    # December has no month before it with customers at its start: no churn, no LTV
    dec = ltv[dt.date(2023, 12, 31)]
    assert dec["ltv_chartmogul"] is None
