"""Stripe billing → the `subscriptions` contract (docs/stripe.md).

Stripe's data says which period each invoice line paid for; the contract wants subscription
periods with a monthly amount. The query here reads the lines that count as recurring revenue
(the rules of docs/stripe.md, numbered as there), gives each its monthly amount in the reporting
currency and the days it covers, and merges the contiguous lines of one subscription item at one
amount into one contract row. Every model downstream then reads MRR history as from any other
source; the month-end snapshot of customer_periods turns it into monthly MRR.

The rules are written once over seven normalised relations (lines, invoices, prices,
subscriptions, forever discounts, inclusive taxes, exchange rates); each Stripe schema (Stripe's
own Data Pipeline / Sigma tables, Fivetran's, Airbyte's) only says how its tables give those
relations.
Engine differences (JSON members, dates, local days) come from the dialect registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from sqlglot import exp

from saas_retention.connectors import register
from saas_retention.connectors.base import Connector, ConnectorCheck, SourceTables, ToolTable
from saas_retention.core.contract import (
    INTERVAL_TO_MONTHLY,
    MONEY_LIMIT,
    MONEY_TYPE,
    monthly_amount,
)
from saas_retention.core.errors import SourceError
from saas_retention.dialects import (
    date_functions,
    json_text,
    record_functions,
    time_functions,
    utc_to_local,
)
from saas_retention.relations.rules import beyond_money
from saas_retention.relations.target import Target, cast, col, tool_table

# Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal): amounts
# are whole units, not hundredths
ZERO_DECIMAL = ("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf")
COUNTED_STATUSES = ("paid", "open")  # rule 2: draft, void and uncollectible never count


def s(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def n(value: float) -> exp.Literal:
    return exp.Literal.number(value)


def c(name: str, table: str | None = None) -> exp.Column:
    return col(name, table)


# -- the normalised relations each schema provides ------------------------------------------------

@dataclass(frozen=True)
class StripeSchema:
    """How one landing of Stripe's data gives the seven relations the rules read. Each
    function returns a SELECT with the normalised column names listed beside it."""

    name: str
    tables: tuple[ToolTable, ...]
    # line_id, invoice_id, subscription_id, price_id, is_subscription, proration, amount,
    # currency, period_start, period_end
    lines: Callable[[Target], exp.Select]
    invoices: Callable[[Target], exp.Select]  # invoice_id, status, invoice_at
    # price_id, price_type, interval, interval_count, usage_type
    prices: Callable[[Target], exp.Query]
    # subscription_id, customer_id, canceled_at, ended_at
    subscriptions: Callable[[Target], exp.Select]
    forever_discounts: Callable[[Target], exp.Select]  # line_id, amount
    inclusive_taxes: Callable[[Target], exp.Select]  # line_id, amount
    rates: Callable[[Target], exp.Select]  # rate_at, rates (JSON text, units per 1 USD)
    # the lines' columns naming their price and subscription, as messages name them
    price_column: str = "price_id"
    subscription_column: str = "subscription_id"
    # what a build reading this schema says it read, besides the schema's name
    layout: str = ""


def _as(e: exp.Expression, name: str) -> exp.Alias:
    return exp.alias_(e, name, quoted=True)


def _text(e: exp.Expression) -> exp.Expression:
    return cast(e, "VARCHAR")


def _bool(e: exp.Expression) -> exp.Expression:
    return cast(e, "BOOLEAN")


def _number(e: exp.Expression) -> exp.Expression:
    return cast(e, "DOUBLE")


def _is_true(e: exp.Expression) -> exp.Expression:
    return exp.EQ(this=exp.func("coalesce", _bool(e), exp.false()), expression=exp.true())


# -- Stripe Data Pipeline / Sigma ------------------------------------------------------------------

DP_TABLES = (
    ToolTable("invoice_line_items", ("id", "invoice_id", "subscription_id", "price_id",
                                     "source_type", "proration", "amount", "currency",
                                     "period_start", "period_end")),
    ToolTable("invoices", ("id", "status", "date")),
    ToolTable("prices", ("id", "type", "recurring_interval", "recurring_interval_count",
                         "recurring_usage_type")),
    ToolTable("subscriptions", ("id", "customer_id", "canceled_at", "ended_at")),
    ToolTable("coupons", ("id", "duration")),
    ToolTable("discounts", ("id", "coupon_id")),
    ToolTable("invoice_line_item_discount_amounts", ("invoice_line_item_id", "discount_id",
                                                     "amount")),
    ToolTable("invoice_line_item_tax_amounts", ("invoice_line_item_id", "amount", "inclusive")),
    ToolTable("exchange_rates_from_usd", ("date", "sell_currency",
                                          "buy_currency_exchange_rates")),
)


def _dp_lines(t: Target) -> exp.Select:
    return exp.select(
        _as(_text(c("id")), "line_id"), _as(_text(c("invoice_id")), "invoice_id"),
        _as(_text(c("subscription_id")), "subscription_id"),
        _as(_text(c("price_id")), "price_id"),
        _as(exp.EQ(this=_text(c("source_type")), expression=s("subscription")),
            "is_subscription"),
        _as(_is_true(c("proration")), "proration"),
        _as(_number(c("amount")), "amount"), _as(exp.func("lower", _text(c("currency"))),
                                                 "currency"),
        _as(c("period_start"), "period_start"), _as(c("period_end"), "period_end"),
    ).from_(tool_table(t, "invoice_line_items"))


def _forever(t: Target, amounts: exp.Select, coupons: str) -> exp.Select:
    """``amounts`` (line_id, coupon_id, amount) restricted to coupons that last forever
    (rule 3: once and repeating coupons are not subtracted, as Stripe does by default)."""
    forever = exp.select(_as(_text(c("id")), "coupon_id")).from_(tool_table(t, coupons)).where(
        exp.EQ(this=_text(c("duration")), expression=s("forever")))
    return (exp.select(c("line_id", "a"), c("amount", "a"))
            .from_(amounts.subquery("a"))
            .join(forever.subquery("k"), on=exp.EQ(this=c("coupon_id", "k"),
                                                   expression=c("coupon_id", "a"))))


def _dp_discount_amounts(t: Target) -> exp.Select:
    discounts = exp.select(_as(_text(c("id")), "discount_id"),
                           _as(_text(c("coupon_id")), "coupon_id")).from_(
        tool_table(t, "discounts"))
    amounts = exp.select(
        _as(_text(c("invoice_line_item_id")), "line_id"),
        _as(_text(c("discount_id")), "discount_id"), _as(_number(c("amount")), "amount"),
    ).from_(tool_table(t, "invoice_line_item_discount_amounts"))
    return _forever(t, exp.select(c("line_id", "a"), c("coupon_id", "d"), c("amount", "a"))
                    .from_(amounts.subquery("a"))
                    .join(discounts.subquery("d"), on=exp.EQ(
                        this=c("discount_id", "d"), expression=c("discount_id", "a"))),
                    "coupons")


DATA_PIPELINE = StripeSchema(
    "data_pipeline", DP_TABLES,
    lines=_dp_lines,
    invoices=lambda t: exp.select(_as(_text(c("id")), "invoice_id"),
                                  _as(_text(c("status")), "status"),
                                  _as(c("date"), "invoice_at")
                                  ).from_(tool_table(t, "invoices")),
    prices=lambda t: exp.select(
        _as(_text(c("id")), "price_id"), _as(_text(c("type")), "price_type"),
        _as(_text(c("recurring_interval")), "interval"),
        _as(_number(c("recurring_interval_count")), "interval_count"),
        _as(_text(c("recurring_usage_type")), "usage_type")).from_(tool_table(t, "prices")),
    subscriptions=lambda t: exp.select(
        _as(_text(c("id")), "subscription_id"), _as(_text(c("customer_id")), "customer_id"),
        _as(c("canceled_at"), "canceled_at"), _as(c("ended_at"), "ended_at"),
    ).from_(tool_table(t, "subscriptions")),
    forever_discounts=_dp_discount_amounts,
    inclusive_taxes=lambda t: exp.select(
        _as(_text(c("invoice_line_item_id")), "line_id"), _as(_number(c("amount")), "amount"),
    ).from_(tool_table(t, "invoice_line_item_tax_amounts")).where(_is_true(c("inclusive"))),
    rates=lambda t: exp.select(
        _as(c("date"), "rate_at"), _as(_text(c("buy_currency_exchange_rates")), "rates"),
    ).from_(tool_table(t, "exchange_rates_from_usd")).where(
        exp.EQ(this=exp.func("lower", _text(c("sell_currency"))), expression=s("usd"))),
)


# -- Fivetran's Stripe connector -------------------------------------------------------------------
# Table and column names as Fivetran's dbt_stripe_source staging models read them: singular
# tables, `plan_id` on lines (a Price's id: Stripe's Plans and Prices share ids), `type` instead
# of `source_type`, invoices' `created`, and a subscription_history table whose current row is
# `_fivetran_active`. Discount amounts per line are the `discount` rows of type
# 'invoice_line_item' (type_id: the line); inclusive taxes are in invoice_line_item_tax_amount.
# Accounts from before Stripe's Prices API hold their recurring items in `plan` (the legacy
# Plans API: `interval`, `interval_count`, `usage_type`, always recurring), which Fivetran lands
# besides or instead of `price`; dbt_stripe reads `price` when the landing has it, else `plan`
# (its stg_stripe__price_plan and get_price_plan_columns).

FIVETRAN_TABLES = (
    ToolTable("invoice_line_item", ("id", "invoice_id", "subscription_id", "plan_id", "type",
                                    "proration", "amount", "currency", "period_start",
                                    "period_end")),
    ToolTable("invoice", ("id", "status", "created")),
    ToolTable("price", ("id", "type", "recurring_interval", "recurring_interval_count",
                        "recurring_usage_type")),
    ToolTable("subscription_history", ("id", "customer_id", "canceled_at", "ended_at",
                                       "_fivetran_active")),
    ToolTable("coupon", ("id", "duration")),
    ToolTable("discount", ("id", "coupon_id", "type", "type_id", "amount")),
    ToolTable("invoice_line_item_tax_amount", ("invoice_line_item_id", "amount", "inclusive")),
    ToolTable("exchange_rates_from_usd", ("date", "sell_currency",
                                          "buy_currency_exchange_rates")),
)
FIVETRAN_PLAN = ToolTable("plan", ("id", "interval", "interval_count", "usage_type"),
                          "Stripe's legacy Plans (accounts from before the Prices API)")


def _ft_lines(t: Target, price_id: bool = False) -> exp.Select:
    """Fivetran's lines; with ``price_id`` (a landing whose lines have that column too) a line
    names its price by `price_id`, else by `plan_id` (the same id for a plan's line)."""
    price = (exp.func("coalesce", _text(c("price_id")), _text(c("plan_id"))) if price_id
             else _text(c("plan_id")))
    return exp.select(
        _as(_text(c("id")), "line_id"), _as(_text(c("invoice_id")), "invoice_id"),
        _as(_text(c("subscription_id")), "subscription_id"),
        _as(price, "price_id"),
        _as(exp.EQ(this=_text(c("type")), expression=s("subscription")), "is_subscription"),
        _as(_is_true(c("proration")), "proration"),
        _as(_number(c("amount")), "amount"),
        _as(exp.func("lower", _text(c("currency"))), "currency"),
        _as(c("period_start"), "period_start"), _as(c("period_end"), "period_end"),
    ).from_(tool_table(t, "invoice_line_item"))


def _ft_prices(t: Target) -> exp.Select:
    return exp.select(
        _as(_text(c("id")), "price_id"), _as(_text(c("type")), "price_type"),
        _as(_text(c("recurring_interval")), "interval"),
        _as(_number(c("recurring_interval_count")), "interval_count"),
        _as(_text(c("recurring_usage_type")), "usage_type")).from_(tool_table(t, "price"))


def _ft_plans(t: Target, besides_prices: bool = False) -> exp.Select:
    """Fivetran's `plan` rows as prices: a plan is always recurring. ``besides_prices``: only
    the plans `price` does not hold (Stripe lists a plan as a price of the same id, so a
    landing with both tables may hold an item twice, and a line would count twice)."""
    plans = exp.select(
        _as(_text(c("id", "pl")), "price_id"), _as(_text(s("recurring")), "price_type"),
        _as(_text(c("interval", "pl")), "interval"),
        _as(_number(c("interval_count", "pl")), "interval_count"),
        _as(_text(c("usage_type", "pl")), "usage_type"),
    ).from_(exp.alias_(tool_table(t, "plan"), "pl", table=True))
    if not besides_prices:
        return plans
    priced = exp.select(_as(_text(c("id")), "price_id")).distinct().from_(tool_table(t, "price"))
    return (plans.join(priced.subquery("pr"), on=exp.EQ(
        this=c("price_id", "pr"), expression=_text(c("id", "pl"))), join_type="left",
        copy=False).where(c("price_id", "pr").is_(exp.null())))


FIVETRAN = StripeSchema(
    "fivetran", FIVETRAN_TABLES,
    lines=_ft_lines,
    invoices=lambda t: exp.select(_as(_text(c("id")), "invoice_id"),
                                  _as(_text(c("status")), "status"),
                                  _as(c("created"), "invoice_at")
                                  ).from_(tool_table(t, "invoice")),
    prices=_ft_prices,
    subscriptions=lambda t: exp.select(
        _as(_text(c("id")), "subscription_id"), _as(_text(c("customer_id")), "customer_id"),
        _as(c("canceled_at"), "canceled_at"), _as(c("ended_at"), "ended_at"),
    ).from_(tool_table(t, "subscription_history")).where(_is_true(c("_fivetran_active"))),
    forever_discounts=lambda t: _forever(t, exp.select(
        _as(_text(c("type_id")), "line_id"), _as(_text(c("coupon_id")), "coupon_id"),
        _as(_number(c("amount")), "amount"),
    ).from_(tool_table(t, "discount")).where(
        exp.EQ(this=_text(c("type")), expression=s("invoice_line_item"))), "coupon"),
    inclusive_taxes=lambda t: exp.select(
        _as(_text(c("invoice_line_item_id")), "line_id"), _as(_number(c("amount")), "amount"),
    ).from_(tool_table(t, "invoice_line_item_tax_amount")).where(_is_true(c("inclusive"))),
    rates=DATA_PIPELINE.rates,
    price_column="plan_id",
)


def fivetran_schema(price: bool = True, plan: bool = False,
                    line_price_id: bool = False) -> StripeSchema:
    """Fivetran's schema for a landing with the `price` table, the legacy `plan` table or
    both, whose lines have `price_id` besides `plan_id` (``line_price_id``) or not."""
    if not (price or plan):
        raise ValueError("a Fivetran landing has a price or a plan table")
    lines, *others = FIVETRAN_TABLES
    if line_price_id:
        lines = replace(lines, columns=(*lines.columns, "price_id"))
    tables = (lines, *(x for x in others if x.name != "price" or price),
              *((FIVETRAN_PLAN,) if plan else ()))

    def prices(t: Target) -> exp.Query:
        if not plan:
            return _ft_prices(t)
        if not price:
            return _ft_plans(t)
        return exp.union(_ft_prices(t), _ft_plans(t, besides_prices=True), distinct=False)
    layout = ("prices from price" if not plan else
              "prices from plan (Stripe's legacy Plans API)" if not price else
              "prices from price, and from plan for the legacy Plans price does not hold")
    return replace(FIVETRAN, tables=tables, prices=prices, layout=layout,
                   lines=lambda t: _ft_lines(t, line_price_id),
                   price_column="price_id" if line_price_id else "plan_id")


# -- Airbyte's Stripe source -----------------------------------------------------------------------
# Airbyte lands Stripe's API objects one stream per table with Stripe's API field names, nested
# objects and arrays as JSON columns and times as epoch seconds (the stream schemas of
# airbyte-integrations/connectors/source-stripe, docs/stripe.md#airbyte): a line's `price` and
# `period` are objects, its `discount_amounts` and `tax_amounts` arrays; a price's interval is in
# its `recurring` object. Airbyte has no discounts stream: a discount's coupon is read from the
# `discount` object of the subscription it applies to, and the exchange rates are the same
# `exchange_rates_from_usd` table as for the other schemas (Airbyte does not sync Stripe's rates).

AIRBYTE_TABLES = (
    ToolTable("invoice_line_items", ("id", "invoice_id", "subscription", "price", "type",
                                     "proration", "amount", "currency", "period",
                                     "discount_amounts", "tax_amounts")),
    ToolTable("invoices", ("id", "status", "created")),
    ToolTable("prices", ("id", "type", "recurring")),
    ToolTable("subscriptions", ("id", "customer", "canceled_at", "ended_at", "discount")),
    ToolTable("coupons", ("id", "duration")),
    ToolTable("exchange_rates_from_usd", ("date", "sell_currency",
                                          "buy_currency_exchange_rates")),
)


def _member(t: Target, doc: str, *path: str) -> exp.Expression:
    """The scalar at ``path`` of the JSON column ``doc``, as text."""
    return record_functions(t.dialect).text(c(doc), path)


def _epoch(t: Target, value: exp.Expression) -> exp.Expression:
    """Airbyte's epoch seconds → the naive UTC timestamp the rules read."""
    return record_functions(t.dialect).epoch_to_utc(_number(value), 1)


def _ab_lines(t: Target) -> exp.Select:
    return exp.select(
        _as(_text(c("id")), "line_id"), _as(_text(c("invoice_id")), "invoice_id"),
        _as(_text(c("subscription")), "subscription_id"),
        _as(_member(t, "price", "id"), "price_id"),
        _as(exp.EQ(this=_text(c("type")), expression=s("subscription")), "is_subscription"),
        _as(_is_true(c("proration")), "proration"),
        _as(_number(c("amount")), "amount"),
        _as(exp.func("lower", _text(c("currency"))), "currency"),
        _as(_epoch(t, _member(t, "period", "start")), "period_start"),
        _as(_epoch(t, _member(t, "period", "end")), "period_end"),
    ).from_(tool_table(t, "invoice_line_items"))


def _ab_line_amounts(t: Target, array: str, *keys: str) -> exp.Select:
    """One row per element of a line's JSON array ``array``: the line and the elements'
    ``keys`` (as text)."""
    r = record_functions(t.dialect)
    return (exp.select(_as(_text(c("id")), "line_id"),
                       *(_as(r.element("e", (k,)), k) for k in keys))
            .from_(tool_table(t, "invoice_line_items"))
            .join(r.elements(c(array), "e"), join_type="cross", copy=False))


def _ab_discount_amounts(t: Target) -> exp.Select:
    coupons = exp.select(
        _as(_member(t, "discount", "id"), "discount_id"),
        _as(_member(t, "discount", "coupon", "id"), "coupon_id"),
    ).distinct().from_(tool_table(t, "subscriptions")).where(
        _member(t, "discount", "id").is_(exp.null()).not_())
    amounts = _ab_line_amounts(t, "discount_amounts", "discount", "amount")
    return _forever(t, exp.select(c("line_id", "a"), c("coupon_id", "d"),
                                  _as(_number(c("amount", "a")), "amount"))
                    .from_(amounts.subquery("a"))
                    .join(coupons.subquery("d"), on=exp.EQ(
                        this=c("discount_id", "d"), expression=c("discount", "a"))),
                    "coupons")


AIRBYTE = StripeSchema(
    "airbyte", AIRBYTE_TABLES,
    lines=_ab_lines,
    invoices=lambda t: exp.select(_as(_text(c("id")), "invoice_id"),
                                  _as(_text(c("status")), "status"),
                                  _as(_epoch(t, c("created")), "invoice_at")
                                  ).from_(tool_table(t, "invoices")),
    prices=lambda t: exp.select(
        _as(_text(c("id")), "price_id"), _as(_text(c("type")), "price_type"),
        _as(_member(t, "recurring", "interval"), "interval"),
        _as(_number(_member(t, "recurring", "interval_count")), "interval_count"),
        _as(_member(t, "recurring", "usage_type"), "usage_type")).from_(
        tool_table(t, "prices")),
    subscriptions=lambda t: exp.select(
        _as(_text(c("id")), "subscription_id"), _as(_text(c("customer")), "customer_id"),
        _as(_epoch(t, c("canceled_at")), "canceled_at"),
        _as(_epoch(t, c("ended_at")), "ended_at"),
    ).from_(tool_table(t, "subscriptions")),
    forever_discounts=_ab_discount_amounts,
    inclusive_taxes=lambda t: exp.select(
        c("line_id"), _as(_number(c("amount")), "amount"),
    ).from_(_ab_line_amounts(t, "tax_amounts", "amount", "inclusive").subquery("ta")).where(
        _is_true(c("inclusive"))),
    rates=DATA_PIPELINE.rates,
    price_column="price", subscription_column="subscription",
)

SCHEMAS = {x.name: x for x in (DATA_PIPELINE, FIVETRAN, AIRBYTE)}


# -- the rules ---------------------------------------------------------------------------------

def local_day(t: Target, ts: exp.Expression) -> exp.Expression:
    """Rule 1: the day of a UTC timestamp in the reporting time zone."""
    f = date_functions(t.dialect)
    value = time_functions(t.dialect).to_timestamp(ts)
    if t.settings.timezone != "UTC":
        value = utc_to_local(value, t.settings.timezone, t.dialect)
    return f.to_date(value)


def _schema(t: Target, x: StripeSchema | None = None) -> StripeSchema:
    """``x``, else the schema the settings name (Stripe's own when none is set)."""
    return x or SCHEMAS[t.settings.stripe_schema or DATA_PIPELINE.name]


# The rules as named steps (common table expressions): each Stripe table is read once however
# many steps and checks use it, and every engine gets a query of modest size.
JOINED, COUNTED, RATES, RATED, MONTHLY = ("sr_joined", "sr_counted", "sr_rates", "sr_rated",
                                           "sr_monthly")


def _joined(t: Target, x: StripeSchema | None = None) -> exp.Select:
    """Every line item with its invoice, price and subscription (left joins: a line whose
    price or subscription is unknown stays, for the checks to report)."""
    x = _schema(t, x)
    return (
        exp.select(
            *(c(name, "l") for name in ("line_id", "invoice_id", "subscription_id", "price_id",
                                        "is_subscription", "proration", "amount", "currency",
                                        "period_start", "period_end")),
            c("status", "i"), c("invoice_at", "i"), c("price_type", "p"), c("interval", "p"),
            c("interval_count", "p"), c("usage_type", "p"), c("customer_id", "s"),
            c("canceled_at", "s"), c("ended_at", "s"),
            _as(c("price_id", "p"), "known_price"),
            _as(c("subscription_id", "s"), "known_subscription"),
        )
        .from_(x.lines(t).subquery("l"))
        .join(x.invoices(t).subquery("i"), on=exp.EQ(this=c("invoice_id", "i"),
                                                     expression=c("invoice_id", "l")),
              join_type="left", copy=False)
        .join(x.prices(t).subquery("p"), on=exp.EQ(this=c("price_id", "p"),
                                                   expression=c("price_id", "l")),
              join_type="left", copy=False)
        .join(x.subscriptions(t).subquery("s"), on=exp.EQ(this=c("subscription_id", "s"),
                                                          expression=c("subscription_id", "l")),
              join_type="left", copy=False)
    )


JOINED_COLUMNS = ("line_id", "invoice_id", "subscription_id", "price_id", "is_subscription",
                  "proration", "amount", "currency", "period_start", "period_end", "status",
                  "invoice_at", "price_type", "interval", "interval_count", "usage_type",
                  "customer_id", "canceled_at", "ended_at", "known_price",
                  "known_subscription")


def _counts() -> exp.Expression:
    """Rule 2: a subscription line, no proration, a paid or open invoice, a licensed
    recurring price, a known subscription."""
    return exp.and_(
        exp.EQ(this=c("is_subscription"), expression=exp.true()),
        exp.EQ(this=c("proration"), expression=exp.false()),
        c("status").isin(*(s(v) for v in COUNTED_STATUSES)),
        exp.EQ(this=c("price_type"), expression=s("recurring")),
        exp.EQ(this=c("usage_type"), expression=s("licensed")),
        c("known_subscription").is_(exp.null()).not_(),
    )


def _counted(t: Target, x: StripeSchema | None = None) -> exp.Select:
    """The lines that count (rule 2) with their net amount in minor units (rule 3) and the
    local day of their invoice."""
    x = _schema(t, x)
    discounts = (exp.select(c("line_id"), _as(exp.func("sum", c("amount")), "amount"))
                 .from_(x.forever_discounts(t).subquery("fd")).group_by(c("line_id")))
    taxes = (exp.select(c("line_id"), _as(exp.func("sum", c("amount")), "amount"))
             .from_(x.inclusive_taxes(t).subquery("it")).group_by(c("line_id")))
    net = exp.Sub(
        this=exp.Sub(this=c("amount", "j"),
                     expression=exp.func("coalesce", c("amount", "d"), n(0))),
        expression=exp.func("coalesce", c("amount", "x"), n(0)))
    return (
        exp.select(*(c(name, "j") for name in JOINED_COLUMNS), _as(net, "net_minor"),
                   _as(local_day(t, c("invoice_at", "j")), "invoice_day"))
        .from_(exp.alias_(exp.to_table(JOINED), "j", table=True))
        .join(discounts.subquery("d"), on=exp.EQ(this=c("line_id", "d"),
                                                 expression=c("line_id", "j")),
              join_type="left", copy=False)
        .join(taxes.subquery("x"), on=exp.EQ(this=c("line_id", "x"),
                                             expression=c("line_id", "j")),
              join_type="left", copy=False)
        .where(_counts())
    )


def _rates(t: Target, x: StripeSchema | None = None) -> exp.Select:
    # a rates row's `date` is a calendar day, not an instant: no time-zone conversion
    day = date_functions(t.dialect).to_date(time_functions(t.dialect).to_timestamp(c("rate_at")))
    return exp.select(_as(day, "rate_day"), c("rates")).from_(
        _schema(t, x).rates(t).subquery("r"))


def _foreign(t: Target) -> exp.Expression:
    return exp.NEQ(this=c("currency"), expression=s(t.settings.reporting_currency))


def _rated(t: Target) -> exp.Select:
    """The counted lines with the exchange rates of rule 5: the rates row of the invoice's
    day, else the latest earlier one (looked up only for lines in another currency)."""
    latest = (
        exp.select(c("line_id", "cl"), _as(exp.func("max", c("rate_day", "r")), "rate_day"))
        .from_(exp.alias_(exp.to_table(COUNTED), "cl", table=True))
        .join(exp.alias_(exp.to_table(RATES), "r", table=True),
              on=exp.LTE(this=c("rate_day", "r"), expression=c("invoice_day", "cl")),
              copy=False)
        .where(exp.NEQ(this=c("currency", "cl"), expression=s(t.settings.reporting_currency)))
        .group_by(c("line_id", "cl"))
    )
    return (
        exp.select(*(c(name, "cl") for name in (*JOINED_COLUMNS, "net_minor", "invoice_day")),
                   _as(c("rate_day", "lr"), "rate_day"), _as(c("rates", "r"), "rates"))
        .from_(exp.alias_(exp.to_table(COUNTED), "cl", table=True))
        .join(latest.subquery("lr"), on=exp.EQ(this=c("line_id", "lr"),
                                               expression=c("line_id", "cl")),
              join_type="left", copy=False)
        .join(exp.alias_(exp.to_table(RATES), "r", table=True),
              on=exp.EQ(this=c("rate_day", "r"), expression=c("rate_day", "lr")),
              join_type="left", copy=False)
    )


def _rate_of(t: Target, currency: exp.Expression) -> exp.Expression:
    """Units of ``currency`` per 1 USD in the line's rates row (USD itself: 1)."""
    member = _number(json_text(t.dialect)(c("rates"), currency.copy()))
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=currency.copy(), expression=s("usd")),
                                true=n(1))], default=member)


