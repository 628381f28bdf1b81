"""Subscriptions in several currencies (docs/definitions.md#currencies): the optional `currency`
column of `subscriptions` and the `exchange_rates` table, converted in stg_subscriptions.

The expected MRR is worked out by hand from the rule (the rate of the subscription's start date,
else the latest earlier one; rate = units of the reporting currency per 1 unit), not by running
our SQL. The DuckDB build and the SQLite and PostgreSQL warehouse builds give the same rows."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from engines import pg_url

from saas_retention.builders.duckdb.run import check
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import SourceProblems

SETTINGS = {"as_of": "2024-04-30"}
MONTHS = [date(2024, m, 1) for m in range(1, 5)]
SUBSCRIPTIONS = [
    # subscription_id, customer_id, start_date, end_date, mrr, currency
    ("s_usd", "c_usd", "2024-01-01", "", "100", "usd"),
    ("s_eur_jan", "c_eur_jan", "2024-01-15", "", "90", "eur"),
    ("s_eur_feb", "c_eur_feb", "2024-02-01", "", "80", "EUR"),
    ("s_jpy", "c_jpy", "2024-03-10", "", "10000", "jpy"),
    ("s_usd_upper", "c_usd_upper", "2024-01-01", "2024-03-01", "50", " USD "),
    ("s_none", "c_none", "2024-01-01", "", "40", ""),
]
RATES = [
    # date, currency, rate (USD per 1 unit)
    ("2023-12-31", "eur", "1.10"),
    ("2024-02-01", "eur", "1.20"),
    ("2024-01-01", "jpy", "0.007"),
]
# MRR (USD) at each month-end snapshot, January … April 2024
EXPECTED = {
    "c_usd": [100, 100, 100, 100],
    # started 15 Jan: the 31 Dec rate (no row on the day) 90 × 1.10 = 99, kept afterwards
    # (the 1 Feb rate does not revalue it)
    "c_eur_jan": [99, 99, 99, 99],
    # started 1 Feb: the rate of that very day, 80 × 1.20 = 96 (upper case EUR is eur)
    "c_eur_feb": [0, 96, 96, 96],
    # started 10 Mar: the 1 Jan rate, 10000 × 0.007 = 70 (amounts are currency units)
    "c_jpy": [0, 0, 70, 70],
    # " USD " is the reporting currency: not converted; ended 1 March
    "c_usd_upper": [50, 50, 0, 0],
    # no currency: the reporting currency
    "c_none": [40, 40, 40, 40],
}


def _write(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def source(folder: Path, subscriptions=SUBSCRIPTIONS, rates=RATES, currency=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = ["subscription_id", "customer_id", "start_date", "end_date", "mrr", "currency"]
    _write(folder / "subscriptions.csv", header if currency else header[:-1],
           [r if currency else r[:-1] for r in subscriptions])
    if rates is not None:
        _write(folder / "exchange_rates.csv", ["date", "currency", "rate"], rates)
    return folder


def duckdb_periods(folder: Path, settings) -> list[tuple]:
    import duckdb

    from saas_retention.builders.duckdb.run import build_models
    from saas_retention.builders.duckdb.sources import open_source
    from saas_retention.builders.duckdb.stage import Stager

    con = duckdb.connect()
    try:
        report = Stager(con, open_source(folder), settings).run()
        build_models(con, settings, report, only=["customer_periods"])
        return con.execute("select customer_id, period_start, mrr, movement from "
                           "customer_periods order by 1, 2").fetchall()
    finally:
        con.close()


def _mrr(rows) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {}
    for customer, start, mrr, _ in rows:
        start = date.fromisoformat(str(start)[:10])
        if start in MONTHS:
            got.setdefault(customer, [0.0] * 4)[MONTHS.index(start)] = round(float(mrr), 6)
    return got


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return duckdb_periods(source(tmp_path_factory.mktemp("fx")), parse_settings(SETTINGS))


def test_amounts_are_converted_at_the_start_date_rate(built):
    assert _mrr(built) == {k: [float(x) for x in v] for k, v in EXPECTED.items()}


def test_a_sqlite_warehouse_gives_the_same_rows(built, tmp_path):
    import sqlite3

    from saas_retention.builders.warehouse.run import build_on_warehouse

    where = tmp_path / "fx.sqlite"
    con = sqlite3.connect(where)
    con.execute("create table subscriptions (subscription_id text, customer_id text, "
                "start_date date, end_date date, mrr double precision, currency text)")
    con.executemany("insert into subscriptions values (?, ?, ?, ?, ?, ?)",
                    [[v or None for v in r] for r in SUBSCRIPTIONS])
    con.execute("create table exchange_rates (date date, currency text, rate double precision)")
    con.executemany("insert into exchange_rates values (?, ?, ?)", RATES)
    con.commit()
    con.close()
    result = build_on_warehouse(f"sqlite:///{where}", parse_settings(SETTINGS))
    assert result.warnings == []
    con = sqlite3.connect(where)
    got = con.execute("select customer_id, period_start, mrr, movement from customer_periods "
                      "order by 1, 2").fetchall()
    con.close()
    assert [(c, str(p)[:10], round(float(m), 6), mv) for c, p, m, mv in got] == \
        [(c, str(p)[:10], round(float(m), 6), mv) for c, p, m, mv in built]


@pytest.mark.postgres
def test_postgres_gives_the_same_rows(built, pg_dsn):
    pytest.importorskip("sqlalchemy")
    import psycopg

    from saas_retention.builders.warehouse.run import build_on_warehouse

    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute('drop schema if exists "fx" cascade')
        con.execute('create schema "fx"')
        con.execute('create table "fx".subscriptions (subscription_id text, customer_id text, '
                    'start_date date, end_date date, mrr double precision, currency text)')
        with con.cursor() as cur:
            cur.executemany('insert into "fx".subscriptions values (%s, %s, %s, %s, %s, %s)',
                            [[v or None for v in r] for r in SUBSCRIPTIONS])
        con.execute('create table "fx".exchange_rates (date date, currency text, '
                    'rate double precision)')
        with con.cursor() as cur:
            cur.executemany('insert into "fx".exchange_rates values (%s, %s, %s)', RATES)
    url = pg_url(pg_dsn)
    result = build_on_warehouse(url, parse_settings(SETTINGS), schema="fx",
                                target_schema="fx_out")
    assert result.warnings == []
    with psycopg.connect(pg_dsn) as con:
        got = con.execute('select customer_id, period_start, mrr, movement from '
                          '"fx_out".customer_periods order by 1, 2').fetchall()
    assert [(c, str(p)[:10], round(float(m), 6), mv) for c, p, m, mv in got] == \
        [(c, str(p)[:10], round(float(m), 6), mv) for c, p, m, mv in built]


def test_one_currency_without_rates_is_unchanged(tmp_path):
    usd = [r for r in SUBSCRIPTIONS if r[5].strip().lower() in ("usd", "")]
    settings = parse_settings(SETTINGS)
    assert duckdb_periods(source(tmp_path / "a", usd, None), settings) == \
        duckdb_periods(source(tmp_path / "b", usd, None, currency=False), settings)


def test_mixed_currencies_without_rates_are_an_error(tmp_path):
    with pytest.raises(SourceProblems) as info:
        check(source(tmp_path / "none", rates=None), parse_settings(SETTINGS))
    text = str(info.value)
    assert "subscriptions.currency: amounts in a currency other than reporting_currency " \
        "(usd) with no exchange_rates row" in text
    assert "(3 rows)" in text
    assert "currency='eur'" in text and "currency='jpy'" in text
    # a rate only after the start date does not convert it; a repeated rate is refused
    late = [("2024-03-11", "jpy", "0.007"), ("2024-01-01", "eur", "1.1"),
            ("2024-01-01", "eur", "1.2")]
    with pytest.raises(SourceProblems) as info:
        check(source(tmp_path / "late", rates=late), parse_settings(SETTINGS))
    text = str(info.value)
    assert "(1 row)" in text and "subscription_id='s_jpy'" in text
    assert "exchange_rates.rate: more than one rate for the same currency and date (2 rows)" \
        in text
