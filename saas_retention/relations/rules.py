"""The contract rules, each defined once: the DuckDB staging (builders/duckdb/stage.py) and the
warehouse checks (builders/warehouse/run.py) run the same rules and report them word for word
the same.

A rule is data: the contract table and column it is about, the condition a breaking row
meets, its message and severity. The condition is built from a small resolver each build
implements with its own columns (``RuleColumns``): the DuckDB build reads its typed views
(``typed_<table>``) and counts every rule of a table in one scan (``count(*) filter``); a
warehouse reads the user's source columns, casting where it must, left-joined to the known
customers, and counts in one query (``sum(case …)``).

Where the builds tested a rule differently before it was shared, each keeps its test behind the
resolver, so both report the same rows as before (``not_whole``, ``unknown_customer``). The
rules only one build can have stay in it and say why: values that do not convert to the
contract type (DuckDB), UTC offsets in text time columns (warehouses).

Duplicate keys are a query of their own (``duplicate_keys``: a GROUP BY, not a row condition),
run by both builds on every key column of the contract and reported alike
(``duplicate_key_problem``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlglot import exp

from saas_retention.core.config import Settings
from saas_retention.core.contract import (
    INTERVAL_TO_MONTHLY,
    MAX_INTERVAL_COUNT,
    MONEY_LIMIT,
    MONEY_TYPE,
    TABLES,
    monthly_amount,
)
from saas_retention.core.errors import ConfigError, Problem
from saas_retention.core.periods import EARLIEST_DATE, LATEST_AS_OF, LATEST_DATE
from saas_retention.relations.events import DATED_TABLES

# ``{as_of}`` is filled in.
MESSAGES = {
    "required": "missing (NULL) values in a required column",
    "end_before_start": "end_date before start_date",
    "zero_length": "zero-length subscriptions (end_date = start_date); kept, they never count "
                   "as paying",
    "negative_mrr": "negative MRR",
    "future_start": "subscriptions starting after as_of ({as_of}); kept, they count from their "
                    "start once as_of reaches it",
    # a term lasts billing_interval × this count (relations/terms.py): 0 or less gives no
    # anniversary at all, and a fraction is rounded or truncated depending on the engine
    "interval_count": f"values that are not a positive whole number up to {MAX_INTERVAL_COUNT:,} "
                      "(a term lasts this many billing intervals)",
    # every number column is staged in the money type (relations/target.typed_value): a larger
    # value fails the cast, and the engines disagree on what infinity and NaN become
    "amount_range": f"values beyond the largest amount the money type {MONEY_TYPE} holds "
                    f"(less than {MONEY_LIMIT:,} either side of 0{{per_interval}}), or "
                    "infinite or NaN",
    # staging multiplies the amount by its rate (relations/staging.stg_subscriptions) and
    # casts the product to the money type: a rate can carry an amount the type holds beyond it
    "converted_amount": "amounts that, converted to reporting_currency ({reporting}) at their "
                        f"exchange rate, go beyond the largest amount the money type "
                        f"{MONEY_TYPE} holds (less than {MONEY_LIMIT:,} either side of 0"
                        "{per_interval}), or are infinite or NaN",
    # the models sum a customer's MRR in a period (customer_periods) and a session's
    # durations (customer_sessions) back into the money type
    "customer_amount": f"rows of customers whose amounts add up to {MONEY_LIMIT:,} or more, "
                       f"beyond the money type {MONEY_TYPE} (the models add up a customer's "
                       "rows in it)",
    # the calendars and period indexes turn dates into integers and back
    # (dialects/periods.py): outside this range the engines and Python disagree or fail
    "date_range": f"dates outside the range a period can have ({EARLIEST_DATE} to "
                  f"{LATEST_DATE}; an end that never comes is left empty)",
    "unknown_interval": f"unknown billing interval (expected {', '.join(INTERVAL_TO_MONTHLY)})",
    "unlisted_customer": "customers missing from the customers table; kept, with empty "
                         "dimensions",
    "survey_scale": "scores outside the survey's scale (NPS 0–10, CSAT 1–5)",
    "survey_kind": "unknown survey kind (expected 'nps' or 'csat')",
    "after_as_of": "rows dated after as_of ({as_of}); left out of every model",
    "unknown_customer": "rows of customers unknown to the customers/subscriptions tables; kept, "
                        "counted under their own id",
    "before_signup": "rows dated before the customer's signup_date; kept",
    # docs/definitions.md#currencies: amounts in different currencies are never added up
    "missing_rate": "amounts in a currency other than reporting_currency ({reporting}) with no "
                    "exchange_rates row for that currency on or before the start_date: "
                    "currencies are never added up unconverted",
    "duplicate_rate": "more than one rate for the same currency and date",
    # a query of its own (duplicate_keys), on every key column of the contract (TABLES[t].key)
    "duplicate_key": "duplicate values in a key column",
}

# the subscription columns a subscription rule's examples show (those present)
SUBSCRIPTION_SHOW = ("subscription_id", "customer_id", "start_date", "end_date", "mrr")
# the column naming a dated table's customer
CUSTOMER_COLUMN = {t: "referrer_customer_id" if t == "referrals" else "customer_id"
                   for t in DATED_TABLES}


# what amount_range and converted_amount add about subscriptions.mrr when its amounts are
# per billing interval: the staged amount is the monthly one
PER_INTERVAL = "; with amounts_per_interval, the monthly amount too"


def message(kind: str, settings: Settings, per_interval: bool = False,
            as_of: object = None) -> str:
    """The rule's message; ``as_of`` replaces the settings' date (the dbt package names its
    var: the date is chosen at run time there)."""
    return MESSAGES[kind].format(as_of=settings.as_of_date if as_of is None else as_of,
                                 reporting=settings.reporting_currency,
                                 per_interval=PER_INTERVAL if per_interval else "")


def check_as_of(settings: Settings) -> None:
    """as_of within the dates a period can have, before any rule compares with it: the day
    calendar holds 100,000 days from EARLIEST_DATE (relations.target.NUMBERS_DIGITS)."""
    as_of = settings.as_of_date
    if not EARLIEST_DATE <= as_of <= LATEST_AS_OF:
        raise ConfigError(f"as_of: {as_of} is outside the dates a build can report on "
                          f"({EARLIEST_DATE} to {LATEST_AS_OF})")


def holds(present: dict[str, list[str]], table: str, column: str | None = None) -> bool:
    """Whether a source whose contract tables and columns are ``present`` holds ``table`` (and
    its ``column``): what every build's ``RuleColumns.has`` answers."""
    return table in present and (column is None or column in present[table])