def _units(minor: exp.Expression) -> exp.Expression:
    """Rule 5: minor units → currency units (zero-decimal currencies are whole units)."""
    return exp.Case(ifs=[exp.If(this=c("currency").isin(*(s(z) for z in ZERO_DECIMAL)),
                                true=minor.copy())],
                    default=exp.Div(this=minor, expression=n(100)))


def _monthly_amount(t: Target) -> exp.Expression:
    """A rated line's monthly amount in the reporting currency (rules 3–5), before the money
    type holds it."""
    reporting = t.settings.reporting_currency
    fx = exp.Case(ifs=[exp.If(this=exp.EQ(this=c("currency"), expression=s(reporting)),
                              true=n(1))],
                  default=exp.Div(this=_rate_of(t, s(reporting)), expression=_rate_of(
                      t, c("currency"))))
    value = exp.Mul(this=_units(c("net_minor")), expression=fx)
    return monthly_amount(value, c("interval"), c("interval_count"))


def _monthly(t: Target) -> exp.Select:
    """Each counted line's monthly amount in the reporting currency and the days it covers
    (rule 6: its period, stopped on the day its subscription was canceled or ended)."""
    monthly = _monthly_amount(t)
    start, end = local_day(t, c("period_start")), local_day(t, c("period_end"))
    stop = local_day(t, exp.func("coalesce", c("canceled_at"), c("ended_at")))
    covered_end = exp.Case(ifs=[exp.If(this=exp.LT(this=stop.copy(), expression=end.copy()),
                                       true=stop.copy())], default=end.copy())
    money = date_functions(t.dialect).money
    return exp.select(
        c("line_id"), c("subscription_id"), c("customer_id"), c("price_id"),
        _as(exp.func("lower", c("interval")), "interval"), c("interval_count"),
        _as(start, "start_day"), _as(covered_end, "end_day"),
        _as(money(monthly), "mrr"),
    ).from_(RATED)


