"""The input contract: the tables and columns users map their own data onto
(docs/definitions.md#input-contract)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # id | date | timestamp | number | text | bool
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    required: bool = False
    # customers: any extra column becomes a dimension of every model.
    open_columns: bool = False
    description: str = ""
    key: tuple[str, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _c(name: str, kind: str, required: bool = True, description: str = "") -> Column:
    return Column(name, kind, required, description)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "customers",
            (
                _c("customer_id", "id"),
                _c("signup_date", "date", False, "when the account was created"),
            ),
            open_columns=True,
            key=("customer_id",),
            description="One row per customer; extra columns (plan, segment, country…) "
            "become dimensions.",
        ),
        Table(
            "subscriptions",
            (
                _c("subscription_id", "id"),
                _c("customer_id", "id"),
                _c("start_date", "date"),
                _c("end_date", "date", False, "exclusive; NULL = still running"),
                _c("mrr", "number", True, "normalised monthly amount, one currency"),
                _c("is_trial", "bool", False),
                _c("billing_interval", "text", False, "month / year / week / day"),
                _c("billing_interval_count", "number", False,
                   "a positive whole number: a term lasts this many billing intervals"),
                _c("cancel_reason", "text", False),
                _c("currency", "text", False,
                   "ISO code of mrr's currency; none or reporting_currency: no conversion "
                   "(docs/definitions.md#currencies)"),
            ),
            required=True,
            key=("subscription_id",),
            description="One row per subscription period; the only required table.",
        ),
        Table(
            "events",
            (
                _c("customer_id", "id"),
                _c("user_id", "id", False),
                _c("event_time", "timestamp"),
                _c("event_name", "text"),
                _c("session_id", "id", False),
                _c("duration_seconds", "number", False),
            ),
        ),
        Table(
            "survey_responses",
            (
                _c("customer_id", "id"),
                _c("responded_at", "timestamp"),
                _c("survey", "text", True, "nps or csat"),
                _c("score", "number"),
                _c("comment", "text", False),
                _c("sentiment", "text", False),
            ),
        ),
        Table(
            "referrals",
            (
                _c("referrer_customer_id", "id"),
                _c("referred_at", "timestamp"),
                _c("referred_customer_id", "id", False),
            ),
        ),
        Table(
            "exchange_rates",
            (
                _c("date", "date", True, "the day the rate applies from"),
                _c("currency", "text", True, "ISO code of the currency converted"),
                _c("rate", "number", True, "units of reporting_currency per 1 unit of it"),
            ),
            description="Rates to the reporting currency, for subscriptions' currency column "
            "(docs/definitions.md#currencies).",
        ),
        Table(
            "support_tickets",
            (
                _c("customer_id", "id"),
                _c("created_at", "timestamp"),
                _c("resolved_at", "timestamp", False),
            ),
        ),
    )
}

# The money type every build stages amounts in (DECIMAL(18, 6): dialects.base DateFunctions.money)
# holds less than 10^12 in absolute value; every number column is staged in it.
MONEY_LIMIT = 10 ** 12
MONEY_TYPE = "DECIMAL(18, 6)"
# the largest billing_interval_count: a term of more months than the terms' numbers relation
# (100,000) never renews anyway, and 12 × it stays a 32-bit integer on every engine
MAX_INTERVAL_COUNT = 100_000

# Amount given per billing interval → monthly (docs/definitions.md#amounts-per-billing-interval).
INTERVAL_TO_MONTHLY = {
    "month": 1.0,
    "year": 1.0 / 12.0,
    "week": 52.0 / 12.0,
    "day": 365.0 / 12.0,
}


def monthly_amount(amount, interval, count):
    """The monthly amount of ``amount`` charged per ``count`` × ``interval`` (the setting
    ``amounts_per_interval``): one expression for the DuckDB staging and every warehouse.
    An interval outside INTERVAL_TO_MONTHLY gives NULL; the staging checks refuse it first."""
    from sqlglot import exp

    factor = exp.Case(ifs=[
        exp.If(this=exp.EQ(this=exp.func("lower", exp.func("trim", interval.copy())),
                           expression=exp.Literal.string(k)),
               true=exp.Literal.number(v))
        for k, v in INTERVAL_TO_MONTHLY.items()])
    every = exp.func("coalesce", count, exp.Literal.number(1))
    return exp.Div(this=exp.Mul(this=amount, expression=factor), expression=every)
