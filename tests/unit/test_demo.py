"""The synthetic data generator: contract shape, determinism, invariants and scenario coverage."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saas_retention.datagen.demo import (
    CANCEL_REASONS,
    EVENT_NAMES,
    EVENTS_PER_CUSTOMER_MONTH,
    PLANS,
    SEGMENTS,
    generate,
)

END = dt.date(2025, 12, 31)
N = 300

EXPECTED = {
    "customers": [
        ("customer_id", "VARCHAR"),
        ("signup_date", "DATE"),
        ("plan", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("country", "VARCHAR"),
        ("channel", "VARCHAR"),
    ],
    "subscriptions": [
        ("subscription_id", "VARCHAR"),
        ("customer_id", "VARCHAR"),
        ("start_date", "DATE"),
        ("end_date", "DATE"),
        ("mrr", "DOUBLE"),
        ("is_trial", "BOOLEAN"),
        ("billing_interval", "VARCHAR"),
        ("cancel_reason", "VARCHAR"),
    ],
    "events": [
        ("customer_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("event_time", "TIMESTAMP"),
        ("event_name", "VARCHAR"),
        ("session_id", "VARCHAR"),
        ("duration_seconds", "DOUBLE"),
    ],
    "survey_responses": [
        ("customer_id", "VARCHAR"),
        ("responded_at", "TIMESTAMP"),
        ("survey", "VARCHAR"),
        ("score", "INTEGER"),
        ("comment", "VARCHAR"),
        ("sentiment", "VARCHAR"),
    ],
    "referrals": [
        ("referrer_customer_id", "VARCHAR"),
        ("referred_at", "TIMESTAMP"),
        ("referred_customer_id", "VARCHAR"),
    ],
    "support_tickets": [
        ("customer_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("resolved_at", "TIMESTAMP"),
    ],
}


@pytest.fixture
def demo():
    c = duckdb.connect()
    counts = generate(c, customers=N)
    yield c, counts
    c.close()


@pytest.fixture
def con(demo):
    return demo[0]


def one(c, sql: str, params=None):
    return c.execute(sql, params or []).fetchall()[0][0]


def columns(c, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in c.execute(f"DESCRIBE {table}").fetchall()]


# --------------------------------------------------------------------------------------------
# Shape
# --------------------------------------------------------------------------------------------
def test_tables_columns_and_types(con):
    for table, cols in EXPECTED.items():
        assert columns(con, table) == cols, table


def test_returned_counts_match_tables(demo):
    con, counts = demo
    assert set(counts) == set(EXPECTED)
    for table, n in counts.items():
        assert one(con, f"SELECT count(*) FROM {table}") == n, table
        assert n > 0, table
    assert counts["customers"] == N


def test_path_creates_and_overwrites_file(tmp_path):
    path = tmp_path / "demo.duckdb"
    path.write_bytes(b"not a duckdb file")
    counts = generate(path, customers=50, months=12, events=False)
    assert "events" not in counts
    with duckdb.connect(str(path), read_only=True) as c:
        names = {r[0] for r in c.execute("SHOW TABLES").fetchall()}
        assert names == set(EXPECTED) - {"events"}
        assert one(c, "SELECT count(*) FROM customers") == 50
    counts2 = generate(str(path), customers=60, months=12)  # overwrite an existing database
    with duckdb.connect(str(path), read_only=True) as c:
        assert one(c, "SELECT count(*) FROM customers") == 60
        assert one(c, "SELECT count(*) FROM events") == counts2["events"] > 0


def test_events_false_drops_stale_events_table():
    c = duckdb.connect()
    generate(c, customers=30, months=6)
    assert one(c, "SELECT count(*) FROM events") > 0
    counts = generate(c, customers=30, months=6, events=False)
    assert "events" not in counts
    assert "events" not in {r[0] for r in c.execute("SHOW TABLES").fetchall()}


def test_rejects_bad_arguments():
    c = duckdb.connect()
    with pytest.raises(ValueError):
        generate(c, customers=0)
    with pytest.raises(ValueError):
        generate(c, months=0)
    with pytest.raises(TypeError):
        generate(c, end_date="2025-12-31")


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------
def _snapshot(c) -> dict:
    out = {}
    for t in EXPECTED:
        rel = c.sql(f"SELECT * FROM {t}")  # stored order: no ORDER BY on purpose
        # duckdb >= 1.4 names it to_arrow_table(); older releases fetch_arrow_table()
        out[t] = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()
    return out


def test_same_seed_same_rows_different_seed_different_rows():
    a, b, d = duckdb.connect(), duckdb.connect(), duckdb.connect()
    generate(a, customers=N, seed=7)
    generate(b, customers=N, seed=7)
    generate(d, customers=N, seed=8)
    sa, sb, sd = _snapshot(a), _snapshot(b), _snapshot(d)
    for t in EXPECTED:
        assert sa[t].equals(sb[t]), t  # same rows in the same stored order
    assert not sa["subscriptions"].equals(sd["subscriptions"])
    assert not sa["events"].equals(sd["events"])


# --------------------------------------------------------------------------------------------
# Contract invariants
# --------------------------------------------------------------------------------------------
def _assert_invariants(c, end: dt.date) -> None:
    q = lambda sql: one(c, sql, [end])  # noqa: E731
    has_events = "events" in {r[0] for r in c.execute("SHOW TABLES").fetchall()}

    assert one(c, "SELECT count(*) - count(DISTINCT customer_id) FROM customers") == 0
    assert one(c, "SELECT count(*) - count(DISTINCT subscription_id) FROM subscriptions") == 0
    for table, col in [
        ("customers", "customer_id"),
        ("subscriptions", "subscription_id"),
        ("subscriptions", "customer_id"),
        ("subscriptions", "start_date"),
        ("subscriptions", "mrr"),
        ("subscriptions", "is_trial"),
        ("subscriptions", "billing_interval"),
    ]:
        assert one(c, f"SELECT count(*) FROM {table} WHERE {col} IS NULL") == 0, (table, col)
    assert one(c, "SELECT count(*) FROM subscriptions WHERE end_date <= start_date") == 0
    assert one(c, "SELECT count(*) FROM subscriptions WHERE mrr < 0") == 0
    assert one(c, "SELECT count(*) FROM subscriptions WHERE is_trial AND mrr <> 0") == 0
    assert one(c, "SELECT count(*) FROM subscriptions WHERE NOT is_trial AND mrr <= 0") == 0
    assert (
        one(c, "SELECT count(*) FROM subscriptions WHERE billing_interval NOT IN ('month','year')")
        == 0
    )
    assert one(c, "SELECT count(*) FROM subscriptions WHERE is_trial AND cancel_reason <> ''") == 0
    # nothing is dated after end_date
    assert q("SELECT count(*) FROM customers WHERE signup_date > ?") == 0
    assert q("SELECT count(*) FROM subscriptions WHERE start_date > $1 OR end_date > $1") == 0
    for table, col in [
        ("survey_responses", "responded_at"),
        ("referrals", "referred_at"),
        ("support_tickets", "created_at"),
        ("support_tickets", "resolved_at"),
    ]:
        assert q(f"SELECT count(*) FROM {table} WHERE CAST({col} AS DATE) > ?") == 0, table
    if has_events:
        assert q("SELECT count(*) FROM events WHERE CAST(event_time AS DATE) > ?") == 0
        # events only while the customer has a subscription (trial or paid)
        assert (
            one(
                c,
                """SELECT count(*) FROM events e WHERE NOT EXISTS (
                     SELECT 1 FROM subscriptions s WHERE s.customer_id = e.customer_id
                       AND s.start_date <= CAST(e.event_time AS DATE)
                       AND (s.end_date IS NULL OR CAST(e.event_time AS DATE) < s.end_date))""",
            )
            == 0
        )
        assert one(c, "SELECT count(*) FROM events WHERE duration_seconds < 0") == 0
        assert (
            one(c, "SELECT count(*) FROM events WHERE user_id NOT LIKE customer_id || '-U%'") == 0
        )
    # referential integrity
    for table, col in [
        ("subscriptions", "customer_id"),
        ("survey_responses", "customer_id"),
        ("support_tickets", "customer_id"),
        ("referrals", "referrer_customer_id"),
        ("referrals", "referred_customer_id"),
    ] + ([("events", "customer_id")] if has_events else []):
        orphans = one(
            c,
            f"SELECT count(*) FROM {table} t WHERE t.{col} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM customers c WHERE c.customer_id = t.{col})",
        )
        assert orphans == 0, (table, col)
    # every customer has at least one subscription, starting on the signup day
    assert (
        one(
            c,
            """SELECT count(*) FROM customers c WHERE signup_date <> (
                 SELECT min(start_date) FROM subscriptions s WHERE s.customer_id = c.customer_id)
               OR NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.customer_id = c.customer_id)""",
        )
        == 0
    )
    assert one(c, "SELECT count(*) FROM support_tickets WHERE resolved_at < created_at") == 0
    assert (
        one(
            c,
            "SELECT count(*) FROM referrals r JOIN customers a ON a.customer_id = "
            "r.referrer_customer_id WHERE r.referred_customer_id = r.referrer_customer_id "
            "OR CAST(r.referred_at AS DATE) < a.signup_date",
        )
        == 0
    )
    # survey scores on scale, sentiment only where there is a comment
    assert one(c, "SELECT count(*) FROM survey_responses WHERE survey NOT IN ('nps','csat')") == 0
    assert (
        one(
            c,
            """SELECT count(*) FROM survey_responses
               WHERE score IS NULL
                  OR (survey = 'nps' AND score NOT BETWEEN 0 AND 10)
                  OR (survey = 'csat' AND score NOT BETWEEN 1 AND 5)""",
        )
        == 0
    )
    assert (
        one(
            c,
            """SELECT count(*) FROM survey_responses
               WHERE (sentiment IS NOT NULL AND sentiment NOT IN ('positive','neutral','negative'))
                  OR (comment IS NULL AND sentiment IS NOT NULL)""",
        )
        == 0
    )


def test_contract_invariants(con):
    _assert_invariants(con, END)
    assert {r[0] for r in con.execute("SELECT DISTINCT plan FROM customers").fetchall()} <= set(
        PLANS
    )
    assert {r[0] for r in con.execute("SELECT DISTINCT segment FROM customers").fetchall()} == set(
        SEGMENTS
    )
    reasons = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT cancel_reason FROM subscriptions WHERE cancel_reason IS NOT NULL"
        ).fetchall()
    }
    assert reasons <= set(CANCEL_REASONS)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    customers=st.integers(1, 40),
    months=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    end=st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
)
def test_invariants_hold_for_any_parameters(customers, months, seed, end):
    c = duckdb.connect()
    counts = generate(c, customers=customers, months=months, seed=seed, end_date=end)
    assert counts["customers"] == customers
    _assert_invariants(c, end)
    first_month = dt.date(end.year, end.month, 1)
    y, m = divmod(first_month.month - 1 - (months - 1), 12)
    earliest = dt.date(first_month.year + y, m + 1, 1)
    assert one(c, "SELECT count(*) FROM customers WHERE signup_date < ?", [earliest]) == 0
    c.close()


# --------------------------------------------------------------------------------------------
# Scenario coverage
# --------------------------------------------------------------------------------------------
def test_signups_spread_over_the_window(con):
    n_months = one(con, "SELECT count(DISTINCT date_trunc('month', signup_date)) FROM customers")
    assert n_months >= 32  # of 36; early months are small (the business grows)
    assert one(con, "SELECT count(*) FROM customers WHERE signup_date < DATE '2023-04-01'") > 0
    assert one(con, "SELECT count(*) FROM customers WHERE signup_date >= DATE '2025-10-01'") > 0
    # more signups late than early
    assert one(
        con,
        "SELECT count(*) FILTER (WHERE signup_date >= DATE '2025-01-01') "
        "> count(*) FILTER (WHERE signup_date < DATE '2024-01-01') FROM customers",
    )
    assert one(con, "SELECT min(signup_date) FROM customers") >= dt.date(2023, 1, 1)
    # arbitrary days of the month, not only the 1st
    assert one(con, "SELECT count(DISTINCT day(start_date)) FROM subscriptions") >= 25
    assert one(con, "SELECT count(DISTINCT day(end_date)) FROM subscriptions") >= 25


def test_trials(con):
    assert one(con, "SELECT count(*) FROM subscriptions WHERE is_trial") > N // 2
    # trials last 14 days
    assert (
        one(
            con, "SELECT count(*) FROM subscriptions WHERE is_trial AND end_date <> start_date + 14"
        )
        == 0
    )
    # converted: a paid subscription starts the day the trial ends
    assert (
        one(
            con,
            """SELECT count(*) FROM subscriptions t JOIN subscriptions p
                 ON p.customer_id = t.customer_id AND p.start_date = t.end_date
               WHERE t.is_trial AND NOT p.is_trial AND p.mrr > 0""",
        )
        > 0
    )
    # never converted: only a trial, and it ended
    assert (
        one(
            con,
            """SELECT count(*) FROM (SELECT customer_id FROM subscriptions GROUP BY customer_id
               HAVING bool_and(is_trial) AND bool_and(end_date IS NOT NULL))""",
        )
        > 0
    )
    # some customers pay straight away
    assert (
        one(
            con,
            """SELECT count(*) FROM customers c JOIN subscriptions s
                 ON s.customer_id = c.customer_id AND s.start_date = c.signup_date
               WHERE NOT s.is_trial""",
        )
        > 0
    )


def test_plans_have_different_prices(con):
    prices = dict(
        con.execute(
            """SELECT c.plan, min(s.mrr) FROM subscriptions s JOIN customers c USING (customer_id)
               WHERE NOT s.is_trial AND s.billing_interval = 'month' AND c.segment = 'smb'
                 AND s.start_date = (SELECT min(start_date) FROM subscriptions x
                                     WHERE x.customer_id = s.customer_id AND NOT x.is_trial)
               GROUP BY 1"""
        ).fetchall()
    )
    present = [p for p in PLANS if p in prices]
    assert len(present) >= 3
    assert [prices[p] for p in present] == sorted(prices[p] for p in present)
    assert len(set(prices.values())) == len(prices)


_SAME_DAY_CHANGE = """
    SELECT count(*) FROM subscriptions a JOIN subscriptions b
      ON a.customer_id = b.customer_id AND b.start_date = a.end_date
     AND a.subscription_id <> b.subscription_id
   WHERE NOT a.is_trial AND NOT b.is_trial AND a.cancel_reason IS NULL
     AND a.billing_interval = b.billing_interval AND b.mrr {op} a.mrr
