"""The Stripe connector (saas_retention/connectors/stripe.py, docs/stripe.md) on the fixture
account of tests/fixtures/stripe (its README lists the cases and Stripe's pages).

The expected monthly MRR below is worked out by hand from the rules of docs/stripe.md, with
the arithmetic beside each number — never by running our SQL. The same account in Fivetran's
and Airbyte's schemas gives the same MRR; DuckDB and the real PostgreSQL server give the same
rows."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from engines import pg_url

from saas_retention.builders.duckdb.run import check
from saas_retention.connectors import connector_for
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError, SourceError, SourceProblems
from saas_retention.dialects import SUPPORTED
from saas_retention.relations.target import Target

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
AS_OF = "2024-06-30"
MONTHS = [date(2024, m, 1) for m in range(1, 7)]

# MRR (USD) at each month-end snapshot, January … June 2024 (0: not paying that month).
EXPECTED = {
    # 50.00/month; the metered item (12.34) and the one-off setup fee (100.00) are not MRR
    "cus_monthly": [50, 50, 50, 50, 50, 50],
    # 1,200.00/year from 10 Feb: 1200 / 12 = 100
    "cus_annual": [0, 100, 100, 100, 100, 100],
    # 300.00 every 3 months from 15 Jan: 300 / 3 = 100
    "cus_quarterly": [100, 100, 100, 100, 100, 100],
    # 5 seats × 10.00, 8 seats from the April invoice (the 10 March proration is not MRR)
    "cus_seats": [50, 50, 50, 80, 80, 80],
    # basic 50.00, upgraded to pro 100.00 on 15 March: prorations ignored, pro from April
    "cus_upgrade": [50, 50, 50, 100, 100, 100],
    # pro 100.00, basic 50.00 from the March invoice
    "cus_downgrade": [100, 100, 50, 50, 50, 50],
    # 50.00 with a repeating 20 % coupon (Jan–Mar): not subtracted
    "cus_repeating": [50, 50, 50, 50, 50, 50],
    # 100.00 with a forever 25 % coupon: 100 − 25 = 75
    "cus_forever": [75, 75, 75, 75, 75, 75],
    # 50.00 plus 4.00 exclusive sales tax: tax is never in MRR
    "cus_sales_tax": [50, 50, 50, 50, 50, 50],
    # 120.00 including 20.00 VAT: 120 − 20 = 100
    "cus_vat": [100, 100, 100, 100, 100, 100],
    # trial 1–15 Jan (0.00 invoice), then 50.00 from 15 Jan: paying on 31 Jan
    "cus_trial_converts": [50, 50, 50, 50, 50, 50],
    # cancel at period end requested 10 April: MRR stops that day, so 0 at 30 April
    "cus_cancel_at_end": [50, 50, 50, 0, 0, 0],
    # canceled at once on 20 March: 0 at 31 March
    "cus_cancel_now": [50, 50, 0, 0, 0, 0],
    # the February invoice was voided: nothing covers February
    "cus_voided": [50, 0, 50, 50, 50, 50],
    # the June invoice is open (past due): still MRR
    "cus_past_due": [50, 50, 50, 50, 50, 50],
    # 90.00 EUR a month, converted with the rates row of the invoice's day or the latest
    # earlier one: Jan (31 Dec row, 0.90 EUR per USD) 90 / 0.90 = 100; Feb–Apr (1 Feb row,
    # 0.92) 90 / 0.92 = 97.826087; May–Jun (15 Apr row, 0.95) 90 / 0.95 = 94.736842
    "cus_eur": [100, 97.826087, 97.826087, 97.826087, 94.736842, 94.736842],
    # 14,000 JPY (zero-decimal: not ÷ 100) at 140 JPY per USD: 14000 / 140 = 100
    "cus_jpy": [100, 100, 100, 100, 100, 100],
    # cus_trial_lapses (a trial that never converted) never pays: no row at all
}
SETTINGS = {"as_of": AS_OF, "billing": "stripe"}


def _mrr_by_customer(rows) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {}
    for customer, start, mrr in rows:
        start = date.fromisoformat(str(start)[:10])
        if start in MONTHS:
            got.setdefault(customer, [0.0] * 6)[MONTHS.index(start)] = round(float(mrr), 6)
    return {k: v for k, v in got.items() if any(v)}


def periods(source: Path, settings) -> tuple[list, object]:
    """customer_periods (customer, period start, MRR, movement) built on DuckDB from
    ``source``, and the staging report (only the models these tests read are built)."""
    import duckdb

    from saas_retention.builders.duckdb.run import build_models
    from saas_retention.builders.duckdb.sources import open_source
    from saas_retention.builders.duckdb.stage import Stager

    con = duckdb.connect()
    try:
        report = Stager(con, open_source(source), settings).run()
        build_models(con, settings, report, only=["customer_periods"])
        rows = con.execute("select customer_id, period_start, mrr, movement from "
                           "customer_periods order by 1, 2").fetchall()
        return rows, report
    finally:
        con.close()


@pytest.fixture(scope="module")
def built():
    return periods(FIXTURE, parse_settings(SETTINGS))


def test_monthly_mrr_matches_the_rules(built):
    rows, report = built
    assert report.warnings == []
    # no stripe_schema in SETTINGS: Stripe's own schema is detected from the tables
    assert report.connector_notes["stripe"].startswith(
        "data_pipeline schema (Stripe Data Pipeline / Sigma), detected from the source's tables")
    assert _mrr_by_customer((c, p, m) for c, p, m, _ in rows) == \
        {k: [float(x) for x in v] for k, v in EXPECTED.items()}


def test_contract_rows_are_contiguous_paid_spans(built):
    _, report = built
    # one row per contiguous span of one item at one amount: one per subscription (13), two
    # for seats, upgrade, downgrade and voided (8 for 4), three for EUR (its converted amount
    # changes with the rates twice), none for the lapsed trial: 13 + 8 + 3 − 1 = 23
    assert report.tables["subscriptions"] == 23
    assert report.connectors["stripe"]["invoice_line_items"] == 101


def test_contract_rows_of_a_few_subscriptions():
    import duckdb

    from saas_retention.builders.duckdb.sources import open_source
    from saas_retention.builders.duckdb.stage import Stager

    con = duckdb.connect()
    try:
        Stager(con, open_source(FIXTURE), parse_settings(SETTINGS)).read()
        rows = con.execute(
            "select subscription_id, customer_id, start_date::varchar, end_date::varchar, mrr, "
            "billing_interval, billing_interval_count from raw_subscriptions where customer_id "
            "in ('cus_monthly', 'cus_voided', 'cus_cancel_at_end', 'cus_annual') "
            "order by 1").fetchall()
    finally:
        con.close()
    assert [(r[0], r[1], r[2], r[3], float(r[4]), r[5], float(r[6])) for r in rows] == [
        ("sub_annual#1", "cus_annual", "2024-02-10", "2025-02-10", 100.0, "year", 1.0),
        # the cancel requested on 10 April stops the April line that day
        ("sub_cancel_at_end#1", "cus_cancel_at_end", "2024-01-01", "2024-04-10", 50.0,
         "month", 1.0),
        # six monthly lines, one span; the draft July invoice does not extend it
        ("sub_monthly#1", "cus_monthly", "2024-01-01", "2024-07-01", 50.0, "month", 1.0),
        # the voided February invoice splits the coverage in two
        ("sub_voided#1", "cus_voided", "2024-01-01", "2024-02-01", 50.0, "month", 1.0),
        ("sub_voided#2", "cus_voided", "2024-03-01", "2024-07-01", 50.0, "month", 1.0),
    ]


def contract_rows(settings) -> list[tuple]:
    """The connector's contract rows, as the DuckDB build creates them."""
    import duckdb

    from saas_retention.builders.duckdb.sources import open_source
    from saas_retention.builders.duckdb.stage import Stager

    con = duckdb.connect()
    try:
        Stager(con, open_source(FIXTURE), settings).read()
        return con.execute("select subscription_id, customer_id, start_date, end_date, mrr "
                           "from raw_subscriptions order by 1").fetchall()
    finally:
        con.close()