class RuleColumns(Protocol):
    """What a rule's condition is built from, on one contract table, as one build sees it.
    ``column`` is always a contract column name of that table."""

    settings: Settings

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether the source holds the contract table (and its column)."""

    def value(self, column: str) -> exp.Expression:
        """The column as the build compares it."""

    def text(self, column: str) -> exp.Expression:
        """The column as text."""

    def number(self, column: str) -> exp.Expression:
        """The column as a number."""

    def day(self, column: str) -> exp.Expression:
        """The local DATE the staging gives the column's value."""

    def as_of(self) -> exp.Expression:
        """as_of, a DATE."""

    def date(self, day: dt.date) -> exp.Expression:
        """A DATE literal, comparable with ``day``'s values."""

    def missing(self, column: str) -> exp.Expression:
        """The row has no value in the column."""

    def customer_total_at_least(self, column: str, limit: int) -> exp.Expression:
        """The row's customer (``customer_id``) has a sum of ``within_money(value)`` over the
        table's rows of at least ``limit``: the row's customer among those of one grouping of
        the build's own table (a correlated subquery per row cost an aggregate joined back to
        every row: 0.15 s of the 0.35 s that staging 190k subscriptions takes)."""

    def not_whole(self, column: str) -> exp.Expression:
        """The column's number is not a finite whole number (DuckDB: floor/isinf/isnan of its
        DOUBLE; a warehouse: a round trip through INT, which needs no math functions)."""

    def unknown_customer(self, column: str) -> exp.Expression | None:
        """The row names a customer (in ``column``) the known customers lack: those of the
        customers table, else of the subscriptions; None when there are none to check against.
        (DuckDB: NOT IN its typed ids; a warehouse: a left join to them, made once per table.)"""

    def signup_date(self, column: str) -> exp.Expression | None:
        """The signup date of the customer the row names (in ``column``); None when the source
        has no signup dates."""

    def outer(self, column: str) -> exp.Expression:
        """The column qualified by the checked table: the row's value inside a correlated
        subquery over ``other``."""

    def other(self, table: str) -> tuple[exp.Expression, Callable[[str], exp.Expression]]:
        """Another contract table (aliased ``sr_other``) for a correlated subquery, and its
        columns by contract name, typed as staged."""


