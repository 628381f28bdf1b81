"""Hand-made edge cases (docs/definitions.md, #time-rules to #customer-retention, and
docs/definitions.md#pitfalls): each is built with the package and compared row for row with the
independent reference in ``tests/helpers/reference.py``; the point of each case is also asserted
directly, with numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from reference import (
    MODELS,
    Calendar,
    assert_matches,
    build_and_reference,
    compute,
    sub,
)

D = dt.date.fromisoformat


def check(
    subs, as_of, grain="month", week_start="monday", customers=None, dimensions=(), **extra_settings
):
    """Build with the package and compute the reference: (package rows, reference). Each test
    asserts its hand-worked point first, then ``assert_matches`` for everything else."""
    as_of = D(as_of) if isinstance(as_of, str) else as_of
    return build_and_reference(
        subs, as_of, grain, week_start, customers, dimensions, **extra_settings
    )


def cust(actual, customer, grain="month"):
    """customer_periods rows of one customer, keyed by the period start date (ISO string)."""
    rows = sorted(
        (r for r in actual["customer_periods"] if r["customer_id"] == customer),
        key=lambda r: r["period_index"],
    )
    return {r[f"date_{grain}"].isoformat(): r for r in rows}


def ret(actual, grain="month"):
    rows = sorted(actual["retention"], key=lambda r: r["period_index"])
    return {r[f"date_{grain}"].isoformat(): r for r in rows}


def moves(actual, grain="month"):
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for r in actual["mrr_movements"]:
        out.setdefault(r[f"date_{grain}"].isoformat(), {})[r["movement"]] = (
            r["customers"],
            r["mrr_amount"],
        )
    return out


# ---------------------------------------------------------------------------------------------
# the reference itself (cheap sanity checks, no build)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
@pytest.mark.parametrize("week_start", ["monday", "sunday", "wednesday"])
def test_calendar_is_consecutive_and_contains_its_days(grain, week_start):
    cal = Calendar(grain, week_start)
    day = D("2023-12-20")
    while day < D("2024-03-10"):
        i = cal.index(day)
        assert cal.start(i) <= day < cal.end(i)
        assert cal.end(i) == cal.start(i + 1)
        if grain == "week":
            assert cal.start(i).strftime("%A").lower() == week_start
        day += dt.timedelta(days=1)


def test_reference_worked_example():
    subs = [sub(1, "a", "2024-01-01", "2024-03-01", 100), sub(2, "a", "2024-05-01", None, 150)]
    ref = compute(subs, D("2024-06-30"))
    got = [
        (r["date_month"].month, r["movement"], r["mrr_change"])
        for r in ref.models["customer_periods"]
    ]
    assert got == [
        (1, "new", 100),
        (2, "retained", 0),
        (3, "churn", -100),
        (4, "inactive", 0),
        (5, "reactivation", 150),
        (6, "retained", 0),
    ]


# ---------------------------------------------------------------------------------------------
# revenue movements
# ---------------------------------------------------------------------------------------------


def test_reactivation_after_a_gap_is_not_expansion_nor_new():
    # Pays Jan-Feb, nothing in Mar-Apr, comes back in May at a higher price. A CASE that tests
    # "more than last period" first would call May an expansion (docs/definitions.md#pitfalls).
    subs = [
        sub(1, "a", "2024-01-01", "2024-03-01", 100),
        sub(2, "a", "2024-05-01", None, 150),
        sub(3, "b", "2024-01-01", None, 20),
    ]
    actual, ref = check(subs, "2024-06-30")
    a = cust(actual, "a")
    assert list(a) == [f"2024-0{m}-01" for m in range(1, 7)]  # the gap is kept (dense spine)
    assert a["2024-03-01"]["movement"] == "churn" and a["2024-03-01"]["churned_mrr"] == -100
    assert a["2024-04-01"]["movement"] == "inactive" and a["2024-04-01"]["mrr"] == 0
    may = a["2024-05-01"]
    assert (may["movement"], may["reactivation_mrr"], may["new_mrr"], may["expansion_mrr"]) == (
        "reactivation",
        150,
        0,
        0,
    )
    assert may["cohort_month"] == D("2024-01-01") and may["periods_since_start"] == 4
    r = ret(actual)["2024-05-01"]
    assert (
        r["customers_start"],
        r["customers_end"],
        r["customers_new"],
        r["customers_reactivated"],
        r["reactivation_mrr"],
        r["expansion_mrr"],
    ) == (1, 2, 0, 1, 150, 0)
    assert r["crr"] == 100  # (E - N) / S = (2 - 1) / 1
    assert moves(actual)["2024-05-01"]["reactivation"] == (1, 150)
    assert_matches(actual, ref)


@pytest.mark.parametrize("switch_day", ["2024-03-01", "2024-03-15", "2024-03-31"])
def test_upgrade_by_cancel_and_new_subscription_same_day_is_expansion(switch_day):
    # One subscription ends on the day the bigger one starts: a plan change, not churn + new.
    subs = [sub(1, "a", "2024-01-10", switch_day, 50), sub(2, "a", switch_day, None, 80)]
    actual, ref = check(subs, "2024-06-30")
    mar = cust(actual, "a")["2024-03-01"]
    assert (mar["previous_mrr"], mar["mrr"], mar["movement"], mar["expansion_mrr"]) == (
        50,
        80,
        "expansion",
        30,
    )
    assert mar["churned_mrr"] == 0 and mar["new_mrr"] == 0
    r = ret(actual)["2024-03-01"]
    assert (r["customers_churned"], r["customers_new"], r["customers_expanded"]) == (0, 0, 1)
    assert (r["nrr"], r["grr"], r["crr"]) == (160, 100, 100)
    assert [r["customers_new"] for r in actual["retention"]] == [1, 0, 0, 0, 0, 0]
    assert_matches(actual, ref)


def test_downgrade_by_cancel_and_new_subscription_same_day_is_contraction():
    subs = [sub(1, "a", "2024-01-10", "2024-03-15", 80), sub(2, "a", "2024-03-15", None, 50)]
    actual, ref = check(subs, "2024-06-30")
    mar = cust(actual, "a")["2024-03-01"]
    assert (mar["movement"], mar["contraction_mrr"], mar["churned_mrr"]) == ("contraction", -30, 0)
    r = ret(actual)["2024-03-01"]
    assert (r["nrr"], r["grr"], r["customers_contracted"], r["customers_churned"]) == (
        62.5,
        62.5,
        1,
        0,
    )
    assert_matches(actual, ref)


def test_cancelling_one_of_two_parallel_subscriptions_is_contraction():
    subs = [
        sub(1, "a", "2024-01-01", None, 50),
        sub(2, "a", "2024-01-01", "2024-04-01", 30),
        sub(3, "b", "2024-02-01", None, 20),
    ]
    actual, ref = check(subs, "2024-06-30")
    a = cust(actual, "a")
    assert a["2024-01-01"]["mrr"] == 80 and a["2024-01-01"]["new_mrr"] == 80  # add-ons add up
    apr = a["2024-04-01"]
    assert (apr["movement"], apr["contraction_mrr"], apr["churned_mrr"], apr["is_paying"]) == (
        "contraction",
        -30,
        0,
        1,
    )
    r = ret(actual)["2024-04-01"]
    assert (r["customers_churned"], r["customers_contracted"], r["customer_churn_rate"]) == (
        0,
        1,
        0,
    )
    assert (r["mrr_start"], r["mrr_end"], r["contraction_mrr"]) == (100, 70, -30)
    assert r["grr"] == pytest.approx(70) and r["gross_mrr_churn"] == pytest.approx(30)
    assert moves(actual)["2024-04-01"]["contraction"] == (1, -30)
    assert moves(actual)["2024-04-01"]["churn"] == (0, 0)
    assert_matches(actual, ref)


def test_subscription_ending_on_the_month_boundary():
    # end_date is exclusive and the snapshot is the last day of the month:
    #   a: end 2024-03-31 -> not counted on Mar 31 -> churn in March;
    #   b: end 2024-04-01 -> counted on Mar 31 -> paying in March, churn in April;
    #   c: start 2024-01-31 (last day) -> paying in January; d: start 2024-02-01 -> February.
    subs = [
        sub(1, "a", "2024-01-01", "2024-03-31", 10),
        sub(2, "b", "2024-01-01", "2024-04-01", 20),
        sub(3, "c", "2024-01-31", None, 30),
        sub(4, "d", "2024-02-01", None, 40),
    ]
    actual, ref = check(subs, "2024-06-30")
    assert cust(actual, "a")["2024-03-01"]["movement"] == "churn"
    assert max(cust(actual, "a")) == "2024-03-01"
    assert cust(actual, "b")["2024-03-01"]["movement"] == "retained"
    assert cust(actual, "b")["2024-04-01"]["movement"] == "churn"
    assert max(cust(actual, "b")) == "2024-04-01"
    assert min(cust(actual, "c")) == "2024-01-01"
    assert min(cust(actual, "d")) == "2024-02-01"
    assert moves(actual)["2024-03-01"]["churn"] == (1, -10)
    assert moves(actual)["2024-04-01"]["churn"] == (1, -20)
    assert_matches(actual, ref)


def test_open_subscription_runs_to_as_of():
    # The customer's only subscription has no end date: rows up to as_of's month, no churn.
    subs = [sub(1, "a", "2023-11-10", None, 40)]
    actual, ref = check(subs, "2024-06-15")
    a = cust(actual, "a")
    assert list(a) == ["2023-11-01", "2023-12-01"] + [f"2024-0{m}-01" for m in range(1, 7)]
    assert all(r["is_paying"] == 1 for r in a.values())
    assert a["2023-11-01"]["movement"] == "new"
    assert {r["movement"] for r in list(a.values())[1:]} == {"retained"}
    assert [r["date_month"] for r in actual["retention"]][-1] == D("2024-06-01")
    assert actual["retention"][-1]["mrr_end"] == 40
    assert_matches(actual, ref)


def test_churn_row_after_last_paying_period_and_no_more():
    subs = [sub(1, "a", "2024-01-01", "2024-03-01", 60), sub(2, "b", "2024-01-01", None, 10)]
    actual, ref = check(subs, "2024-06-30")
    a = cust(actual, "a")
    assert list(a) == ["2024-01-01", "2024-02-01", "2024-03-01"]
    churn = a["2024-03-01"]
    assert (
        churn["mrr"],
        churn["previous_mrr"],
        churn["is_paying"],
        churn["was_paying"],
        churn["movement"],
        churn["churned_mrr"],
        churn["last_paying_period_index"],
    ) == (0, 60, 0, 1, "churn", -60, a["2024-02-01"]["period_index"])
    r = ret(actual)["2024-03-01"]
    assert (r["customers_churned"], r["customer_churn_rate"], r["crr"], r["churned_mrr"]) == (
        1,
        50,
        50,
        -60,
    )
    # retention keeps a row for every period up to as_of
    assert list(ret(actual)) == [f"2024-0{m}-01" for m in range(1, 7)]
    assert_matches(actual, ref)


def test_churn_row_is_not_produced_past_as_of():
    # Last paying period is as_of's period: no churn row in the following period.
    subs = [sub(1, "a", "2024-01-01", "2024-07-01", 60)]
    actual, ref = check(subs, "2024-06-30")
    assert max(cust(actual, "a")) == "2024-06-01"
    assert_matches(actual, ref)


def test_nothing_after_as_of_mid_month():
    # as_of 2024-06-15 closes the window; June is snapshotted on the 15th.
    subs = [
        sub(1, "a", "2024-01-01", "2024-06-20", 10),  # still running on the 15th: paying in June
        sub(2, "b", "2024-01-01", "2024-06-10", 20),  # gone by the 15th: churn in June
        sub(3, "c", "2024-06-20", None, 30),  # starts after as_of: never counts
        sub(4, "d", "2024-05-10", "2024-06-16", 40),  # ends the day after as_of: paying in June
        sub(5, "e", "2024-01-01", "2024-06-15", 50),  # ends on as_of (exclusive): churn in June
    ]
    actual, ref = check(subs, "2024-06-15")
    as_of = D("2024-06-15")
    for name in ("customer_periods", "retention", "mrr_movements"):
        assert max(r["date_month"] for r in actual[name]) == D("2024-06-01"), name
    assert all(r["period_start"] <= as_of for r in actual["customer_periods"])
    assert cust(actual, "a")["2024-06-01"]["movement"] == "retained"
    assert cust(actual, "b")["2024-06-01"]["movement"] == "churn"
    assert cust(actual, "d")["2024-06-01"]["movement"] == "retained"
    assert cust(actual, "e")["2024-06-01"]["movement"] == "churn"
    assert "c" not in {r["customer_id"] for r in actual["customer_periods"]}
    june = ret(actual)["2024-06-01"]
    assert (june["customers_start"], june["customers_end"], june["mrr_end"]) == (4, 2, 50)
    assert june["customers_acquired_all"] == 0
    cells = actual["cohort_retention"]
    for c in cells:
        age_date = D(c["cohort_month"].isoformat())
        month = age_date.year * 12 + age_date.month - 1 + c["period_number"]
        future = month > 2024 * 12 + 5
        assert (c["retention_rate"] is None) == future
        assert (c["retained_customers"] is None) == future
        assert (c["revenue_retention"] is None) == future
    assert any(c["retention_rate"] is None for c in cells)
    assert_matches(actual, ref)


def test_trial_then_paid():
    # The trial carries an amount but is_trial marks it MRR 0: the customer is new in February.
    subs = [
        sub(1, "a", "2024-01-05", "2024-02-05", 100, trial=True),
        sub(2, "a", "2024-02-05", None, 100),
        sub(3, "b", "2024-01-20", "2024-04-01", 25, trial=True),
    ]  # trial that never converts
    actual, ref = check(subs, "2024-06-30")
    a = cust(actual, "a")
    assert min(a) == "2024-02-01"
    assert (a["2024-02-01"]["movement"], a["2024-02-01"]["new_mrr"]) == ("new", 100)
    assert a["2024-02-01"]["cohort_month"] == D("2024-02-01")
    assert "b" not in {r["customer_id"] for r in actual["customer_periods"]}
    # the first retention period is the first paying one, not the first trial
    assert actual["retention"][0]["date_month"] == D("2024-02-01")
    assert actual["retention"][0]["customers_acquired_all"] == 1
    assert [c["cohort_month"] for c in actual["cohort_retention"]][0] == D("2024-02-01")
    assert {c["cohort_size"] for c in actual["cohort_retention"]} == {1}
    assert_matches(actual, ref)


def test_subscription_starting_after_as_of():
    subs = [
        sub(1, "a", "2024-01-01", None, 10),
        sub(2, "a", "2024-07-01", None, 90),  # an upgrade after as_of: not yet
        sub(3, "z", "2024-07-01", None, 50),
    ]  # a customer who starts after as_of
    actual, ref = check(subs, "2024-06-30")
    assert {r["customer_id"] for r in actual["customer_periods"]} == {"a"}
    assert {r["mrr"] for r in actual["customer_periods"]} == {10}
    assert [r["customers_acquired_all"] for r in actual["retention"]] == [1, 0, 0, 0, 0, 0]
    assert_matches(actual, ref)


def test_free_plan_only_customer_never_appears():
    subs = [
        sub(1, "free", "2024-01-01", None, 0),
        sub(2, "free", "2024-02-01", "2024-05-01", 0),
        sub(3, "a", "2024-02-01", None, 10),
    ]
    actual, ref = check(subs, "2024-06-30")
    assert {r["customer_id"] for r in actual["customer_periods"]} == {"a"}
    assert actual["retention"][0]["date_month"] == D("2024-02-01")
    assert all(r["customers_end"] == 1 for r in actual["retention"])
    assert all(r["customers_acquired_all"] in (0, 1) for r in actual["retention"])
    assert {c["cohort_size"] for c in actual["cohort_retention"]} == {1}
    assert_matches(actual, ref)


def test_only_free_and_trial_subscriptions_build_empty_models():
    subs = [
        sub(1, "free", "2024-01-01", None, 0),
        sub(2, "t", "2024-02-01", "2024-03-01", 20, trial=True),
    ]
    actual, ref = check(subs, "2024-06-30")
    for name in MODELS:
        assert actual[name] == [], name
    assert_matches(actual, ref)


def test_join_and_leave_within_one_period_only_counts_in_textbook_crr():
    # b starts and ends inside March: never paying at a snapshot, but an acquisition of March
    # for the textbook CRR (docs/definitions.md#customer-retention).
    subs = [
        sub(1, "a", "2024-01-01", None, 10),
        sub(2, "c", "2024-01-01", "2024-03-20", 10),
        sub(3, "b", "2024-03-05", "2024-03-25", 30),
    ]
    actual, ref = check(subs, "2024-06-30")
    mar = ret(actual)["2024-03-01"]
    assert (mar["customers_start"], mar["customers_end"], mar["customers_new"]) == (2, 1, 0)
    assert mar["customers_acquired_all"] == 1
    assert mar["crr"] == 50 and mar["crr_textbook"] == 0
    assert mar["net_customer_growth"] == 50
    assert "b" not in {r["customer_id"] for r in actual["customer_periods"]}
    assert_matches(actual, ref)


def test_trailing_year_nrr_and_grr():
    # Customers paying in Jan 2023: a 100 -> 150, b 100 -> 0, c 100 -> 80 by Jan 2024; d joins
    # later and is not in the base. NRR = 230 / 300, GRR = (100 + 0 + 80) / 300.
    subs = [
        sub(1, "a", "2023-01-01", "2023-06-01", 100),
        sub(2, "a", "2023-06-01", None, 150),
        sub(3, "b", "2023-01-01", "2023-09-01", 100),
        sub(4, "c", "2023-01-01", "2023-11-01", 100),
        sub(5, "c", "2023-11-01", None, 80),
        sub(6, "d", "2023-05-01", None, 500),
    ]
    actual, ref = check(subs, "2024-02-29")
    r = ret(actual)
    jan = r["2024-01-01"]
    assert jan["mrr_base_12m"] == 300 and jan["mrr_now_12m"] == 230
    assert jan["nrr_12m"] == pytest.approx(230 / 3) and jan["grr_12m"] == pytest.approx(60)
    assert r["2023-12-01"]["nrr_12m"] is None and r["2023-12-01"]["mrr_base_12m"] is None
    assert r["2024-02-01"]["mrr_base_12m"] == 300  # d joined in May: not in Feb 2023's base
    assert jan["arr"] == 12 * jan["mrr_end"] and jan["arpa"] == pytest.approx(730 / 3)
    assert_matches(actual, ref)


def test_quick_ratio_and_mrr_churn_rates():
    subs = [
        sub(1, "a", "2024-01-01", None, 100),
        sub(2, "b", "2024-01-01", "2024-02-15", 50),
        sub(3, "c", "2024-01-01", "2024-02-10", 50),
        sub(4, "c", "2024-02-10", None, 80),
        sub(5, "d", "2024-02-03", None, 40),
    ]
    actual, ref = check(subs, "2024-03-31")
    feb = ret(actual)["2024-02-01"]
    # start 200; new 40, expansion 30, churn -50
    assert feb["quick_ratio"] == pytest.approx(70 / 50)
    assert feb["gross_mrr_churn"] == pytest.approx(25) and feb["net_mrr_churn"] == pytest.approx(10)
    assert feb["nrr"] == pytest.approx(90) and feb["grr"] == pytest.approx(75)
    assert ret(actual)["2024-03-01"]["quick_ratio"] is None  # no losses: undefined, not infinity
    assert_matches(actual, ref)


def test_dimensions_come_from_customers_table():
    subs = [sub(1, "a", "2024-01-01", None, 10), sub(2, "b", "2024-02-01", None, 20)]
    customers = {"a": {"plan": "pro", "segment": "smb"}, "x": {"plan": "basic", "segment": ""}}
    actual, ref = check(subs, "2024-03-31", customers=customers, dimensions=("plan", "segment"))
    assert {(r["customer_id"], r["plan"]) for r in actual["customer_periods"]} == {
        ("a", "pro"),
        ("b", None),
    }
    assert_matches(actual, ref)


@pytest.mark.parametrize("grain", ["month", "week"])
def test_columns_are_the_documented_ones_and_all_are_checked(grain):
    # The package's columns are exactly those of sql/models/**/<model>.yml (date_period and
    # cohort_period named after the grain) plus the customers' dimensions on customer_periods,
    # and the reference computes every one of them, so nothing escapes the comparison.
    import yaml

    subs = [sub(1, "a", "2024-01-01", None, 10), sub(2, "b", "2024-02-01", "2024-03-01", 20)]
    customers = {"a": {"plan": "pro"}}
    actual, ref = check(subs, "2024-03-31", grain, customers=customers, dimensions=("plan",))
    models_dir = Path(__file__).resolve().parents[2] / "sql" / "models"
    rename = {"date_period": f"date_{grain}", "cohort_period": f"cohort_{grain}"}
    for name in MODELS:
        (path,) = models_dir.rglob(f"{name}.yml")
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        documented = {rename.get(c, c) for c in doc["columns"]}
        if name == "customer_periods":
            documented.add("plan")
        assert set(actual[name][0]) == documented, name
        assert set(ref.models[name][0]) == documented, name
    assert_matches(actual, ref)


# ---------------------------------------------------------------------------------------------
# grains
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("week_start", "cohort_week"), [("monday", "2024-02-26"), ("sunday", "2024-03-03")]
)
def test_weekly_cohort_depends_on_week_start(week_start, cohort_week):
    # Sunday 2024-03-03 is the last day of a Monday-week (snapshot: counts) and the first day
    # of a Sunday-week (the previous Sunday-week ends Saturday the 2nd: not yet).
    subs = [sub(1, "a", "2024-03-03", None, 10), sub(2, "b", "2024-02-20", "2024-03-12", 5)]
    actual, ref = check(subs, "2024-03-20", grain="week", week_start=week_start)
    a = cust(actual, "a", "week")
    assert min(a) == cohort_week
    assert a[cohort_week]["cohort_week"] == D(cohort_week)
    for name in ("customer_periods", "retention", "mrr_movements"):
        for r in actual[name]:
            assert r["date_week"].strftime("%A").lower() == week_start
            assert r["period_start"] == r["date_week"]
    for r in actual["retention"]:
        assert (r["period_end"] - r["period_start"]).days == 7
    assert (
        actual["retention"][-1]["period_start"]
        <= D("2024-03-20")
        < actual["retention"][-1]["period_end"]
    )
    assert_matches(actual, ref)


def test_weekly_trailing_year_is_52_weeks():
    subs = [
        sub(1, "a", "2023-01-02", None, 10),
        sub(2, "a", "2023-06-05", None, 5),
        sub(3, "b", "2023-01-02", "2023-11-01", 20),
    ]
    actual, ref = check(subs, "2024-01-10", grain="week")
    r = ret(actual, "week")
    assert r["2024-01-01"]["mrr_base_12m"] == 30 and r["2024-01-01"]["mrr_now_12m"] == 15
    assert r["2023-12-25"]["mrr_base_12m"] is None
    assert_matches(actual, ref)


def test_quarterly_grain():
    subs = [
        sub(1, "a", "2024-01-15", "2024-05-10", 30),  # paying on Mar 31, gone by Jun 30
        sub(2, "b", "2024-02-01", "2024-03-15", 50),  # never at a quarter end
        sub(3, "c", "2023-11-01", None, 20),
        sub(4, "c", "2024-04-01", "2024-08-01", 10),  # add-on in Q2, gone before as_of in Q3
        sub(5, "d", "2024-07-01", None, 40),
    ]
    actual, ref = check(subs, "2024-08-15", grain="quarter")
    assert [r["date_quarter"] for r in actual["retention"]] == [
        D("2023-10-01"),
        D("2024-01-01"),
        D("2024-04-01"),
        D("2024-07-01"),
    ]
    assert actual["retention"][-1]["period_end"] == D("2024-10-01")
    a = cust(actual, "a", "quarter")
    assert (a["2024-01-01"]["movement"], a["2024-04-01"]["movement"]) == ("new", "churn")
    assert "b" not in {r["customer_id"] for r in actual["customer_periods"]}
    q1 = ret(actual, "quarter")["2024-01-01"]
    assert (q1["customers_new"], q1["customers_acquired_all"]) == (1, 2)
    c = cust(actual, "c", "quarter")
    assert (c["2024-04-01"]["movement"], c["2024-07-01"]["movement"]) == (
        "expansion",
        "contraction",
    )
    assert c["2024-07-01"]["contraction_mrr"] == -10
    assert ret(actual, "quarter")["2024-07-01"]["mrr_end"] == 60
    assert_matches(actual, ref)


@pytest.mark.parametrize("grain", ["day", "year"])
def test_other_grains(grain):
    subs = [
        sub(1, "a", "2022-12-30", "2023-01-03", 10),
        sub(2, "a", "2023-01-05", None, 20),
        sub(3, "b", "2023-01-01", "2023-01-04", 7),
    ]
    actual, ref = check(subs, "2023-01-08", grain=grain)
    assert_matches(actual, ref)


TZ_SUBS = [
    sub(1, "a", "2024-01-31", "2024-03-01", 10),  # last day of January .. first of March
    sub(2, "b", "2024-02-01", "2024-03-31", 20),  # first of February .. last of March
    sub(3, "c", "2024-03-04", None, 5),  # a Monday: first day of a Monday-week
]


@pytest.mark.parametrize("grain", ["month", "week"])
# UTC+14 and UTC-8 (UTC itself is every other test). A DATE is already a calendar date in the
# reporting time zone (docs/definitions.md#timestamps; #pitfalls: "cohorts shifted a day"): the zone
# must not move it.
# (Los Angeles used to move every date one day back: 2024-02-01 was paying in January.)
@pytest.mark.parametrize("timezone", ["Pacific/Kiritimati", "America/Los_Angeles"])
def test_time_zone_does_not_move_date_only_inputs(timezone, grain):
    actual, ref = check(TZ_SUBS, "2024-04-15", grain, timezone=timezone)
    first = {r["customer_id"]: r[f"date_{grain}"] for r in reversed(actual["customer_periods"])}
    if grain == "month":
        assert first == {"a": D("2024-01-01"), "b": D("2024-02-01"), "c": D("2024-03-01")}
    else:
        assert first == {"a": D("2024-01-29"), "b": D("2024-01-29"), "c": D("2024-03-04")}
    assert_matches(actual, ref)


# ---------------------------------------------------------------------------------------------
# cohorts
# ---------------------------------------------------------------------------------------------


def test_cohort_cells_after_everybody_churned_are_zero_not_null():
    # Only cells in the future of as_of are NULL. (The model once took "the future" to start
    # after the last customer_periods row, so Mar-Jun here came out NULL.)
    subs = [sub(1, "a", "2024-01-01", "2024-02-01", 10)]
    actual, ref = check(subs, "2024-06-30")
    cells = {c["period_number"]: c for c in actual["cohort_retention"]}
    assert sorted(cells) == [0, 1, 2, 3, 4, 5]
    assert [cells[k]["retention_rate"] for k in range(6)] == [100, 0, 0, 0, 0, 0]
    assert [cells[k]["retained_mrr"] for k in range(6)] == [10, 0, 0, 0, 0, 0]
    assert [cells[k]["retained_customers_on_or_after"] for k in range(6)] == [1, 0, 0, 0, 0, 0]
    assert_matches(actual, ref)