LOS_ANGELES = {**SETTINGS, "timezone": "America/Los_Angeles"}


def test_days_are_local_days_of_utc_timestamps():
    rows = {r[0]: r[1:] for r in contract_rows(parse_settings(LOS_ANGELES))}
    # periods start at midnight UTC: 4 pm the day before in Los Angeles (UTC−8 in winter,
    # −7 from 10 March); the cancel of 10 April 16:20 UTC is 09:20 that day there
    assert rows["sub_monthly#1"][1:3] == (date(2023, 12, 31), date(2024, 6, 30))
    assert rows["sub_cancel_at_end#1"][1:3] == (date(2023, 12, 31), date(2024, 4, 10))
    # 10 Feb 09:30 UTC is 01:30 that day in Los Angeles
    assert rows["sub_annual#1"][1:3] == (date(2024, 2, 10), date(2025, 2, 10))
    # the invoice of 1 Feb 00:00 UTC is dated 31 Jan there, before the rates row of 1 Feb
    # (a calendar day, not converted): it keeps the 31 Dec rate, 90 / 0.90 = 100, so the
    # first two EUR lines form one span at 100
    assert rows["sub_eur#1"][1:] == (date(2023, 12, 31), date(2024, 2, 29), 100)


def test_incremental_builds_of_a_stripe_source_are_full(tmp_path, monkeypatch):
    from saas_retention.builders.duckdb.run import BuildResult
    from saas_retention.builders.duckdb.stage import StagingReport
    from saas_retention.builders.incremental import refresh

    # the decision is under test, not the full build (test_monthly_mrr_matches_the_rules)
    full_builds = []
    monkeypatch.setattr(refresh, "build", lambda *a, **k: full_builds.append(k) or
                        BuildResult(staging=StagingReport()))
    (tmp_path / "stripe.duckdb").write_bytes(b"")  # an earlier build's file
    result = refresh.build_incremental(FIXTURE, parse_settings(SETTINGS),
                                       database=tmp_path / "stripe.duckdb")
    assert len(full_builds) == 1 and full_builds[0]["keep_state"]
    assert not result.incremental
    assert result.reason == "subscriptions comes from the 'stripe' connector"