Condition = Callable[[RuleColumns], "exp.Expression | None"]


@dataclass(frozen=True)
class Rule:
    """One contract rule: ``condition`` gives what a breaking row meets (None: the rule does
    not apply to this source, e.g. a column it reads is absent); ``show``, the contract columns
    its examples show (None: the table's usual ones, which each build chooses)."""

    name: str  # its MESSAGES key
    table: str
    column: str
    condition: Condition
    severity: str = "error"
    show: tuple[str, ...] | None = None

    def message(self, settings: Settings, as_of: object = None) -> str:
        return message(self.name, settings, (self.table, self.column) == ("subscriptions", "mrr")
                       and bool(settings.mapping("subscriptions").amounts_per_interval), as_of)


def _lt(a: exp.Expression, b: exp.Expression | int) -> exp.Expression:
    return exp.LT(this=a, expression=exp.Literal.number(b) if isinstance(b, int) else b)


def _gt(a: exp.Expression, b: exp.Expression | int) -> exp.Expression:
    return exp.GT(this=a, expression=exp.Literal.number(b) if isinstance(b, int) else b)


def _when(applies: bool, condition: exp.Expression | None) -> exp.Expression | None:
    return condition if applies else None


def _interval_count(r: RuleColumns) -> exp.Expression | None:
    c = "billing_interval_count"
    if not r.has("subscriptions", c):
        return None
    return exp.or_(exp.LTE(this=r.number(c), expression=exp.Literal.number(0)),
                   _gt(r.number(c), MAX_INTERVAL_COUNT), r.not_whole(c))


def beyond_money(value: exp.Expression) -> exp.Expression:
    """The value is one the money type cannot hold: NaN compares greater than every number in
    DuckDB and PostgreSQL, so it is caught too."""
    return exp.GTE(this=exp.Abs(this=value), expression=exp.Literal.number(MONEY_LIMIT))


def _monthly(r: RuleColumns, column: str) -> exp.Expression:
    """The monthly amount the staging casts (contract.monthly_amount); a count the
    interval_count rule refuses is read as 1 here, so it is not reported twice."""
    count: exp.Expression = exp.null()
    if r.has("subscriptions", "billing_interval_count"):
        n = r.number("billing_interval_count")
        count = exp.Case(ifs=[exp.If(this=exp.GTE(this=n, expression=exp.Literal.number(1)),
                                     true=n.copy())], default=exp.Literal.number(1))
    return monthly_amount(r.number(column), r.text("billing_interval"), count)


def _amount_range(table: str, column: str) -> Condition:
    def condition(r: RuleColumns) -> exp.Expression | None:
        if not r.has(table, column):
            return None
        beyond = beyond_money(r.number(column))
        if (table, column) == ("subscriptions", "mrr") and _per_interval(r):
            beyond = exp.or_(beyond, beyond_money(_monthly(r, column)))
        return beyond

    return condition


