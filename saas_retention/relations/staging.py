"""The subscription staging relations and the period calendar, as portable sqlglot queries:
``stg_subscriptions``, ``stg_customers``, ``stg_customer_dimensions`` and ``calendar``."""

from __future__ import annotations

from sqlglot import exp

from saas_retention.core.contract import TABLES, monthly_amount
from saas_retention.dialects import date_functions
from saas_retention.dialects.periods import (
    SNAPSHOT_INDEX_DOCS,
    period_index_sql,
    period_start_sql,
    snapshot_index_columns,
)
from saas_retention.relations.target import (
    NUMBERS_DIGITS,
    SQL_TYPES,
    Target,
    cast,
    col,
    numbers,
    source_table,
    typed_value,
)

# the columns each relation adds to the contract's (whose descriptions are core/contract.py's):
# what the dbt package documents them with (export/dbt.py)
DOCS = {
    "stg_subscriptions": {
        "mrr": "monthly amount in reporting_currency: 0 for trials, made monthly with "
               "amounts_per_interval, converted at the start date's exchange rate",
        **SNAPSHOT_INDEX_DOCS,
    },
    "stg_customers": {},
    "stg_customer_dimensions": {
        "dimension": "a customer dimension's name ('all' for the whole base)",
        "dimension_value": "the customer's value of it ('(none)' when empty)",
    },
    "calendar": {
        "period_index": "integer index of the period",
        "period_start": "first day of the period",
        "period_end": "first day of the next period (exclusive)",
        "last_day": "last day of the period",
        "snapshot_date": "the day the period's state is read (its last day, or as_of in the "
                         "running period)",
        "rolling_30_start": "30 days before the snapshot date",
        "rolling_365_start": "365 days before the snapshot date",
    },
}


def stg_subscriptions(t: Target) -> exp.Select:
    s = t.settings
    src = "subscriptions"

    def mapped(c: str) -> exp.Column:
        return col(s.source_column(src, c))

    present_optional = set(t.optional_columns) | set(s.mapping(src).columns)
    contract = TABLES[src]
    # the currency column is read only when the source has it (docs/definitions.md#currencies):
    # without it the relation is what it always was
    currency = ("currency" in present_optional if not t.typed
                else t.has_column(src, "currency"))
    projections = []
    for c in contract.columns:
        if c.name == "currency" and not currency:
            continue
        if t.typed:
            projections.append(exp.alias_(typed_value(t, src, c.name), c.name))
            continue
        if c.required or c.name in present_optional:
            value = mapped(c.name)
        else:
            value = exp.null()
        projections.append(exp.alias_(t.cast(value, SQL_TYPES[c.kind]), c.name))
    # period dimensions (tables.subscriptions.dimensions) that are not contract columns,
    # as text; none configured leaves the query as it was
    extras = t.period_dimension_extras
    projections.extend(exp.alias_(cast(col(d), "VARCHAR"), d) for d in extras)
    typed = exp.select(*projections).from_(source_table(t, src))
    start, end = col("start_date"), col("end_date")
    as_of = t.as_of_sql
    as_of_index = period_index_sql(as_of, s.grain, s.week_start, t.dialect)
    amount: exp.Expression = col("mrr")
    if s.mapping(src).amounts_per_interval:
        amount = monthly_amount(amount, col("billing_interval"), col("billing_interval_count"))
    rated = currency and t.has_table("exchange_rates")
    if currency:
        amount = exp.Mul(this=amount, expression=_rate(t, rated))
    mrr = exp.Case(ifs=[exp.If(this=exp.func("coalesce", col("is_trial"), exp.false()),
                               true=exp.Literal.number(0))], default=amount)
    # money summed exactly, as in the DuckDB staging
    mrr = date_functions(t.dialect).money(mrr)
    names = [c.name for c in contract.columns if c.name != "currency"]
    # the amounts' currency leaves staging only as a period dimension
    # (tables.subscriptions.dimensions: [currency]); the rates' join has a column of that name
    kept = ([exp.alias_(col("currency", "contract"), "currency")]
            if currency and "currency" in t.period_dimensions else [])
    query = exp.select(
        *(exp.alias_(mrr, "mrr") if n == "mrr" else col(n) for n in names),
        *kept,
        *(col(d) for d in extras),
        *snapshot_index_columns(start, end, as_of, as_of_index, s.grain, s.week_start,
                                t.dialect),
    ).from_(typed.subquery("contract"))
    if rated:
        query = query.join(_rate_spans(t).subquery("fx"), join_type="left", on=exp.and_(
            exp.EQ(this=col("currency", "fx"), expression=_code(col("currency", "contract"))),
            exp.LTE(this=col("valid_from", "fx"), expression=col("start_date", "contract")),
            exp.or_(col("valid_to", "fx").is_(exp.null()),
                    exp.LT(this=col("start_date", "contract"),
                           expression=col("valid_to", "fx")))))
    return query