# -- Fivetran's schema ---------------------------------------------------------------------------

def _read(name: str) -> list[dict]:
    with (FIXTURE / f"{name}.csv").open() as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict], header: list[str] | None = None) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header or list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def fivetran_copy(target: Path) -> Path:
    """The fixture account as Fivetran's Stripe connector lands it (docs/stripe.md#fivetran):
    singular tables, `plan_id` and `type` on lines, invoices' `created`, subscription_history
    with `_fivetran_active`, discount amounts as `discount` rows of type invoice_line_item."""
    target.mkdir(parents=True, exist_ok=True)
    lines = [{**{k: v for k, v in r.items() if k not in ("price_id", "source_type")},
              "plan_id": r["price_id"], "type": r["source_type"]}
             for r in _read("invoice_line_items")]
    _write(target / "invoice_line_item.csv", lines)
    _write(target / "invoice.csv", [{**{k: v for k, v in r.items() if k != "date"},
                                     "created": r["date"]} for r in _read("invoices")])
    _write(target / "price.csv", _read("prices"))
    history = [{**r, "_fivetran_active": "true"} for r in _read("subscriptions")]
    # an older version of a row, no longer active, must not count
    history.append({**history[0], "canceled_at": "2024-01-02 00:00:00",
                    "_fivetran_active": "false"})
    _write(target / "subscription_history.csv", history)
    _write(target / "coupon.csv", _read("coupons"))
    coupons = {r["id"]: r["coupon_id"] for r in _read("discounts")}
    _write(target / "discount.csv", [
        {"id": r["discount_id"], "coupon_id": coupons[r["discount_id"]],
         "type": "invoice_line_item", "type_id": r["invoice_line_item_id"],
         "amount": r["amount"]} for r in _read("invoice_line_item_discount_amounts")])
    _write(target / "invoice_line_item_tax_amount.csv", _read("invoice_line_item_tax_amounts"))
    shutil.copy(FIXTURE / "exchange_rates_from_usd.csv", target)
    return target