STEPS: tuple[tuple[str, Callable[[Target], exp.Select]], ...] = (
    (JOINED, _joined), (COUNTED, _counted), (RATES, _rates), (RATED, _rated),
    (MONTHLY, _monthly))
# the steps that read the schema's relations (the others read the steps before them)
READS_SCHEMA = (JOINED, COUNTED, RATES)


def with_steps(t: Target, query: exp.Select, upto: str,
               x: StripeSchema | None = None) -> exp.Select:
    """``query`` with the rule steps up to ``upto`` as its common table expressions, reading
    the tables of schema ``x`` (default: the one the settings name)."""
    for name, step in STEPS:
        built = step(t, x) if name in READS_SCHEMA else step(t)
        query = query.with_(name, as_=built, copy=False)
        if name == upto:
            break
    return query


def subscriptions_query(t: Target, x: StripeSchema | None = None) -> exp.Query:
    """Rule 7: the contract rows — one per contiguous span of paid coverage of one
    subscription item (price) at one monthly amount. Lines covering no day (canceled before
    their period) and lines worth nothing (trials, free plans) give no row."""
    lines = (exp.select(exp.Star()).from_(MONTHLY)
             .where(exp.and_(exp.GT(this=c("end_day"), expression=c("start_day")),
                             exp.GT(this=c("mrr"), expression=n(0)))))
    item = [c("subscription_id"), c("price_id"), c("mrr")]
    order = [exp.Ordered(this=c("start_day")), exp.Ordered(this=c("end_day")),
             exp.Ordered(this=c("line_id"))]
    previous_end = exp.Window(
        this=exp.func("max", c("end_day")), partition_by=[x.copy() for x in item],
        order=exp.Order(expressions=[o.copy() for o in order]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                            end=n(1), end_side="PRECEDING"))
    starts = exp.Case(ifs=[exp.If(this=exp.LTE(this=c("start_day"), expression=previous_end),
                                  true=n(0))], default=n(1))
    flagged = exp.select(exp.Star(), _as(starts, "starts_span")).from_(lines.subquery("cl"))
    span = exp.Window(
        this=exp.func("sum", c("starts_span")), partition_by=[x.copy() for x in item],
        order=exp.Order(expressions=[o.copy() for o in order]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                            end="CURRENT ROW"))
    numbered = exp.select(exp.Star(), _as(span, "span_no")).from_(flagged.subquery("fl"))
    spans = (
        exp.select(c("subscription_id"), c("price_id"), c("mrr"), c("span_no"),
                   _as(exp.func("max", c("customer_id")), "customer_id"),
                   _as(exp.func("max", c("interval")), "billing_interval"),
                   _as(exp.func("max", c("interval_count")), "billing_interval_count"),
                   _as(exp.func("min", c("start_day")), "start_date"),
                   _as(exp.func("max", c("end_day")), "end_date"))
        .from_(numbered.subquery("nb"))
        .group_by(c("subscription_id"), c("price_id"), c("mrr"), c("span_no"))
    )
    rank = exp.Window(this=exp.func("row_number"), partition_by=[c("subscription_id")],
                      order=exp.Order(expressions=[exp.Ordered(this=c("start_date")),
                                                   exp.Ordered(this=c("price_id")),
                                                   exp.Ordered(this=c("mrr"))]))
    row_id = exp.func("concat", c("subscription_id"), s("#"), _text(rank))
    return with_steps(t, exp.select(
        _as(row_id, "subscription_id"), c("customer_id"), c("start_date"), c("end_date"),
        c("mrr"), _as(exp.false(), "is_trial"), c("billing_interval"),
        c("billing_interval_count"), _as(cast(exp.null(), "VARCHAR"), "cancel_reason"),
    ).from_(spans.subquery("sp")), MONTHLY, x)