def _converted_amount(r: RuleColumns) -> exp.Expression | None:
    """The amount times the rate staging converts it with (its currency's latest rate on or
    before the start date, relations/staging._rate_spans) beyond the money type, for rows
    whose amount alone is within it (amount_range reports the others)."""
    if not (r.has("subscriptions", "currency") and r.has("exchange_rates")):
        return None
    amount = _monthly(r, "mrr") if _per_interval(r) else r.number("mrr")
    table, rate = r.other("exchange_rates")
    latest = (exp.select(rate("rate")).from_(table).where(exp.and_(
        exp.EQ(this=_code(rate("currency")), expression=_code(r.outer("currency"))),
        exp.LTE(this=rate("date"), expression=r.day("start_date"))))
        .order_by(exp.Ordered(this=rate("date"), desc=True)).limit(1).subquery())
    foreign = exp.NEQ(this=_code(r.text("currency")),
                      expression=exp.Literal.string(r.settings.reporting_currency))
    return exp.and_(foreign, exp.Not(this=beyond_money(amount.copy())),
                    beyond_money(exp.Mul(this=amount, expression=latest)))


def within_money(value: exp.Expression) -> exp.Expression:
    """|value| when the money type holds it, else 0 (amount_range reports it already)."""
    return exp.Case(ifs=[exp.If(this=exp.LT(this=exp.Abs(this=value.copy()),
                                            expression=exp.Literal.number(MONEY_LIMIT)),
                                true=exp.Abs(this=value.copy()))],
                    default=exp.Literal.number(0))


def customer_in_totals_at_least(outer: exp.Expression, same: exp.Expression,
                                who: exp.Expression, value: exp.Expression,
                                limit: int) -> exp.Expression:
    """``outer`` (the row's customer) is among the customers (``who``) of ``same`` (the build's
    own table, aliased) whose ``within_money(value)`` adds up to at least ``limit``: one
    grouping of the table, not a subquery per row. Each build's ``customer_total_at_least``
    supplies its columns."""
    over = (exp.select(who).from_(same).group_by(who.copy())
            .having(exp.GTE(this=exp.func("sum", within_money(value)),
                            expression=exp.Literal.number(limit))))
    return outer.isin(query=over)


# the number columns the models add up per customer in the money type (conservatively: all of
# a customer's rows, not only those of one period or session)
SUMMED = (("subscriptions", "mrr"), ("events", "duration_seconds"))


def _customer_amount(table: str, column: str) -> Condition:
    def condition(r: RuleColumns) -> exp.Expression | None:
        if not r.has(table, column):
            return None
        return exp.and_(r.customer_total_at_least(column, MONEY_LIMIT),
                        exp.LT(this=exp.Abs(this=r.number(column)),
                               expression=exp.Literal.number(MONEY_LIMIT)))

    return condition


def _per_interval(r: RuleColumns) -> bool:
    return bool(r.settings.mapping("subscriptions").amounts_per_interval
                and r.has("subscriptions", "billing_interval"))


def _date_range(table: str, column: str) -> Condition:
    def condition(r: RuleColumns) -> exp.Expression | None:
        if not r.has(table, column):
            return None
        day = r.day(column)
        return exp.or_(_lt(day, r.date(EARLIEST_DATE)), _gt(day.copy(), r.date(LATEST_DATE)))

    return condition