def test_fivetran_schema_gives_the_same_mrr(built, tmp_path):
    source = fivetran_copy(tmp_path / "fivetran")
    rows, report = periods(source, parse_settings({**SETTINGS, "stripe_schema": "fivetran"}))
    assert rows == built[0]
    assert report.connector_notes["stripe"] == (
        "fivetran schema (Fivetran), set by stripe_schema; prices from price")


# Fivetran's `plan` table (Stripe's legacy Plans API), written in Fivetran's columns
# (fixtures/stripe/README.md names the pages): the same account's recurring items as plans
PLANS = FIXTURE / "fivetran" / "plan.csv"
LEGACY = ("price_basic", "price_pro")  # the plans the "both" landing's price table lacks


def fivetran_plan_copy(target: Path, with_prices: bool) -> Path:
    """The account as Fivetran lands one created before Stripe's Prices API: `plan` instead of
    `price` (``with_prices`` False: lines name their item by `plan_id` only, a one-time item
    has none), or `plan` besides a `price` table lacking the legacy plans LEGACY (lines have
    `price_id` too, empty for the legacy plans' lines: they are found by `plan_id`)."""
    fivetran_copy(target)
    (target / "price.csv").unlink()
    shutil.copy(PLANS, target / "plan.csv")
    recurring = {r["id"] for r in _read("prices") if r["type"] == "recurring"}
    lines = []
    for r in _read("invoice_line_items"):
        line = {k: v for k, v in r.items() if k not in ("price_id", "source_type")}
        line["type"] = r["source_type"]
        line["plan_id"] = r["price_id"] if r["price_id"] in recurring else ""
        if with_prices:
            line["price_id"] = "" if r["price_id"] in LEGACY else r["price_id"]
        lines.append(line)
    _write(target / "invoice_line_item.csv", lines)
    if with_prices:
        # the plans price does hold are in both tables (Stripe lists a plan as a price of the
        # same id): each must count once
        _write(target / "price.csv", [r for r in _read("prices") if r["id"] not in LEGACY])
    return target


def test_fivetran_plan_table_gives_the_same_mrr(built, tmp_path):
    source = fivetran_plan_copy(tmp_path / "plans", with_prices=False)
    rows, report = periods(source, parse_settings(SETTINGS))
    assert report.warnings == []
    assert report.connector_notes["stripe"] == (
        "fivetran schema (Fivetran), detected from the source's tables (set stripe_schema to "
        "choose); prices from plan (Stripe's legacy Plans API)")
    assert rows == built[0]


def test_fivetran_price_and_plan_tables_give_the_same_mrr(built, tmp_path):
    source = fivetran_plan_copy(tmp_path / "both", with_prices=True)
    # a line of an unknown subscription whose price both tables hold: reported once (a
    # line read twice would merge into the same MRR span, but be counted twice)
    lines = list(csv.DictReader((source / "invoice_line_item.csv").open()))
    _write(source / "invoice_line_item.csv", [*lines, {
        **lines[0], "id": "il_x1", "subscription_id": "sub_gone", "plan_id": "price_annual",
        "price_id": "price_annual"}])
    rows, report = periods(source, parse_settings(SETTINGS))
    assert report.connector_notes["stripe"].endswith(
        "prices from price, and from plan for the legacy Plans price does not hold")
    assert [str(w).split(": ")[1:3] for w in report.warnings] == [[
        "invoice_line_item.subscription_id", "subscription line items whose subscription is "
        "not in the subscriptions table"]]
    assert "(1 row)" in str(report.warnings[0]) and "il_x1" in str(report.warnings[0])
    assert rows == built[0]



# -- Airbyte's schema -----------------------------------------------------------------------------