# -- the checks (counted, with examples; docs/stripe.md#bad-input) ---------------------------------

def _line_check(where: Callable[[Target], exp.Expression], step: str,
                show: tuple[str, ...], x: StripeSchema) -> Callable[[Target], exp.Query]:
    """The rows of rule step ``step`` meeting ``where``, its ``show`` columns as text."""
    def rows(t: Target) -> exp.Query:
        return with_steps(t, exp.select(*(_as(_text(c(k)), k) for k in show)).from_(step)
                          .where(where(t)).order_by(c("line_id")), step, x)
    return rows


def _unknown(column: str) -> Callable[[Target], exp.Expression]:
    def where(_t: Target) -> exp.Expression:
        return exp.and_(exp.EQ(this=c("is_subscription"), expression=exp.true()),
                        c(column).is_(exp.null()))
    return where


def _missing_rate(t: Target) -> exp.Expression:
    no_row = c("rate_day").is_(exp.null())
    no_member = _number(json_text(t.dialect)(c("rates"), c("currency"))).is_(exp.null())
    reporting = s(t.settings.reporting_currency)
    no_reporting = _number(json_text(t.dialect)(c("rates"), reporting)).is_(exp.null())
    return exp.and_(_foreign(t), exp.or_(
        no_row,
        exp.and_(exp.NEQ(this=c("currency"), expression=s("usd")), no_member),
        exp.and_(exp.NEQ(this=reporting.copy(), expression=s("usd")), no_reporting)))