def _range_rules() -> list[Rule]:
    """The limits of every number and date column of every contract table: what staging and
    the calendars convert them to holds no more (docs/definitions.md#limits). A table's
    examples show its key (or customer) and the column."""
    rules = []
    for table in TABLES.values():
        who = tuple(c for c in (*table.key, CUSTOMER_COLUMN.get(table.name, "customer_id"))
                    if any(x.name == c for x in table.columns))
        for c in table.columns:
            show = None if table.name == "subscriptions" else tuple(dict.fromkeys((*who, c.name)))
            if c.kind == "number" and c.name != "billing_interval_count":  # its own limit
                rules.append(Rule("amount_range", table.name, c.name,
                                  _amount_range(table.name, c.name), show=show))
            elif c.kind in ("date", "timestamp"):
                rules.append(Rule("date_range", table.name, c.name,
                                  _date_range(table.name, c.name), show=show))
    for table, column in SUMMED:
        show = None if table == "subscriptions" else ("customer_id", column)
        rules.append(Rule("customer_amount", table, column, _customer_amount(table, column),
                          show=show))
    return rules


def _unknown_interval(r: RuleColumns) -> exp.Expression | None:
    # the amounts are normalised to monthly by the interval (contract.monthly_amount): an
    # interval it does not know would make the MRR NULL
    c = "billing_interval"
    if not (r.settings.mapping("subscriptions").amounts_per_interval
            and r.has("subscriptions", c)):
        return None
    interval = exp.func("lower", exp.func("trim", r.text(c)))
    return exp.or_(r.value(c).is_(exp.null()), exp.In(this=interval, expressions=[
        exp.Literal.string(k) for k in INTERVAL_TO_MONTHLY]).not_())


def _survey_scale(r: RuleColumns) -> exp.Expression:
    def off(kind: str, low: int, high: int) -> exp.Expression:
        survey = exp.func("lower", exp.func("trim", r.value("survey")))
        return exp.and_(exp.EQ(this=survey, expression=exp.Literal.string(kind)),
                        exp.or_(_lt(r.value("score"), low), _gt(r.value("score"), high)))

    return exp.or_(off("nps", 0, 10), off("csat", 1, 5))


def _survey_kind(r: RuleColumns) -> exp.Expression:
    survey = exp.func("lower", exp.func("trim", r.value("survey")))
    return survey.isin(exp.Literal.string("nps"), exp.Literal.string("csat")).not_()


def _before_signup(table: str) -> Condition:
    def condition(r: RuleColumns) -> exp.Expression | None:
        signup = r.signup_date(CUSTOMER_COLUMN[table])
        return None if signup is None else _lt(r.day(DATED_TABLES[table]), signup)

    return condition


def _dated(table: str) -> list[Rule]:
    time, who = DATED_TABLES[table], CUSTOMER_COLUMN[table]
    rules = []
    if table == "survey_responses":
        rules += [Rule("survey_scale", table, "score", _survey_scale),
                  Rule("survey_kind", table, "survey", _survey_kind)]
    return rules + [
        Rule("after_as_of", table, time, lambda r: _gt(r.day(time), r.as_of()), "warning",
             (who, time)),
        Rule("unknown_customer", table, who, lambda r: r.unknown_customer(who), "warning",
             (who, time)),
        Rule("before_signup", table, time, _before_signup(table), "warning", (who, time)),
    ]


def _code(value: exp.Expression) -> exp.Expression:
    return exp.func("lower", exp.func("trim", value))


def _missing_rate(r: RuleColumns) -> exp.Expression | None:
    if not r.has("subscriptions", "currency"):
        return None
    code = _code(r.text("currency"))
    foreign = exp.and_(r.value("currency").is_(exp.null()).not_(), exp.NEQ(
        this=code, expression=exp.Literal.string(r.settings.reporting_currency)))
    if not r.has("exchange_rates"):
        return foreign
    table, rate = r.other("exchange_rates")
    found = exp.Exists(this=exp.select(exp.Literal.number(1)).from_(table).where(exp.and_(
        exp.EQ(this=_code(rate("currency")), expression=_code(r.outer("currency"))),
        exp.LTE(this=rate("date"), expression=r.day("start_date")),
        rate("rate").is_(exp.null()).not_())))
    return exp.and_(foreign, exp.Not(this=found))