def _epoch(text: str) -> int | str:
    """A UTC timestamp of the fixture as Airbyte lands Stripe's times: epoch seconds."""
    if not text:
        return ""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def airbyte_copy(target: Path) -> Path:
    """The fixture account as Airbyte's Stripe source lands it (docs/stripe.md#airbyte; the
    stream schemas of airbyte-integrations/connectors/source-stripe): Stripe's API field names,
    nested objects and arrays as JSON text (a line's `price`, `period`, `discount_amounts`,
    `tax_amounts`; a price's `recurring`; a subscription's `discount` with its coupon), times as
    epoch seconds, no discounts stream."""
    target.mkdir(parents=True, exist_ok=True)
    discounts: dict[str, list[dict]] = {}
    for r in _read("invoice_line_item_discount_amounts"):
        discounts.setdefault(r["invoice_line_item_id"], []).append(
            {"amount": int(r["amount"]), "discount": r["discount_id"]})
    taxes: dict[str, list[dict]] = {}
    for r in _read("invoice_line_item_tax_amounts"):
        taxes.setdefault(r["invoice_line_item_id"], []).append(
            {"amount": int(r["amount"]), "inclusive": r["inclusive"] == "true",
             "tax_rate": r["tax_rate_id"]})
    _write(target / "invoice_line_items.csv", [
        {"id": r["id"], "object": "line_item", "invoice_id": r["invoice_id"],
         "invoice": r["invoice_id"], "subscription": r["subscription_id"],
         "price": json.dumps({"id": r["price_id"], "object": "price"}),
         "type": r["source_type"], "proration": r["proration"], "amount": r["amount"],
         "currency": r["currency"],
         "period": json.dumps({"start": _epoch(r["period_start"]),
                               "end": _epoch(r["period_end"])}),
         "discount_amounts": json.dumps(discounts.get(r["id"], [])),
         "tax_amounts": json.dumps(taxes.get(r["id"], [])), "quantity": r["quantity"]}
        for r in _read("invoice_line_items")])
    _write(target / "invoices.csv", [
        {"id": r["id"], "status": r["status"], "created": _epoch(r["date"]),
         "customer": r["customer_id"], "subscription": r["subscription_id"],
         "currency": r["currency"]} for r in _read("invoices")])
    _write(target / "prices.csv", [
        {"id": r["id"], "type": r["type"], "currency": r["currency"],
         "unit_amount": r["unit_amount"],
         "recurring": json.dumps({"interval": r["recurring_interval"],
                                  "interval_count": int(r["recurring_interval_count"]),
                                  "usage_type": r["recurring_usage_type"]})
         if r["type"] == "recurring" else ""} for r in _read("prices")])
    coupons = {r["id"]: r for r in _read("coupons")}
    by_subscription = {r["subscription_id"]: r for r in _read("discounts")}

    def discount(subscription: str) -> str:
        d = by_subscription.get(subscription)
        if d is None:
            return ""
        k = coupons[d["coupon_id"]]
        return json.dumps({"id": d["id"], "object": "discount", "coupon": {
            "id": k["id"], "duration": k["duration"]}})
    _write(target / "subscriptions.csv", [
        {"id": r["id"], "customer": r["customer_id"], "status": r["status"],
         "canceled_at": _epoch(r["canceled_at"]), "ended_at": _epoch(r["ended_at"]),
         "discount": discount(r["id"])} for r in _read("subscriptions")])
    _write(target / "coupons.csv", _read("coupons"))
    shutil.copy(FIXTURE / "exchange_rates_from_usd.csv", target)
    return target


def test_airbyte_schema_gives_the_same_mrr(built, tmp_path):
    source = airbyte_copy(tmp_path / "airbyte")
    # detected: Airbyte's table names are Stripe's own minus three, and its line items'
    # columns are the API's
    rows, report = periods(source, parse_settings(SETTINGS))
    assert report.warnings == []
    assert report.connector_notes["stripe"].startswith("airbyte schema (Airbyte), detected")
    assert rows == built[0]


# -- every dialect, bad input ---------------------------------------------------------------------