def _unknown_interval(_t: Target) -> exp.Expression:
    return exp.or_(
        exp.func("lower", c("interval")).isin(*(s(k) for k in INTERVAL_TO_MONTHLY)).not_(),
        c("interval").is_(exp.null()),
        exp.func("coalesce", c("interval_count"), n(0)) <= n(0))


def _checks(x: StripeSchema) -> tuple[ConnectorCheck, ...]:
    lines_table = x.tables[0].name

    def rows(where: Callable[[Target], exp.Expression], step: str,
             show: tuple[str, ...]) -> Callable[[Target], exp.Query]:
        return _line_check(where, step, show, x)
    return (
        ConnectorCheck(
            "unknown_subscription", lines_table, x.subscription_column,
            "subscription line items whose subscription is not in the subscriptions table: "
            "left out of MRR (their customer is unknown)",
            rows(_unknown("known_subscription"), JOINED,
                 ("line_id", "invoice_id", "subscription_id")), "warning"),
        ConnectorCheck(
            "unknown_price", lines_table, x.price_column,
            "subscription line items whose price is not in the prices table: left out of MRR "
            "(whether the price is recurring and licensed is unknown)",
            rows(_unknown("known_price"), JOINED,
                 ("line_id", "invoice_id", "price_id")), "warning"),
        ConnectorCheck(
            "unknown_interval", lines_table, x.price_column,
            "counted line items whose price has an interval other than day, week, month or "
            "year, or a non-positive interval count",
            rows(_unknown_interval, COUNTED,
                 ("line_id", "price_id", "interval", "interval_count"))),
        ConnectorCheck(
            "negative_net", lines_table, "amount",
            "counted line items whose amount after forever discounts and inclusive taxes is "
            "negative",
            rows(lambda _t: exp.LT(this=c("net_minor"), expression=n(0)),
                 COUNTED, ("line_id", "amount", "net_minor"))),
        # the monthly amount is cast to the money type (_monthly): amounts in micro-units, or
        # a rate that carries them beyond it, would fail that cast
        ConnectorCheck(
            "amount_range", lines_table, "amount",
            "counted line items whose monthly amount in the reporting currency is beyond the "
            f"largest amount the money type {MONEY_TYPE} holds (less than {MONEY_LIMIT:,} "
            "either side of 0; amounts are in minor units, cents), or infinite or NaN",
            rows(lambda t: beyond_money(_monthly_amount(t)), RATED,
                 ("line_id", "amount", "currency", "interval", "interval_count"))),
        ConnectorCheck(
            "missing_rate", "exchange_rates_from_usd", "buy_currency_exchange_rates",
            "no exchange rate on or before the invoice's day for the line's currency (or the "
            "reporting currency): MRR in another currency cannot be converted",
            rows(_missing_rate, RATED,
                 ("line_id", "currency", "invoice_day"))),
    )


