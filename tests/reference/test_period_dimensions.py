"""`tables.subscriptions.dimensions`: the plan a customer is on, period by period.

Each customer-period carries the columns of the paid subscription running at its snapshot
(several: the largest MRR, ties by subscription_id; a row paying nothing at its snapshot, a
churn, keeps the one of the period before). The expected plans are written from that rule by
hand for each row below.
"""

from __future__ import annotations

import pytest
import test_engagement as engagement
from engagement_reference import rows

SUBS = [
    # u: starter Jan–Feb, upgrades to pro on Mar 1 (cancel + new the same day), churns May 1
    ("u1", "u", "2024-01-01", "2024-03-01", 10, "month", "starter", "EUR"),
    ("u2", "u", "2024-03-01", "2024-05-01", 30, "month", "pro", "EUR"),
    # t: two subscriptions at the same MRR: the smaller subscription_id gives the plan
    ("t2", "t", "2024-01-01", "", 20, "month", "team", "USD"),
    ("t1", "t", "2024-01-01", "", 20, "year", "basic", "USD"),
    # a: an add-on larger than the base plan from March: the add-on's plan from March
    ("a1", "a", "2024-01-01", "", 10, "month", "starter", "GBP"),
    ("a2", "a", "2024-03-01", "", 50, "month", "addon", "GBP"),
]
CUSTOMERS = [("u", "2024-01-01", "legacy", "smb"), ("t", "2024-01-01", "legacy", "mid"),
             ("a", "2024-01-01", "legacy", "smb")]


def build(folder, mapping: dict, only: list[str], as_of: str = "2024-06-30"):
    """build_in_memory, with a `tables` mapping in the settings (its own argument of that
    name is the source's tables)."""
    from saas_retention.builders.atomic import connect
    from saas_retention.builders.duckdb.run import build_models
    from saas_retention.builders.duckdb.sources import open_source
    from saas_retention.builders.duckdb.stage import Stager
    from saas_retention.core.config import parse_settings

    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    for name, text in tables().items():
        (src / f"{name}.csv").write_text(text + "\n", encoding="utf-8")
    settings = parse_settings({"as_of": as_of, "tables": mapping})
    con = connect()
    try:
        build_models(con, settings, Stager(con, open_source(src), settings).run(), only=only)
    except BaseException:
        con.close()
        raise
    return con


def tables() -> dict[str, str]:
    return {
        "subscriptions": engagement.csv(
            "subscription_id,customer_id,start_date,end_date,mrr,billing_interval,plan,currency",
            SUBS),
        "customers": engagement.csv("customer_id,signup_date,plan,segment", CUSTOMERS),
        # `currency` is also the amounts' currency (docs/definitions.md#currencies): at a rate
        # of 1 the amounts, and so the hand-worked periods, stay as written
        "exchange_rates": "date,currency,rate\n2020-01-01,EUR,1\n2020-01-01,GBP,1",
    }


@pytest.fixture(scope="module")
def periods(tmp_path_factory):
    con = build(tmp_path_factory.mktemp("plans"),
                {"subscriptions": {"dimensions": ["plan", "billing_interval", "currency"]}},
                ["customer_periods"])
    try:
        got = rows(con, "select * from customer_periods")
    finally:
        con.close()
    return {(r["customer_id"], r["date_month"].month): r for r in got}


def test_the_plan_of_each_period(periods):
    # u: starter in Jan and Feb, pro from March; the March row is the upgrade, an expansion
    # under pro; May's churn row keeps the plan it left (pro)
    assert [periods[("u", m)]["plan"] for m in (1, 2, 3, 4, 5)] == [
        "starter", "starter", "pro", "pro", "pro"]
    march = periods[("u", 3)]
    assert (march["movement"], float(march["expansion_mrr"])) == ("expansion", 20.0)
    assert periods[("u", 5)]["movement"] == "churn"


def test_largest_mrr_then_subscription_id(periods):
    # t: t1 and t2 both at 20: t1 (basic, yearly) wins on subscription_id
    assert (periods[("t", 2)]["plan"], periods[("t", 2)]["billing_interval"]) == (
        "basic", "year")
    # a: starter until the 50 add-on starts in March
    assert [periods[("a", m)]["plan"] for m in (1, 2, 3, 6)] == [
        "starter", "starter", "addon", "addon"]
    assert periods[("a", 6)]["currency"] == "GBP"


def test_a_customer_dimension_of_the_same_name_gives_way(periods):
    # customers.plan ("legacy") is replaced by the period's plan; segment stays
    assert all(r["plan"] != "legacy" for r in periods.values())
    assert periods[("u", 1)]["segment"] == "smb"


def test_an_unknown_period_dimension_names_table_and_column(tmp_path):
    from saas_retention.core.errors import SourceProblems

    with pytest.raises(SourceProblems) as info:
        build(tmp_path, {"subscriptions": {"dimensions": ["tier"]}}, ["customer_periods"])
    text = str(info.value)
    assert "subscriptions" in text and "tier" in text and "plan" in text


@pytest.fixture(scope="module")
def value_rows(tmp_path_factory):
    con = build(tmp_path_factory.mktemp("plan_value"),
                {"subscriptions": {"dimensions": ["plan"]}},
                ["customer_periods", "customer_value"])
    try:
        return (rows(con, "select * from customer_periods"),
                rows(con, "select * from customer_value"))
    finally:
        con.close()