def test_the_connector_compiles_for_every_dialect():
    # every engine for Stripe's own schema; the other schema and the checks (the same rule
    # steps) on the two executed here — compiling the whole matrix costs half a minute
    settings = parse_settings({**SETTINGS, "reporting_currency": "eur",
                               "timezone": "Europe/Paris"})
    connector = connector_for(settings, "subscriptions")
    for dialect in SUPPORTED:
        if dialect in ("sqlite", "mysql"):
            # no conversion to a named zone there (SQLite has no zones; MySQL's CONVERT_TZ
            # gives NULL without the server's time-zone tables): refused by name, UTC compiles
            with pytest.raises(ConfigError, match="time.zone"):
                connector.query(Target(dialect, settings))
            t = Target(dialect, settings.with_overrides(timezone="UTC"))
        else:
            t = Target(dialect, settings)
        assert "invoice_line_items" in connector.query(t).sql(dialect,
                                                              unsupported_level="raise")
    fivetran = connector_for(settings.with_overrides(stripe_schema="fivetran"),
                             "subscriptions")
    airbyte = connector_for(settings.with_overrides(stripe_schema="airbyte"), "subscriptions")
    for dialect in ("duckdb", "postgres"):
        t = Target(dialect, settings.with_overrides(stripe_schema="fivetran"))
        assert "subscription_history" in fivetran.query(t).sql(dialect,
                                                               unsupported_level="raise")
        for check_ in fivetran.checks:
            check_.rows(t).sql(dialect, unsupported_level="raise")
        t = Target(dialect, settings.with_overrides(stripe_schema="airbyte"))
        assert "discount_amounts" in airbyte.query(t).sql(dialect, unsupported_level="raise")


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "src"
    shutil.copytree(FIXTURE, target)
    return target


def test_missing_stripe_table_or_column_is_named(tmp_path):
    # Airbyte's tables are not Stripe's own: the schema set wins over the one detected, and
    # the columns it needs are named
    with pytest.raises(SourceProblems, match=r"invoice_line_items\.subscription: column missing"):
        check(FIXTURE, parse_settings({**SETTINGS, "stripe_schema": "airbyte"}))
    src = _copy(tmp_path)
    (src / "coupons.csv").unlink()
    with pytest.raises(SourceError, match="no table 'coupons' — stripe's coupons table"):
        check(src, parse_settings({**SETTINGS, "stripe_schema": "data_pipeline"}))
    src = _copy(tmp_path / "b")
    rows = _read("invoices")
    _write(src / "invoices.csv", [{k: v for k, v in r.items() if k != "status"} for r in rows])
    with pytest.raises(SourceProblems, match=r"invoices\.status: column missing"):
        check(src, parse_settings(SETTINGS))


def test_undetectable_schema_says_what_each_schema_needs(tmp_path):
    # none matches: Stripe's own tables without coupons (which every schema reads)
    src = _copy(tmp_path)
    (src / "coupons.csv").unlink()
    with pytest.raises(SourceError) as info:
        check(src, parse_settings(SETTINGS))
    text = str(info.value)
    assert text.startswith(
        "billing: stripe without stripe_schema: the schema is detected from the source's "
        "tables, and they match none of Stripe's schemas; set stripe_schema: data_pipeline | "
        "fivetran | airbyte in the config\n  tables found: discounts, exchange_rates_from_usd, "
        "invoice_line_item_discount_amounts, invoice_line_item_tax_amounts, "
        "invoice_line_items, invoices, prices, subscriptions\n")
    assert ("  data_pipeline (Stripe Data Pipeline / Sigma) needs invoice_line_items, invoices, "
            "prices, subscriptions, coupons, discounts, invoice_line_item_discount_amounts, "
            "invoice_line_item_tax_amounts, exchange_rates_from_usd: missing tables coupons\n"
            ) in text
    assert ("  fivetran (Fivetran) needs invoice_line_item, invoice, price or plan, "
            "subscription_history, coupon, discount, invoice_line_item_tax_amount, "
            "exchange_rates_from_usd: missing tables invoice_line_item, invoice, price or plan, "
            "subscription_history, coupon, discount, invoice_line_item_tax_amount\n") in text
    assert ("  airbyte (Airbyte) needs invoice_line_items, invoices, prices, subscriptions, "
            "coupons, exchange_rates_from_usd: missing tables coupons; missing columns "
            "invoice_line_items.subscription, invoice_line_items.price, ") in text
    # several match: a landing holding Stripe's own tables with Airbyte's columns added
    src = _copy(tmp_path / "both")
    added = {"invoice_line_items": ("subscription", "price", "type", "period",
                                    "discount_amounts", "tax_amounts"),
             "invoices": ("created",), "prices": ("recurring",),
             "subscriptions": ("customer", "discount")}
    for table, columns in added.items():
        _write(src / f"{table}.csv", [{**r, **dict.fromkeys(columns, "")}
                                      for r in _read(table)])
    with pytest.raises(SourceError) as info:
        check(src, parse_settings(SETTINGS))
    text = str(info.value)
    assert "tables, and they match data_pipeline and airbyte; set stripe_schema: " \
        "data_pipeline | fivetran | airbyte in the config" in text
    assert "data_pipeline (Stripe Data Pipeline / Sigma) needs invoice_line_items, " in text
    assert "airbyte (Airbyte) needs invoice_line_items, invoices, prices, subscriptions, " \
        "coupons, exchange_rates_from_usd: every table and column found" in text
    # the setting settles it
    report = check(src, parse_settings({**SETTINGS, "stripe_schema": "data_pipeline"}))
    assert report.connector_notes["stripe"].startswith("data_pipeline schema (Stripe Data "
                                                       "Pipeline / Sigma), set by stripe_schema")