def _code(value: exp.Expression) -> exp.Expression:
    """A currency code as compared: trimmed, lower case (as Stripe writes it)."""
    return exp.func("lower", exp.func("trim", cast(value, "VARCHAR")))


def _rate(t: Target, rated: bool) -> exp.Expression:
    """The factor converting a subscription's amount to the reporting currency: 1 when its
    currency is empty or the reporting one, else the rate of its start date (or the latest
    earlier one); NULL only for rows the missing_rate rule refuses before staging."""
    code = _code(col("currency", "contract"))
    same = exp.or_(col("currency", "contract").is_(exp.null()),
                   exp.EQ(this=code, expression=exp.Literal.string(
                       t.settings.reporting_currency)))
    return exp.Case(ifs=[exp.If(this=same, true=exp.Literal.number(1))],
                    default=col("rate", "fx") if rated else exp.null())


def _rate_spans(t: Target) -> exp.Select:
    """exchange_rates as spans: each rate holds from its date until the currency's next
    rate's date (docs/definitions.md#currencies)."""
    src = "exchange_rates"
    if t.typed:
        day, code, rate = col("date"), col("currency"), col("rate")
    else:
        s = t.settings
        day = t.cast(col(s.source_column(src, "date")), "DATE")
        code = col(s.source_column(src, "currency"))
        rate = cast(col(s.source_column(src, "rate")), "DOUBLE")
    rows = exp.select(exp.alias_(_code(code), "currency"), exp.alias_(day, "valid_from"),
                      exp.alias_(rate, "rate")).from_(source_table(t, src))
    following = exp.Window(this=exp.func("lead", col("valid_from")),
                           partition_by=[col("currency")],
                           order=exp.Order(expressions=[exp.Ordered(this=col("valid_from"))]))
    return exp.select(col("currency"), col("valid_from"), exp.alias_(following, "valid_to"),
                      col("rate")).from_(rows.subquery("rates"))