def _duplicate_rate(r: RuleColumns) -> exp.Expression:
    table, rate = r.other("exchange_rates")
    same = exp.select(exp.func("count", exp.Star())).from_(table).where(exp.and_(
        exp.EQ(this=_code(rate("currency")), expression=_code(r.outer("currency"))),
        exp.EQ(this=rate("date"), expression=r.outer("date")))).subquery()
    return exp.GT(this=same, expression=exp.Literal.number(1))


RULES: tuple[Rule, ...] = (
    *(Rule("required", table.name, c, lambda r, c=c: r.missing(c))
      for table in TABLES.values() for c in table.required_columns),
    *_range_rules(),
    Rule("end_before_start", "subscriptions", "end_date",
         lambda r: _when(r.has("subscriptions", "end_date"),
                         _lt(r.value("end_date"), r.value("start_date")))),
    Rule("zero_length", "subscriptions", "end_date",
         lambda r: _when(r.has("subscriptions", "end_date"),
                         exp.EQ(this=r.day("end_date"), expression=r.day("start_date"))),
         "warning"),
    Rule("negative_mrr", "subscriptions", "mrr", lambda r: _lt(r.value("mrr"), 0)),
    Rule("future_start", "subscriptions", "start_date",
         lambda r: _gt(r.day("start_date"), r.as_of()), "warning"),
    Rule("interval_count", "subscriptions", "billing_interval_count", _interval_count,
         show=(*SUBSCRIPTION_SHOW, "billing_interval_count")),
    Rule("unknown_interval", "subscriptions", "billing_interval", _unknown_interval,
         show=(*SUBSCRIPTION_SHOW, "billing_interval")),
    Rule("unlisted_customer", "subscriptions", "customer_id",
         lambda r: _when(r.has("customers"), r.unknown_customer("customer_id")), "warning"),
    *(rule for table in DATED_TABLES for rule in _dated(table)),
    Rule("missing_rate", "subscriptions", "currency", _missing_rate,
         show=(*SUBSCRIPTION_SHOW, "currency")),
    Rule("converted_amount", "subscriptions", "mrr", _converted_amount,
         show=(*SUBSCRIPTION_SHOW, "currency")),
    Rule("duplicate_rate", "exchange_rates", "rate", _duplicate_rate,
         show=("date", "currency", "rate")),
)


def duplicate_keys(relation: exp.Expression, key: exp.Column) -> exp.Select:
    """The repeated values of a key column (``TABLES[t].key``) in ``relation``, each with
    its number of rows (``key_value``, ``n``)."""
    count = exp.func("count", exp.Star())
    return (exp.select(exp.alias_(key.copy(), "key_value"), exp.alias_(count, "n"))
            .from_(relation.copy())
            .where(key.copy().is_(exp.null()).not_())
            .group_by(key.copy())
            .having(exp.GT(this=count.copy(), expression=exp.Literal.number(1))))


def duplicate_key_problem(relation: exp.Expression, key: exp.Column, table: str, column: str,
                          run: Callable[[exp.Expression], list[tuple]], examples: int
                          ) -> Problem | None:
    """The duplicate-key rule as both builds report it: ``run`` executes a query on the
    build's own connection and returns its rows; the problem counts the rows holding a
    repeated value and names how many values repeat, with a few of them (None when none)."""
    dup = duplicate_keys(relation, key)
    totals = exp.select(exp.alias_(exp.func("count", exp.Star()), "repeated"),
                        exp.alias_(exp.func("sum", exp.column("n")), "rows")
                        ).from_(dup.subquery("duplicates"))
    ((repeated, rows),) = run(totals)
    if not repeated:
        return None
    shown = [r[0] for r in run(dup.order_by(exp.column("key_value")).limit(examples))]
    return Problem(table, column, int(rows),
                   f"{MESSAGES['duplicate_key']} ({repeated} distinct values repeated)",
                   shown)


def rules_of(table: str) -> list[Rule]:
    """The rules of one contract table, in the order they are reported."""
    return [r for r in RULES if r.table == table]