def test_check_prints_the_schema_read(tmp_path):
    from click.testing import CliRunner

    from saas_retention.cli import main

    config = tmp_path / "retention.yml"
    config.write_text("billing: stripe\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--source", str(FIXTURE), "--as-of", AS_OF,
                                       "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "stripe connector: data_pipeline schema (Stripe Data Pipeline / Sigma), detected from "
        "the source's tables (set stripe_schema to choose)")


def test_unknown_interval_is_counted_with_examples(tmp_path):
    # 'quarter' is not a Stripe interval (a quarterly price is month × 3): both lines of the
    # quarterly subscription (il_015, il_016) count and cannot be made monthly
    src = _copy(tmp_path)
    prices = _read("prices")
    for r in prices:
        if r["id"] == "price_quarterly":
            r.update(recurring_interval="quarter", recurring_interval_count="1")
    _write(src / "prices.csv", prices)
    with pytest.raises(SourceProblems) as info:
        check(src, parse_settings(SETTINGS))
    text = str(info.value)
    assert "error: invoice_line_items.price_id: counted line items whose price has an " \
        "interval other than day, week, month or year, or a non-positive interval count " \
        "(2 rows)" in text
    assert "line_id='il_015'" in text and "line_id='il_016'" in text
    assert "interval='quarter'" in text and "price_id='price_quarterly'" in text


def test_bad_lines_are_counted_with_examples(tmp_path):
    src = _copy(tmp_path)
    lines = _read("invoice_line_items")
    extra = dict(lines[0])
    # a line of an unknown price, one of an unknown subscription (warnings: left out), a
    # negative net amount and a GBP line before the first rates row (errors)
    lines += [{**extra, "id": "il_x1", "price_id": "price_gone"},
              {**extra, "id": "il_x2", "subscription_id": "sub_gone"},
              {**extra, "id": "il_x3", "amount": "-100"},
              {**extra, "id": "il_x4", "currency": "gbp", "invoice_id": "in_early"}]
    _write(src / "invoice_line_items.csv", lines)
    invoices = _read("invoices")
    invoices.append({**invoices[0], "id": "in_early", "date": "2023-12-01 00:00:00"})
    _write(src / "invoices.csv", invoices)
    with pytest.raises(SourceProblems) as info:
        check(src, parse_settings(SETTINGS))
    text = str(info.value)
    assert "error: invoice_line_items.amount: counted line items whose amount after forever " \
        "discounts and inclusive taxes is negative (1 row)" in text and "il_x3" in text
    assert "exchange_rates_from_usd.buy_currency_exchange_rates: no exchange rate" in text
    assert "currency='gbp'" in text and "invoice_day='2023-12-01'" in text
    # the warnings are reported too once the errors are fixed
    _write(src / "invoice_line_items.csv", lines[:-2])
    report = check(src, parse_settings(SETTINGS))
    warned = {str(w).split(":")[1].strip(): str(w) for w in report.warnings}
    assert "(1 row)" in warned["invoice_line_items.price_id"]
    assert "price_gone" in warned["invoice_line_items.price_id"]
    assert "sub_gone" in warned["invoice_line_items.subscription_id"]


