"""``stg_subscription_terms`` in portable SQL: every term end of every subscription up to as_of.

One definition for the DuckDB staging and every warehouse. ``billing_interval`` decides the term
(year = 12 months, quarter = 3, otherwise a month, times ``billing_interval_count``);
anniversaries of a running subscription are terms that renewed by continuing, and the row's own
``end_date`` is its final term end.

Anniversary k of a subscription starting on day d of month-index i ends on day d of month-index
i + k × term, clamped to that month's last day — DuckDB's ``date + INTERVAL n MONTH``, counted
from the start date and never chained (Jan 31 + 1 month = Feb 28/29, + 2 months = Mar 31).
Engines disagree on interval arithmetic, so it is done here on integers only: month indexes,
day numbers (days since 1970-01-01) and first days of months built from (year, month, 1) through
the dialect registry. A numbers relation replaces range/unnest.
"""

from __future__ import annotations

from sqlglot import exp

from saas_retention.dialects import date_functions
from saas_retention.dialects.periods import period_index_sql, period_start_sql
from saas_retention.relations.target import NUMBERS_DIGITS, Target, col, numbers

# term length in months by billing_interval; anything else is a month
TERM_MONTHS = {"year": 12, "annual": 12, "quarter": 3}


# the columns stg_subscription_terms adds to stg_subscriptions' (the dbt package's docs)
DOCS = {
    "is_trial": "a trial (false when empty)",
    "term_months": "months one term lasts: billing_interval (year 12, quarter 3, else 1) × "
                   "billing_interval_count",
    "term_end": "the day the term ends: an anniversary of start_date up to as_of, or the "
                "row's own end_date (its final term)",
    "is_final": "1 for the row's final term (its end_date), 0 for an anniversary it "
                "continued past",
    "term_end_period_index": "index of the period holding term_end",
    "renewal_deadline": "term_end + renewal_grace_days: the end of the window a renewal "
                        "may start in",
}
BASE = ("subscription_id", "customer_id", "start_date", "end_date", "mrr", "is_trial",
        "term_months")


def _cols(*names: str) -> list[exp.Column]:
    return [col(n) for n in names]


def _n(v: int) -> exp.Literal:
    return exp.Literal.number(v)