def stg_customers(t: Target) -> exp.Query:
    s = t.settings
    if not t.has_customers:
        return (exp.select(col("customer_id"), exp.alias_(t.cast(exp.null(), "DATE"),
                                                          "signup_date"))
                .from_("stg_subscriptions").where(col("customer_id").is_(exp.null()).not_())
                .distinct())
    if t.typed:
        # dimensions keep the type they were read with (a model may show them as columns)
        listed = exp.select(
            *(exp.alias_(typed_value(t, "customers", c.name), c.name)
              for c in TABLES["customers"].columns),
            *(col(d) for d in t.dimensions),
        ).from_(source_table(t, "customers"))
        empty_dimension = exp.null
    else:
        # mapped in the config, or found by introspecting the warehouse table
        signup = ("signup_date" in s.mapping("customers").columns
                  or (t.columns is not None and "customers.signup_date" in t.columns))
        listed = exp.select(
            exp.alias_(cast(col(s.source_column("customers", "customer_id")), "VARCHAR"),
                       "customer_id"),
            exp.alias_(t.cast(col(s.source_column("customers", "signup_date")) if signup
                              else exp.null(), "DATE"), "signup_date"),
            *(exp.alias_(cast(col(d), "VARCHAR"), d) for d in t.dimensions),
        ).from_(source_table(t, "customers"))

        def empty_dimension() -> exp.Expression:
            return cast(exp.null(), "VARCHAR")
    # customers of subscriptions missing from `customers` keep their rows, with empty
    # dimensions
    unlisted = (
        exp.select(
            col("customer_id", "subs"),
            exp.alias_(t.cast(exp.null(), "DATE"), "signup_date"),
            *(exp.alias_(empty_dimension(), d) for d in t.dimensions),
        )
        .from_(exp.select(col("customer_id")).from_("stg_subscriptions").distinct()
               .subquery("subs"))
        .join(listed.subquery("listed"), on=exp.EQ(this=col("customer_id", "listed"),
                                                   expression=col("customer_id", "subs")),
              join_type="left")
        .where(exp.and_(col("customer_id", "listed").is_(exp.null()),
                        col("customer_id", "subs").is_(exp.null()).not_()))
    )
    return exp.union(listed, unlisted, distinct=False)


def stg_customer_dimensions(t: Target) -> exp.Query:
    parts = [exp.select(col("customer_id"),
                        exp.alias_(exp.Literal.string("all"), "dimension"),
                        exp.alias_(exp.Literal.string("all"), "dimension_value"))
             .from_("stg_customers")]
    for d in t.dimensions:
        value = exp.func("coalesce", cast(col(d), "VARCHAR"), exp.Literal.string("(none)"))
        parts.append(exp.select(col("customer_id"), exp.alias_(exp.Literal.string(d),
                                                                "dimension"),
                                exp.alias_(value, "dimension_value")).from_("stg_customers"))
    union: exp.Query = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=False)
    return union


def calendar(t: Target) -> exp.Select:
    s = t.settings
    f = date_functions(t.dialect)
    first = exp.select(exp.alias_(exp.func("min", col("first_period_index")), "first_index")
                       ).from_("stg_subscriptions").where(
        exp.GTE(this=col("last_period_index"), expression=col("first_period_index")))
    idx = exp.paren(exp.Add(this=exp.column("first_index", table="bounds"),
                            expression=exp.column("n", table="numbers")))
    as_of = t.as_of_sql
    as_of_index = period_index_sql(as_of, s.grain, s.week_start, t.dialect)
    start = period_start_sql(idx, s.grain, s.week_start, t.dialect)
    end = period_start_sql(exp.Add(this=idx.copy(), expression=exp.Literal.number(1)),
                           s.grain, s.week_start, t.dialect)

    def minus_days(d: exp.Expression, n: int) -> exp.Expression:
        return f.from_day_number(exp.paren(exp.Sub(this=f.day_number(d),
                                                   expression=exp.Literal.number(n))))

    last_day = minus_days(end.copy(), 1)
    snapshot = exp.Case(ifs=[exp.If(this=exp.GT(this=last_day.copy(), expression=as_of.copy()),
                                    true=as_of.copy())], default=last_day.copy())
    inner = (
        exp.select(
            exp.alias_(idx, "period_index"),
            exp.alias_(start, "period_start"),
            exp.alias_(end, "period_end"),
            exp.alias_(last_day, "last_day"),
            exp.alias_(snapshot, "snapshot_date"),
        )
        .from_(numbers(NUMBERS_DIGITS).subquery("numbers"))
        .join(first.subquery("bounds"), join_type="cross")
        .where(exp.LTE(this=idx.copy(), expression=as_of_index))
    )
    return exp.select(
        "period_index", "period_start", "period_end", "last_day", "snapshot_date",
        exp.alias_(minus_days(col("snapshot_date"), 30), "rolling_30_start"),
        exp.alias_(minus_days(col("snapshot_date"), 365), "rolling_365_start"),
    ).from_(inner.subquery("periods"))