"""


def test_upgrades_and_downgrades_are_same_day_end_and_start(con):
    assert one(con, _SAME_DAY_CHANGE.format(op=">")) > 0  # upgrade
    assert one(con, _SAME_DAY_CHANGE.format(op="<")) > 0  # downgrade
    # an upgrade in the middle of a billing month (not on the 1st)
    assert one(con, _SAME_DAY_CHANGE.format(op=">") + " AND day(b.start_date) <> 1") > 0


def test_annual_subscriptions(con):
    assert one(con, "SELECT count(*) FROM subscriptions WHERE billing_interval = 'year'") > 0
    # annual mrr = annual price / 12: 10 months of a list price, so mrr * 12 / 10 is a price
    bad = one(
        con,
        """SELECT count(*) FROM subscriptions s JOIN customers c USING (customer_id)
           WHERE billing_interval = 'year' AND c.segment = 'smb'
             AND round(mrr * 12 / 10, 1) NOT IN (29, 79, 199, 599)
             AND s.start_date = (SELECT min(start_date) FROM subscriptions x
                                 WHERE x.customer_id = s.customer_id AND NOT x.is_trial)""",
    )
    assert bad == 0
    # annual terms that renewed: one subscription runs on past its first 12-month term (a
    # renewal is the same subscription's next term, as a billing system keeps it)
    renewed = f"""
        SELECT count(*) FROM subscriptions
         WHERE billing_interval = 'year' AND NOT is_trial
           AND start_date + INTERVAL 12 MONTH < coalesce(end_date, DATE '{END}')"""
    assert one(con, renewed) > 0
    # ... and monthly → annual switches
    assert (
        one(
            con,
            """SELECT count(*) FROM subscriptions a JOIN subscriptions b
                 ON a.customer_id = b.customer_id AND b.start_date = a.end_date
               WHERE NOT a.is_trial AND a.billing_interval = 'month'
                 AND b.billing_interval = 'year'""",
        )
        > 0
    )


def test_annual_terms_that_did_not_renew(con):
    # a term ends after 12 months with a cancel reason
    assert (
        one(
            con,
            """SELECT count(*) FROM subscriptions WHERE billing_interval = 'year'
                 AND cancel_reason IS NOT NULL
                 AND end_date = start_date + INTERVAL 12 MONTH""",
        )
        > 0
    )


def test_concurrent_subscriptions_and_contraction(con):
    overlap = """
        SELECT count(*) FROM subscriptions a JOIN subscriptions b
          ON a.customer_id = b.customer_id AND a.subscription_id < b.subscription_id
         AND a.start_date < coalesce(b.end_date, DATE '9999-12-31')
         AND b.start_date < coalesce(a.end_date, DATE '9999-12-31')
       WHERE NOT a.is_trial AND NOT b.is_trial"""
    assert one(con, overlap) > 0
    # one of two concurrent paid subscriptions is cancelled while the other keeps running
    contraction = """
        SELECT count(*) FROM subscriptions a JOIN subscriptions b
          ON a.customer_id = b.customer_id AND a.subscription_id <> b.subscription_id
         AND b.start_date < a.end_date
         AND (b.end_date IS NULL OR b.end_date > a.end_date)
       WHERE NOT a.is_trial AND NOT b.is_trial AND a.cancel_reason IS NOT NULL"""
    assert one(con, contraction) > 0


def test_churn_reasons_and_reactivation(con):
    n_reasons = one(
        con,
        "SELECT count(DISTINCT cancel_reason) FROM subscriptions WHERE cancel_reason IS NOT NULL",
    )
    assert n_reasons >= 5
    # reactivation: a paid subscription starting after a gap in which nothing paid was running
    reactivated = """
        SELECT count(*) FROM subscriptions s
        WHERE NOT s.is_trial
          AND EXISTS (SELECT 1 FROM subscriptions p WHERE p.customer_id = s.customer_id
                        AND NOT p.is_trial AND p.end_date < s.start_date - 31)
          AND NOT EXISTS (SELECT 1 FROM subscriptions p WHERE p.customer_id = s.customer_id
                        AND NOT p.is_trial AND p.start_date < s.start_date
                        AND (p.end_date IS NULL OR p.end_date >= s.start_date))"""
    assert one(con, reactivated) > 0


_CHURN_BY_SEGMENT = """
    WITH paid AS (
      SELECT c.segment, count(*) FILTER (WHERE s.cancel_reason IS NOT NULL) AS cancels,
             sum(coalesce(s.end_date, DATE '2026-01-01') - s.start_date) AS days
      FROM subscriptions s JOIN customers c USING (customer_id)
      WHERE NOT s.is_trial GROUP BY ALL)
    SELECT segment, sum(cancels) / sum(days) * 30 FROM paid GROUP BY 1"""


def test_segments_have_different_churn(con):
    rate = dict(con.execute(_CHURN_BY_SEGMENT).fetchall())  # cancellations per paid month
    assert rate["smb"] > rate["mid_market"] and rate["smb"] > rate["enterprise"]
    # the full ordering needs a larger sample (no events: fast)
    c = duckdb.connect()
    generate(c, customers=2000, events=False)
    rate = dict(c.execute(_CHURN_BY_SEGMENT).fetchall())
    assert rate["smb"] > rate["mid_market"] > rate["enterprise"] > 0
    c.close()


def test_events_realism(con):
    names = {r[0] for r in con.execute("SELECT DISTINCT event_name FROM events").fetchall()}
    assert names == set(EVENT_NAMES)
    # every session starts with a login, by one user
    assert (
        one(
            con,
            """SELECT count(*) FROM (
                 SELECT session_id, arg_min(event_name, event_time) AS first,
                        count(DISTINCT user_id) AS users
                 FROM events GROUP BY 1) WHERE first <> 'login' OR users <> 1""",
        )
        == 0
    )
    # the generator's volume per active customer-month (its mean is set per paying or trial
    # customer-month; a month with events counts here)
    per_month = one(
        con,
        """SELECT avg(n) FROM (SELECT customer_id, date_trunc('month', event_time), count(*) n
                               FROM events GROUP BY ALL)""",
    )
    assert EVENTS_PER_CUSTOMER_MONTH < per_month < 3 * EVENTS_PER_CUSTOMER_MONTH
    # activity fades in the weeks before a churn
    before = con.execute(
        """WITH churn AS (SELECT customer_id, end_date FROM subscriptions
                          WHERE cancel_reason IS NOT NULL AND NOT is_trial
                            AND end_date - start_date > 120),
                ev AS (SELECT c.end_date - CAST(e.event_time AS DATE) AS d
                       FROM events e JOIN churn c USING (customer_id)
                       WHERE CAST(e.event_time AS DATE) < c.end_date)
           SELECT count(*) FILTER (WHERE d BETWEEN 1 AND 30),
                  count(*) FILTER (WHERE d BETWEEN 61 AND 90) FROM ev"""
    ).fetchall()[0]
    assert before[0] < 0.8 * before[1]


def test_healthier_customers_have_more_events(con):
    # customers still paying at the end vs customers who churned, per active paid day
    rows = dict(
        con.execute(
            """WITH paid AS (
                 SELECT customer_id, bool_or(end_date IS NULL) AS retained,
                        sum(coalesce(end_date, DATE '2026-01-01') - start_date) AS days
                 FROM subscriptions WHERE NOT is_trial AND mrr >= 29 * 0.8 GROUP BY 1),
               ev AS (SELECT customer_id, count(*) AS n FROM events GROUP BY 1)
               SELECT retained, sum(coalesce(n, 0)) / sum(days)
               FROM paid LEFT JOIN ev USING (customer_id) GROUP BY 1"""
        ).fetchall()
    )
    assert rows[True] > rows[False]


def test_voice_of_customer_and_support(con):
    by_survey = dict(
        con.execute("SELECT survey, count(*) FROM survey_responses GROUP BY 1").fetchall()
    )
    assert by_survey.get("nps", 0) > 0 and by_survey.get("csat", 0) > 0
    sentiments = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT sentiment FROM survey_responses WHERE sentiment IS NOT NULL"
        ).fetchall()
    }
    assert sentiments == {"positive", "neutral", "negative"}
    assert one(con, "SELECT count(*) FROM survey_responses WHERE comment IS NOT NULL") > 0
    assert one(con, "SELECT count(*) FROM referrals WHERE referred_customer_id IS NULL") > 0
    assert one(con, "SELECT count(*) FROM referrals WHERE referred_customer_id IS NOT NULL") > 0
    assert (
        one(
            con,
            """SELECT count(*) FROM referrals r JOIN customers c
                 ON c.customer_id = r.referred_customer_id WHERE c.channel <> 'referral'""",
        )
        == 0
    )
    assert one(con, "SELECT count(*) FROM support_tickets WHERE resolved_at IS NOT NULL") > 0


# --------------------------------------------------------------------------------------------
# Volume at the default size (speed belongs in benchmarks, not tests)
# --------------------------------------------------------------------------------------------
def test_default_size_volume():
    c = duckdb.connect()
    try:
        counts = generate(c)
    finally:
        c.close()
    assert counts["customers"] == 2000
    assert 100_000 < counts["events"] < 1_000_000
