"""The synthetic world (saas_retention/datagen/world.py): its tables are the input contract's,
its helpers mean what they say, and the demo is a small size of the one generator."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from saas_retention.core.contract import TABLES
from saas_retention.datagen import world
from saas_retention.datagen.demo import TABLE_NAMES
from saas_retention.datagen.synthetic import TABLES as SYNTHETIC_TABLES

EPOCH = dt.date(1970, 1, 1)
KINDS = {"id": "string", "text": "string", "date": "date32[day]", "timestamp": "timestamp[us]",
         "number": ("double", "int32"), "bool": "bool"}


@pytest.mark.parametrize("name", sorted(world.schemas()))
def test_schemas_are_the_contract_tables(name):
    schema = world.schemas()[name]
    contract = TABLES[name]
    names = {c.name for c in contract.columns}
    assert {c.name for c in contract.columns if c.required} <= set(schema.names)
    for field in schema:
        if field.name not in names:  # a dimension of the customers
            assert contract.open_columns and str(field.type) == "string", field
            continue
        kind = KINDS[contract.column(field.name).kind]
        assert str(field.type) in (kind if isinstance(kind, tuple) else (kind,)), field


def test_the_demo_is_the_generators_parquet_source_in_duckdb(tmp_path):
    import duckdb

    from saas_retention.datagen.demo import generate
    from saas_retention.datagen.synthetic import generate_parquet

    assert set(TABLE_NAMES) == set(SYNTHETIC_TABLES) == set(world.schemas())
    args = {"customers": 150, "months": 5, "seed": 3, "end_date": dt.date(2024, 6, 30)}
    counts = generate(str(tmp_path / "demo.duckdb"), **args)
    assert counts == generate_parquet(tmp_path / "parquet", **args)
    con = duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True)
    try:
        for name in TABLE_NAMES:
            files = tmp_path / "parquet" / (f"{name}/*.parquet" if name == "events"
                                            else f"{name}.parquet")
            demo = con.execute(f"SELECT * FROM {name}").to_arrow_table()
            parquet = con.execute(f"SELECT * FROM read_parquet('{files}')").to_arrow_table()
            assert demo.schema == parquet.schema, name
            assert demo.num_rows == counts[name] > 0, name
            assert demo.equals(parquet), name
    finally:
        con.close()


def test_add_months_clamps_to_the_last_day_of_the_month():
    days = np.arange((dt.date(2023, 1, 1) - EPOCH).days, (dt.date(2025, 1, 1) - EPOCH).days)
    for k in (-13, -1, 0, 1, 2, 12, 25):
        got = world.add_months(days, np.full(len(days), k))
        for d, g in zip(days[::7].tolist(), got[::7].tolist(), strict=True):
            date = EPOCH + dt.timedelta(days=d)
            y, m0 = divmod(date.month - 1 + k, 12)
            y += date.year
            for day in range(date.day, 27, -1):  # the month's last day at most
                try:
                    want = dt.date(y, m0 + 1, day)
                    break
                except ValueError:
                    continue
            else:
                want = dt.date(y, m0 + 1, date.day)
            assert EPOCH + dt.timedelta(days=g) == want, (date, k)
    assert int(world.add_months((dt.date(2024, 1, 31) - EPOCH).days, 1)) == (
        dt.date(2024, 2, 29) - EPOCH).days


def test_weekday_and_utc():
    day = np.array([(dt.date(2025, 12, 29) - EPOCH).days])  # a Monday
    assert world.weekday(day).tolist() == [0]
    # 09:30 in UTC-5 is 14:30 UTC
    us = world.utc_us(day, np.array([9.5 * 3600]), np.array([-5.0]))
    assert dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us[0])) == dt.datetime(
        2025, 12, 29, 14, 30)


def test_session_events_stay_in_their_span_in_time_order():
    rng = np.random.default_rng(0)
    n_cust, ns = 5, 400
    cust = rng.integers(0, n_cust, ns)
    day = rng.integers(20_000, 20_010, ns)
    lo, hi = day * world.DAY_US, (day + 1) * world.DAY_US
    health = np.full(n_cust, 1.0)
    e = world.session_events(rng, day, cust, np.ones(ns), lo, hi, health=health,
                             vigour=world.vigour(health), n_users=np.full(n_cust, 3),
                             offset=np.zeros(n_cust))
    assert len(e["at"]) > ns  # a login and more
    assert (e["at"] >= lo[e["session"]]).all() and (e["at"] < hi[e["session"]]).all()
    key = list(zip(e["cust"].tolist(), e["at"].tolist(), strict=True))
    assert key == sorted(key)
    assert set(e["name"].tolist()) <= set(range(len(world.EVENT_NAMES)))
    first = np.unique(e["session"], return_index=True)[1]
    assert (np.asarray(world.EVENT_NAMES)[e["name"][first]] == "login").all()