def test_customer_value_splits_by_the_plan_of_each_period(value_rows):
    """customer_value under a period dimension counts each customer-period under that
    period's plan: an upgrade moves the customer from starter to pro in March, and the May
    churn is a churn of pro. Expected counts by hand from SUBS; MRR from customer_periods."""
    periods, value = value_rows
    got = {(r["date_month"].month, r["dimension_value"]): r for r in value
           if r["dimension"] == "plan"}
    # starter: u and a in Jan and Feb; a alone once u upgrades (March) and a's add-on wins
    assert [got[(m, "starter")]["customers"] for m in (1, 2, 3)] == [2, 2, 0]
    assert [got[(m, "pro")]["customers"] for m in (2, 3, 4, 5)] == [0, 1, 1, 0]
    assert got[(5, "pro")]["customers_churned"] == 1  # u's churn counts under the plan it left
    assert got[(3, "addon")]["customers"] == 1 and got[(3, "basic")]["customers"] == 1
    # the customer-level plan ("legacy") gives way; segment stays a customer dimension
    assert not any(r["dimension_value"] == "legacy" for r in value)
    assert {r["dimension_value"] for r in value if r["dimension"] == "segment"} == {
        "smb", "mid"}
    # every period's MRR under the plans adds up to the period's MRR (nothing dropped)
    total = {}
    for r in periods:
        total[r["date_month"].month] = total.get(r["date_month"].month, 0) + float(r["mrr"])
    for month, mrr in total.items():
        by_plan = sum(r["mrr"] for (m, _v), r in got.items() if m == month)
        assert by_plan == pytest.approx(mrr)
        (overall,) = [r for r in value if r["dimension"] == "all"
                      and r["date_month"].month == month]
        assert overall["mrr"] == pytest.approx(mrr)


def test_customer_value_without_period_dimensions_splits_by_customer_columns(tmp_path):
    con = build(tmp_path, {}, ["customer_periods", "customer_value"])
    try:
        plans = {r[0] for r in con.execute(
            "select distinct dimension_value from customer_value where dimension = 'plan'"
        ).fetchall()}
    finally:
        con.close()
    assert plans == {"legacy"}


def test_cohort_and_trailing_year_rows_keep_the_plan_of_their_anchor_period(tmp_path):
    """cohort_customers carries the plan of the cohort's first period (u joined on starter,
    and stays a starter-cohort customer after its upgrade); trailing_year_customers the plan
    of the year's base period (a: starter for the base Feb 2024, its add-on from March). The
    customer-level plan ("legacy") gives way in both."""
    con = build(tmp_path, {"subscriptions": {"dimensions": ["plan"]}},
                ["customer_periods", "cohort_customers", "trailing_year_customers"],
                as_of="2025-03-31")
    try:
        cohort = rows(con, "select customer_id, period_number, plan, segment "
                           "from cohort_customers")
        trailing = rows(con, "select customer_id, date_month, plan, segment "
                             "from trailing_year_customers")
    finally:
        con.close()
    by_age = {(r["customer_id"], r["period_number"]): r for r in cohort}
    assert [by_age[("u", k)]["plan"] for k in (0, 2, 4)] == ["starter"] * 3
    assert by_age[("a", 3)]["plan"] == "starter"  # a's add-on came later
    assert by_age[("t", 0)]["plan"] == "basic"
    assert by_age[("u", 0)]["segment"] == "smb"
    by_period = {(r["customer_id"], r["date_month"].year, r["date_month"].month): r
                 for r in trailing}
    assert by_period[("a", 2025, 2)]["plan"] == "starter"  # base: Feb 2024
    assert by_period[("a", 2025, 3)]["plan"] == "addon"  # base: Mar 2024
    assert by_period[("t", 2025, 1)]["plan"] == "basic"
    assert not any(r["plan"] == "legacy" for r in cohort + trailing)


def test_cohort_rollup_counts_each_slice_by_hand(tmp_path):
    """cohort_customers_rollup: one row per cohort, age and (plan, segment), the plan being the
    cohort's first period's. All three customers start paying in January 2024: starter/smb
    holds u and a (10 + 10 MRR), basic/mid holds t (the smaller subscription_id of two at 20,
    40 MRR in all). In March u pays 30 (pro) and a 60 (its add-on); u's last paid day is
    April 30, so at age 4 (May) only a of starter/smb pays."""
    con = build(tmp_path, {"subscriptions": {"dimensions": ["plan"]}},
                ["customer_periods", "cohort_customers", "cohort_customers_rollup"],
                as_of="2024-06-30")
    try:
        got = {(r["period_number"], r["plan"], r["segment"]): r for r in rows(
            con, "select * from cohort_customers_rollup where cohort_month = date '2024-01-01'")}
        columns = [d[0] for d in con.execute(
            "select * from cohort_customers_rollup limit 0").description]
    finally:
        con.close()
    assert columns == ["cohort_month", "cohort_period_index", "period_number", "cohort_customers",
                       "retained_customers", "cohort_mrr", "retained_mrr", "segment", "plan"]
    assert set(got) == {(k, plan, segment) for k in range(6)
                        for plan, segment in (("starter", "smb"), ("basic", "mid"))}
    starter = [(got[(k, "starter", "smb")]["cohort_customers"],
                got[(k, "starter", "smb")]["retained_customers"],
                got[(k, "starter", "smb")]["cohort_mrr"],
                got[(k, "starter", "smb")]["retained_mrr"]) for k in range(6)]
    assert starter == [(2, 2, 20, 20), (2, 2, 20, 20), (2, 2, 20, 90), (2, 2, 20, 90),
                       (2, 1, 20, 60), (2, 1, 20, 60)]
    assert [(got[(k, "basic", "mid")]["cohort_customers"],
             got[(k, "basic", "mid")]["retained_customers"],
             got[(k, "basic", "mid")]["retained_mrr"]) for k in range(6)] == [(1, 1, 40)] * 6