# -- which schema: set, or detected from the source's tables ------------------------------------

SCHEMA_CHOICE = f"stripe_schema: {' | '.join(SCHEMAS)}"
# what the messages call each schema
LANDINGS = {"data_pipeline": "Stripe Data Pipeline / Sigma", "fivetran": "Fivetran",
            "airbyte": "Airbyte"}


def _needs(x: StripeSchema) -> list[tuple[ToolTable, ...]]:
    """The tables schema ``x`` reads, each as the tables that may stand for it (Fivetran's
    `price`: `price` or `plan`)."""
    return [(t, FIVETRAN_PLAN) if x is FIVETRAN and t.name == "price" else (t,)
            for t in x.tables]


def _gaps(x: StripeSchema, found: SourceTables) -> tuple[list[str], list[str]]:
    """The tables of ``x`` the source lacks, and the columns it lacks in those it holds."""
    tables, columns = [], []
    for group in _needs(x):
        held = [(t, found.columns(t.name)) for t in group]
        held = [(t, have) for t, have in held if have is not None]
        if not held:
            tables.append(" or ".join(t.name for t in group))
        for t, have in held:
            lower = {h.lower() for h in have}
            columns += [f"{t.name}.{k}" for k in t.columns if k.lower() not in lower]
    return tables, columns