def _add(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Add(this=a, expression=b)


def _sub(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Sub(this=a, expression=b)


def stg_subscription_terms(t: Target) -> exp.Select:
    s = t.settings
    f = date_functions(t.dialect)
    as_of = t.as_of_sql

    def day_number(d: exp.Expression) -> exp.Expression:
        return f.day_number(d)

    def month_index(d: exp.Expression) -> exp.Expression:
        return exp.paren(period_index_sql(d, "month", dialect=t.dialect))

    def month_first_day_number(index: exp.Expression) -> exp.Expression:
        return day_number(period_start_sql(index, "month", dialect=t.dialect))

    interval = exp.func("lower", exp.func("trim", col("billing_interval")))
    per_interval = exp.Case(
        ifs=[exp.If(this=exp.EQ(this=interval.copy(), expression=exp.Literal.string(k)),
                    true=_n(v)) for k, v in TERM_MONTHS.items()],
        default=_n(1))
    count = exp.cast(exp.func("coalesce", col("billing_interval_count"), _n(1)),
                     exp.DataType.Type.INT)
    start = col("start_date")
    start_index = month_index(start.copy())
    subscription_rows = (
        exp.select(
            *_cols("subscription_id", "customer_id", "start_date", "end_date", "mrr"),
            exp.alias_(exp.func("coalesce", col("is_trial"), exp.false()), "is_trial"),
            exp.alias_(exp.Mul(this=per_interval, expression=count), "term_months"),
            exp.alias_(start_index, "start_month_index"),
            # day of month of the start, as a difference of day numbers (no EXTRACT(DAY))
            exp.alias_(_add(exp.paren(_sub(day_number(start.copy()),
                                           month_first_day_number(start_index.copy()))),
                            _n(1)), "start_day"),
            # months from the start to the end (or as_of): no anniversary lies beyond them
            exp.alias_(_sub(month_index(exp.func("coalesce", col("end_date"), as_of.copy())),
                            start_index.copy()), "months_spanned"),
        )
        .from_("stg_subscriptions")
        .where(col("first_period_index").is_(exp.null()).not_())
    )
    rows_table = exp.to_table("subscription_rows")
    bounds = exp.select(exp.alias_(exp.func("max", col("months_spanned")), "max_months")
                        ).from_(rows_table.copy())
    # DISTINCT: computed once before the join (MariaDB would otherwise join every
    # subscription to all 100,000 numbers and filter afterwards)
    counts = (exp.select(exp.column("n", "numbers")).distinct()
              .from_(numbers(NUMBERS_DIGITS).subquery("numbers"))
              .join(bounds.subquery("bounds"), join_type="cross")
              .where(exp.and_(
                  exp.GTE(this=exp.column("n", "numbers"), expression=_n(1)),
                  exp.LTE(this=exp.column("n", "numbers"),
                          expression=exp.column("max_months", "bounds")))))
    k = exp.column("n", "k")
    # a term of zero months or less has no anniversaries, only its final end
    anniversaries_index = (
        exp.select(
            *(exp.column(c, "subs", quoted=True) for c in (*BASE, "start_day")),
            exp.alias_(_add(exp.column("start_month_index", "subs"),
                            exp.Mul(this=k.copy(), expression=exp.column("term_months", "subs"))),
                       "end_month_index"),
        )
        .from_(exp.to_table("subscription_rows", alias="subs"))
        .join(counts.subquery("k"), join_type="cross")
        .where(exp.and_(
            exp.GT(this=exp.column("term_months", "subs"), expression=_n(0)),
            exp.LTE(this=exp.Mul(this=k.copy(), expression=exp.column("term_months", "subs")),
                    expression=exp.column("months_spanned", "subs")))))
    end_index = col("end_month_index")
    first_day = month_first_day_number(end_index.copy())
    month_days = _sub(month_first_day_number(_add(end_index.copy(), _n(1))), first_day.copy())
    anniversaries_days = exp.select(
        *_cols(*BASE, "start_day"),
        exp.alias_(first_day, "first_day_number"),
        exp.alias_(month_days, "month_days"),
    ).from_(anniversaries_index.subquery("anniversary_months"))
    clamped = exp.Case(ifs=[exp.If(this=exp.GT(this=col("start_day"),
                                               expression=col("month_days")),
                                   true=col("month_days"))], default=col("start_day"))
    term_end = t.cast(f.from_day_number(exp.paren(_sub(_add(col("first_day_number"), clamped),
                                                        _n(1)))), "DATE")
    anniversaries = exp.select(*_cols(*BASE), exp.alias_(term_end, "term_end")).from_(
        anniversaries_days.subquery("anniversary_days"))
    continued = (
        exp.select(*_cols(*BASE, "term_end"), exp.alias_(_n(0), "is_final"))
        .from_(anniversaries.subquery("anniversaries"))
        .where(exp.and_(
            exp.LTE(this=col("term_end"), expression=as_of.copy()),
            exp.or_(col("end_date").is_(exp.null()),
                    exp.LT(this=col("term_end"), expression=col("end_date")))))
    )
    final = (
        exp.select(*_cols(*BASE), exp.alias_(col("end_date"), "term_end"),
                   exp.alias_(_n(1), "is_final"))
        .from_(rows_table.copy())
        .where(exp.and_(col("end_date").is_(exp.null()).not_(),
                        exp.LTE(this=col("end_date"), expression=as_of.copy())))
    )
    terms = exp.union(continued, final, distinct=False)
    deadline = t.cast(f.from_day_number(exp.paren(_add(
        day_number(col("term_end")), _n(s.renewal_grace_days)))), "DATE")
    return exp.select(
        *_cols(*BASE, "term_end", "is_final"),
        exp.alias_(period_index_sql(col("term_end"), s.grain, s.week_start, t.dialect),
                   "term_end_period_index"),
        exp.alias_(deadline, "renewal_deadline"),
    ).from_(terms.subquery("terms")).with_("subscription_rows", subscription_rows)
