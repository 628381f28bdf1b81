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
                _c("customer_id", "id", True, "the customer's id, one row each"),
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
                _c("subscription_id", "id", True, "the subscription period's id, one row each"),
                _c("customer_id", "id", True, "the paying customer"),
                _c("start_date", "date", True, "first day the subscription counts (inclusive)"),
                _c("end_date", "date", False, "exclusive; NULL = still running"),
                _c("mrr", "number", True, "normalised monthly amount, one currency"),
                _c("is_trial", "bool", False, "a trial: counted as 0 MRR"),
                _c("billing_interval", "text", False, "month / year / week / day"),
                _c("billing_interval_count", "number", False,
                   "a positive whole number: a term lasts this many billing intervals"),
                _c("cancel_reason", "text", False, "why the subscription ended, as recorded"),
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
                _c("customer_id", "id", True, "the customer (account) the event belongs to"),
                _c("user_id", "id", False, "the person within the account"),
                _c("event_time", "timestamp", True,
                   "when it happened (without a time zone: local time in the reporting zone)"),
                _c("event_name", "text", True, "what happened (login, create_report…)"),
                _c("session_id", "id", False, "the tool's session, when it has one"),
                _c("duration_seconds", "number", False, "time spent, in seconds"),
            ),
            description="One row per product event (optional): the engagement models' input.",
        ),
        Table(
            "survey_responses",
            (
                _c("customer_id", "id", True, "the responding customer"),
                _c("responded_at", "timestamp", True, "when the response was given"),
                _c("survey", "text", True, "nps or csat"),
                _c("score", "number", True, "the score: NPS 0–10, CSAT 1–5"),
                _c("comment", "text", False, "the free-text comment"),
                _c("sentiment", "text", False,
                   "positive / neutral / negative, when the tool labels it"),
            ),
            description="One row per NPS or CSAT response (optional).",
        ),
        Table(
            "referrals",
            (
                _c("referrer_customer_id", "id", True, "the customer who referred"),
                _c("referred_at", "timestamp", True, "when the referral was made"),
                _c("referred_customer_id", "id", False,
                   "the customer referred, once they signed up"),
            ),
            description="One row per referral (optional).",
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
                _c("customer_id", "id", True, "the customer who opened the ticket"),
                _c("created_at", "timestamp", True, "when the ticket was opened"),
                _c("resolved_at", "timestamp", False, "when it was resolved; NULL = open"),
            ),
            description="One row per support ticket (optional).",
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