def detect(found: SourceTables) -> StripeSchema:
    """The schema whose tables the source holds, when exactly one does; of several (Airbyte's
    table names are a subset of Stripe's own), the one whose tables also have every column it
    reads, else the one whose line items have theirs (where the schemas differ most: a column
    missing elsewhere is then reported as for a schema that was set). Otherwise a SourceError
    saying what each schema needs."""
    gaps = {name: _gaps(x, found) for name, x in SCHEMAS.items()}
    by_tables = [name for name, (tables, _) in gaps.items() if not tables]
    chosen = by_tables
    if len(chosen) > 1:
        chosen = [n for n in by_tables if not gaps[n][1]]
    if len(by_tables) > 1 and not chosen:
        chosen = [n for n in by_tables if not any(
            k.startswith(f"{SCHEMAS[n].tables[0].name}.") for k in gaps[n][1])]
    if len(chosen) == 1:
        return SCHEMAS[chosen[0]]
    why = ("they match none of Stripe's schemas" if not by_tables else
           f"they match {' and '.join(by_tables)}")
    lines = [f"billing: stripe without stripe_schema: the schema is detected from the source's "
             f"tables, and {why}; set {SCHEMA_CHOICE} in the config",
             f"  tables found: {', '.join(sorted(found.names())) or 'none'}"]
    for name, (tables, columns) in gaps.items():
        needed = ", ".join(" or ".join(t.name for t in g) for g in _needs(SCHEMAS[name]))
        missing = [f"missing tables {', '.join(tables)}"] if tables else []
        if columns:
            shown = ", ".join(columns[:6]) + (f" and {len(columns) - 6} more"
                                               if len(columns) > 6 else "")
            missing.append(f"missing columns {shown}")
        lines.append(f"  {name} ({LANDINGS[name]}) needs {needed}: "
                     f"{'; '.join(missing) or 'every table and column found'}")
    raise SourceError("\n".join(lines))


