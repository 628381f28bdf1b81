"""The streaming Parquet generator: a valid directory source, deterministic, chunked, and its
``events_per_customer_month`` means what it says."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow.parquet as pq
import pytest

from saas_retention.builders.duckdb.run import build, check
from saas_retention.core.config import parse_settings
from saas_retention.datagen.synthetic import TABLES, generate_parquet

END = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    counts = generate_parquet(folder, customers=600, months=12, seed=3, chunk_customers=250,
                              events_per_customer_month=12, end_date=END)
    return folder, counts


@pytest.fixture()
def con(source):
    folder, _ = source
    c = duckdb.connect()
    for name in TABLES:
        target = folder / "events" / "*.parquet" if name == "events" else folder / f"{name}.parquet"
        c.execute(f"create view {name} as select * from read_parquet('{target}')")
    yield c
    c.close()


def test_files_and_counts(source, con):
    folder, counts = source
    assert sorted(p.name for p in (folder / "events").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]  # 600 / 250 blocks
    for name in TABLES:
        assert con.execute(f"select count(*) from {name}").fetchall()[0][0] == counts[name]
    assert counts["customers"] == 600
    assert all(counts[t] > 0 for t in TABLES)


def test_satisfies_the_contract_and_builds_every_model(source, tmp_path):
    folder, _ = source
    settings = parse_settings({"as_of": END})
    report = check(folder, settings)
    # every optional table but the exchange rates, which only a source in several currencies
    # needs (the synthetic source has one)
    assert set(report.skipped) <= {"exchange_rates"}, report.skipped
    assert not report.warnings, [str(w) for w in report.warnings]
    result = build(folder, settings, database=tmp_path / "m.duckdb")
    assert not result.skipped
    assert result.models["customer_periods"] > 0 and result.models["retention"] == 12


def test_ids_follow_signup_order_and_nothing_after_end(con):
    ids = [r[0] for r in con.execute("select signup_date from customers order by customer_id")
           .fetchall()]
    assert ids == sorted(ids)
    assert ids[0] >= dt.date(2025, 1, 1)
    for table, column in (("subscriptions", "start_date"), ("subscriptions", "end_date"),
                          ("events", "event_time"), ("support_tickets", "created_at"),
                          ("survey_responses", "responded_at"), ("referrals", "referred_at")):
        last = con.execute(f"select max(cast({column} as date)) from {table}").fetchall()[0][0]
        assert last <= END, (table, column)


def test_subscription_invariants(con):
    bad = con.execute("""
        select
            count(*) filter (where end_date <= start_date),
            count(*) filter (where is_trial and mrr <> 0),
            count(*) filter (where not is_trial and mrr <= 0),
            count(*) filter (where cancel_reason is not null and end_date is null),
            count(*) - count(distinct subscription_id)
        from subscriptions
    """).fetchall()[0]
    assert bad == (0, 0, 0, 0, 0)
    kinds = con.execute("""
        select count(*) filter (where is_trial), count(*) filter (where billing_interval = 'year'),
               count(*) filter (where cancel_reason is not null),
               count(*) filter (where end_date is null)
        from subscriptions
    """).fetchall()[0]
    assert all(k > 0 for k in kinds), kinds  # trials, annual plans, churns, running ones


def test_events_fall_inside_a_subscription(con):
    outside = con.execute("""
        select count(*) from events e
        where not exists (
            select 1 from subscriptions s
            where s.customer_id = e.customer_id
              and cast(e.event_time as date) >= s.start_date
              and (s.end_date is null or cast(e.event_time as date) < s.end_date))
    """).fetchall()[0][0]
    assert outside == 0


def test_events_per_customer_month(con):
    # events ÷ active customer-months (days covered by any subscription ÷ 30.44): the parameter
    # is a mean, weekends, fading and health move it a little
    covered_days = con.execute(f"""
        select count(*) from (
            select distinct customer_id, unnest(range(start_date,
                   coalesce(end_date, date '{END}' + 1), interval 1 day)) as d
            from subscriptions)
    """).fetchall()[0][0]
    events = con.execute("select count(*) from events").fetchall()[0][0]
    assert 12 * 0.8 < events / (covered_days / 30.44) < 12 * 1.2


def test_same_seed_same_files_other_seed_other_files(source, tmp_path):
    folder, _ = source
    generate_parquet(tmp_path / "a", customers=600, months=12, seed=3, chunk_customers=250,
                     events_per_customer_month=12, end_date=END)
    generate_parquet(tmp_path / "b", customers=600, months=12, seed=4, chunk_customers=250,
                     events_per_customer_month=12, end_date=END)
    for name in ("subscriptions.parquet", "events/part-00001.parquet"):
        original = pq.read_table(folder / name)
        assert pq.read_table(tmp_path / "a" / name).equals(original)
        assert not pq.read_table(tmp_path / "b" / name).equals(original)


def test_rerun_replaces_stale_event_parts(tmp_path):
    generate_parquet(tmp_path, customers=300, months=3, chunk_customers=100)
    counts = generate_parquet(tmp_path, customers=100, months=3, chunk_customers=100)
    assert [p.name for p in (tmp_path / "events").iterdir()] == ["part-00000.parquet"]
    assert pq.read_table(tmp_path / "events").num_rows == counts["events"]


@pytest.mark.parametrize("kwargs", [{"customers": 0}, {"months": 1.5}, {"chunk_customers": True},
                                    {"events_per_customer_month": -1}])
def test_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_parquet(tmp_path, **kwargs)