# -- PostgreSQL --------------------------------------------------------------------------------

def _pg_type(column: str, epochs: bool) -> str:
    if column in ("amount", "unit_amount", "quantity", "recurring_interval_count",
                  "duration_in_months", "percent_off", "interval_count", "trial_period_days"):
        return "bigint"
    if column in ("proration", "inclusive", "_fivetran_active", "active", "is_deleted",
                  "livemode"):
        return "boolean"
    if column in ("date", "created", "canceled_at", "ended_at", "period_start", "period_end"):
        return "bigint" if epochs and column != "date" else "timestamp"
    if column in ("price", "period", "discount_amounts", "tax_amounts", "recurring",
                  "discount"):
        return "jsonb"
    return "text"


def _load_pg(con, schema: str, folder: Path, epochs: bool = False) -> None:
    con.execute(f'drop schema if exists "{schema}" cascade')
    con.execute(f'create schema "{schema}"')
    for path in sorted(folder.glob("*.csv")):
        with path.open() as f:
            rows = list(csv.DictReader(f))
        columns = list(rows[0])
        typed = ", ".join(f'"{c}" {_pg_type(c, epochs)}' for c in columns)
        con.execute(f'create table "{schema}"."{path.stem}" ({typed})')
        marks = ", ".join(["%s"] * len(columns))
        with con.cursor() as cur:
            cur.executemany(f'insert into "{schema}"."{path.stem}" values ({marks})',
                            [[r[c] if r[c] != "" else None for c in columns] for r in rows])


@pytest.mark.postgres
def test_postgres_gives_the_same_rows(built, tmp_path, pg_dsn):
    pytest.importorskip("sqlalchemy")
    import psycopg

    from saas_retention.builders.warehouse.run import WarehouseBuild

    want_periods = built[0]
    url = pg_url(pg_dsn)
    # Stripe's own schema, typed as the Data Pipeline lands it; Airbyte's (JSON columns,
    # epoch seconds: the engine-specific reads); Fivetran's with both price and plan (the
    # union of the two and the lines' price_id or plan_id), its schema detected from the
    # warehouse's tables
    for schema, folder, stripe_schema in (
            ("stripe_dp", FIXTURE, "data_pipeline"),
            ("stripe_ab", airbyte_copy(tmp_path / "airbyte"), "airbyte"),
            ("stripe_ft", fivetran_plan_copy(tmp_path / "fivetran", with_prices=True), None)):
        with psycopg.connect(pg_dsn, autocommit=True) as con:
            _load_pg(con, schema, folder, epochs=stripe_schema == "airbyte")
        settings = parse_settings({**SETTINGS, "stripe_schema": stripe_schema})
        # only what is compared: the connector, the staging and customer_periods
        result = WarehouseBuild(url, settings, schema=schema, target_schema=f"{schema}_out"
                                ).run(only=["customer_periods"])
        assert result.warnings == []
        assert result.connector_notes["stripe"].startswith(
            f"{stripe_schema} schema" if stripe_schema else "fivetran schema (Fivetran), detected")
        with psycopg.connect(pg_dsn) as con:
            got = con.execute(f'select customer_id, period_start, mrr, movement from '
                              f'"{schema}_out".customer_periods order by 1, 2').fetchall()
        assert [(c, p, float(m), mv) for c, p, m, mv in got] == \
            [(c, p, float(m), mv) for c, p, m, mv in want_periods], stripe_schema
    # the connector's rows with local days in another time zone: PostgreSQL's conversion of
    # UTC timestamps (AT TIME ZONE twice) gives DuckDB's days
    settings = parse_settings(LOS_ANGELES)
    query = connector_for(settings, "subscriptions").query(
        Target("postgres", settings, source_schema="stripe_dp"))
    with psycopg.connect(pg_dsn) as con:
        got = con.execute(f"select subscription_id, customer_id, start_date, end_date, mrr "
                          f"from ({query.sql('postgres')}) as q order by 1").fetchall()
    assert [(*r[:4], float(r[4])) for r in got] == \
        [(*r[:4], float(r[4])) for r in contract_rows(settings)]