def _fit(x: StripeSchema, found: SourceTables, detected: bool) -> Connector:
    """The connector reading ``found`` in schema ``x``: Fivetran's with the price and plan
    tables the source holds."""
    if x is FIVETRAN:
        price, plan = (found.columns(t) is not None for t in ("price", "plan"))
        lines = found.columns("invoice_line_item") or ()
        x = fivetran_schema(price or not plan, plan,
                            "price_id" in {k.lower() for k in lines})
    how = ("detected from the source's tables (set stripe_schema to choose)" if detected
           else "set by stripe_schema")
    note = f"{x.name} schema ({LANDINGS[x.name]}), {how}" + (f"; {x.layout}" if x.layout
                                                              else "")
    return _connector(x, note)


def _detect_and_fit(source: SourceTables) -> Connector:
    # the schemas share table names: each table's columns are looked up once
    memo: dict[str, object] = {}

    def columns(name: str):
        if name not in memo:
            memo[name] = source.columns(name)
        return memo[name]
    found = SourceTables(columns, source.names)
    return _fit(detect(found), found, detected=True)


def _connector(schema: StripeSchema, note: str = "") -> Connector:
    fitted = bool(note)
    return Connector(
        name="stripe", produces="subscriptions", tables=schema.tables,
        build=partial(subscriptions_query, x=schema), checks=_checks(schema),
        description=f"Stripe billing ({schema.name} schema)",
        fit=None if fitted else partial(_fit, schema, detected=False),
        other_tables=(FIVETRAN_PLAN,) if schema is FIVETRAN else (),
        note=note,
    )


STRIPE = register(Connector(
    name="stripe", produces="subscriptions", tables=DP_TABLES,
    build=partial(subscriptions_query, x=DATA_PIPELINE), checks=_checks(DATA_PIPELINE),
    description="Stripe billing: MRR history from invoice line items (docs/stripe.md)",
    variant_setting="stripe_schema",
    variants={name: _connector(x) for name, x in SCHEMAS.items()},
    fit=_detect_and_fit,
))
