"""An independent, plain-Python reference for the subscription models.

Written from the definitions in docs/definitions.md (#time-rules, #revenue-movements,
#revenue-retention, #customer-retention) and the column lists in ``sql/models/**/*.yml`` only --
never from the model SQL or the staging code -- so that a bug in the SQL shows up as a
difference. Everything is computed the slow, literal way: a
snapshot per period and per subscription, then per customer, then aggregated.

Conventions (docs/definitions.md#time-rules):

* a period is ``[start, end)``; its snapshot day is its last day, or ``as_of`` for the period
  that contains ``as_of``; no period after ``as_of`` exists;
* a subscription counts at a snapshot day ``d`` when ``start_date <= d < end_date`` (``end_date``
  ``None`` = still running); trials count with MRR 0;
* customer MRR = sum over their subscriptions; paying = MRR > 0.

The bottom of the module holds the test harness: writing a source directory, running the
package's build, loading its tables and comparing them with the reference row for row.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import math
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
GRAINS = ("day", "week", "month", "quarter", "year")
PERIODS_PER_YEAR = {"day": 365, "week": 52, "month": 12, "quarter": 4, "year": 1}
MOVEMENTS = ("new", "reactivation", "expansion", "contraction", "churn")
MODELS = ("customer_periods", "retention", "mrr_movements", "cohort_retention")
ONE_DAY = dt.timedelta(days=1)


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sub:
    """One subscription row of the input contract."""

    subscription_id: str
    customer_id: str
    start_date: dt.date
    end_date: dt.date | None  # exclusive; None = still running
    mrr: float
    is_trial: bool = False

    def counts_on(self, day: dt.date) -> bool:
        return self.start_date <= day and (self.end_date is None or day < self.end_date)

    @property
    def effective_mrr(self) -> float:
        return 0.0 if self.is_trial else float(self.mrr)


def sub(sid, customer, start, end, mrr, trial=False) -> Sub:
    """Terse constructor for fixtures: dates as ISO strings (``None``/"" for an open end)."""
    start_d = start if isinstance(start, dt.date) else dt.date.fromisoformat(start)
    if end in (None, ""):
        end_d = None
    else:
        end_d = end if isinstance(end, dt.date) else dt.date.fromisoformat(end)
    return Sub(str(sid), str(customer), start_d, end_d, mrr, bool(trial))


# --------------------------------------------------------------------------------------------
# calendar: an absolute integer index per period, written independently of the package
# --------------------------------------------------------------------------------------------


class Calendar:
    """Periods of one grain as consecutive integers (previous period = index - 1)."""

    def __init__(self, grain: str = "month", week_start: str = "monday"):
        if grain not in GRAINS:
            raise ValueError(grain)
        self.grain = grain
        self.week_start = WEEKDAYS.index(week_start)

    def index(self, d: dt.date) -> int:
        if self.grain == "day":
            return d.toordinal()
        if self.grain == "week":
            # date.fromordinal(1) is Monday 0001-01-01, so (ordinal - 1) % 7 == weekday().
            return (d.toordinal() - 1 - self.week_start) // 7
        if self.grain == "month":
            return d.year * 12 + d.month - 1
        if self.grain == "quarter":
            return d.year * 4 + (d.month - 1) // 3
        return d.year

    def start(self, i: int) -> dt.date:
        if self.grain == "day":
            return dt.date.fromordinal(i)
        if self.grain == "week":
            return dt.date.fromordinal(i * 7 + 1 + self.week_start)
        if self.grain == "month":
            return dt.date(i // 12, i % 12 + 1, 1)
        if self.grain == "quarter":
            return dt.date(i // 4, (i % 4) * 3 + 1, 1)
        return dt.date(i, 1, 1)

    def end(self, i: int) -> dt.date:
        """First day of the next period (exclusive end)."""
        return self.start(i + 1)

    def last_day(self, i: int) -> dt.date:
        return self.end(i) - ONE_DAY


# --------------------------------------------------------------------------------------------
# the reference computation
# --------------------------------------------------------------------------------------------


def _div(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def _pct(a: float, b: float) -> float | None:
    return None if b == 0 else a / b * 100.0


def classify(m0: float, m1: float, paid_before: bool) -> str:
    """docs/definitions.md#revenue-movements: zero-start branches first."""
    if m0 <= 0 and m1 > 0:
        return "reactivation" if paid_before else "new"
    if m0 > 0 and m1 <= 0:
        return "churn"
    if m0 > 0 and m1 > m0:
        return "expansion"
    if m1 > 0 and m1 < m0:
        return "contraction"
    if m0 > 0:
        return "retained"
    return "inactive"


@dataclass
class Reference:
    grain: str
    as_of: dt.date
    calendar: Calendar
    first_index: int | None  # first period in which anybody pays (None: nobody ever pays)
    as_of_index: int
    mrr: dict[str, dict[int, float]] = field(default_factory=dict)  # customer -> index -> MRR
    # whether any subscription (paid, free or trial) counts at some snapshot up to as_of
    any_active: bool = False
    models: dict[str, list[dict]] = field(default_factory=dict)


def compute(
    subs: Iterable[Sub],
    as_of: dt.date,
    grain: str = "month",
    week_start: str = "monday",
    customers: dict[str, dict] | None = None,
    dimensions: Sequence[str] = (),
) -> Reference:
    """All four subscription models, as lists of dicts keyed like the package's columns."""
    subs = list(subs)
    cal = Calendar(grain, week_start)
    customers = customers or {}
    g = grain
    A = cal.index(as_of)

    def snapshot(i: int) -> dt.date:
        return min(cal.last_day(i), as_of)

    # ---- customer MRR at every period-end snapshot ------------------------------------------
    starts = [cal.index(s.start_date) for s in subs if s.start_date <= as_of]
    lo = min(starts) if starts else A
    ids = sorted({s.customer_id for s in subs})
    mrr: dict[str, dict[int, float]] = {c: {} for c in ids}
    any_active = False
    for i in range(lo, A + 1):
        day = snapshot(i)
        for c in ids:
            mrr[c][i] = 0.0
        for s in subs:
            if s.counts_on(day):
                mrr[s.customer_id][i] += s.effective_mrr
                any_active = True

    def m(c: str, i: int) -> float:
        return mrr.get(c, {}).get(i, 0.0)

    paying = {c: [i for i in range(lo, A + 1) if m(c, i) > 0] for c in ids}
    paying = {c: v for c, v in paying.items() if v}
    first = {c: v[0] for c, v in paying.items()}
    last = {c: v[-1] for c, v in paying.items()}
    P0 = min(first.values()) if first else None
    ref = Reference(g, as_of, cal, P0, A, mrr, any_active=any_active)

    # ---- customer_periods ---------------------------------------------------------------------
    cp: list[dict] = []
    for c in sorted(paying):
        dims = customers.get(c, {})
        for i in range(first[c], min(last[c] + 1, A) + 1):
            m0, m1 = m(c, i - 1), m(c, i)
            mv = classify(m0, m1, paid_before=first[c] < i)
            row = {
                "customer_id": c,
                "period_index": i,
                f"date_{g}": cal.start(i),
                "period_start": cal.start(i),
                "period_end": cal.end(i),
                "mrr": m1,
                "previous_mrr": m0,
                "is_paying": int(m1 > 0),
                "was_paying": int(m0 > 0),
                "movement": mv,
                "mrr_change": m1 - m0,
                "new_mrr": m1 if mv == "new" else 0.0,
                "reactivation_mrr": m1 if mv == "reactivation" else 0.0,
                "expansion_mrr": m1 - m0 if mv == "expansion" else 0.0,
                "contraction_mrr": m1 - m0 if mv == "contraction" else 0.0,
                "churned_mrr": -m0 if mv == "churn" else 0.0,
                "cohort_period_index": first[c],
                f"cohort_{g}": cal.start(first[c]),
                "periods_since_start": i - first[c],
                "last_paying_period_index": last[c],
            }
            for d in dimensions:
                row[d] = dims.get(d)
            cp.append(row)
    ref.models["customer_periods"] = cp

    if P0 is None:
        for name in ("retention", "mrr_movements", "cohort_retention"):
            ref.models[name] = []
        return ref

    by_period: dict[int, list[dict]] = {}
    for row in cp:
        by_period.setdefault(row["period_index"], []).append(row)

    # ---- retention ------------------------------------------------------------------------------
    ppy = PERIODS_PER_YEAR[g]
    retention: list[dict] = []
    movements: list[dict] = []
    for i in range(P0, A + 1):
        rows = by_period.get(i, [])
        S = sum(1 for c in paying if m(c, i - 1) > 0)
        E = sum(1 for c in paying if m(c, i) > 0)
        count = {mv: sum(1 for r in rows if r["movement"] == mv) for mv in MOVEMENTS}
        amount = {
            "new": sum(r["new_mrr"] for r in rows),
            "reactivation": sum(r["reactivation_mrr"] for r in rows),
            "expansion": sum(r["expansion_mrr"] for r in rows),
            "contraction": sum(r["contraction_mrr"] for r in rows),
            "churn": sum(r["churned_mrr"] for r in rows),
        }
        mrr_start = sum(m(c, i - 1) for c in ids)
        mrr_end = sum(m(c, i) for c in ids)
        N = count["new"] + count["reactivation"]
        # every customer not paying at the start who started a paid subscription in the period
        # (up to as_of), even one gone again before the period-end snapshot
        period_lo, period_hi = cal.start(i), min(cal.end(i) - ONE_DAY, as_of)
        acquired_all = len(
            {
                s.customer_id
                for s in subs
                if period_lo <= s.start_date <= period_hi
                and s.effective_mrr > 0
                and m(s.customer_id, i - 1) <= 0
            }
        )
        losses = amount["contraction"] + amount["churn"]
        gains = amount["new"] + amount["expansion"] + amount["reactivation"]
        base_i = i - ppy
        base = [c for c in ids if m(c, base_i) > 0] if base_i >= P0 else []
        if base:
            mrr_base = sum(m(c, base_i) for c in base)
            mrr_now = sum(m(c, i) for c in base)
            capped = sum(min(m(c, i), m(c, base_i)) for c in base)
            nrr_12m, grr_12m = _pct(mrr_now, mrr_base), _pct(capped, mrr_base)
        else:
            mrr_base = mrr_now = nrr_12m = grr_12m = None
        retention.append(
            {
                "period_index": i,
                f"date_{g}": cal.start(i),
                "period_start": cal.start(i),
                "period_end": cal.end(i),
                "customers_start": S,
                "customers_end": E,
                "customers_new": count["new"],
                "customers_reactivated": count["reactivation"],
                "customers_expanded": count["expansion"],
                "customers_contracted": count["contraction"],
                "customers_churned": count["churn"],
                "customers_acquired_all": acquired_all,
                "crr": _pct(E - N, S),
                "crr_textbook": _pct(E - acquired_all, S),
                "customer_churn_rate": _pct(count["churn"], S),
                "net_customer_growth": _pct(E, S),
                "mrr_start": mrr_start,
                "mrr_end": mrr_end,
                "new_mrr": amount["new"],
                "reactivation_mrr": amount["reactivation"],
                "expansion_mrr": amount["expansion"],
                "contraction_mrr": amount["contraction"],
                "churned_mrr": amount["churn"],
                "nrr": _pct(mrr_start + amount["expansion"] + losses, mrr_start),
                "grr": _pct(mrr_start + losses, mrr_start),
                "gross_mrr_churn": _pct(-losses, mrr_start),
                "net_mrr_churn": _pct(-losses - amount["expansion"], mrr_start),
                "quick_ratio": _div(gains, abs(losses)),
                "arpa": _div(mrr_end, E),
                "arr": 12.0 * mrr_end,
                "mrr_base_12m": mrr_base,
                "mrr_now_12m": mrr_now,
                "nrr_12m": nrr_12m,
                "grr_12m": grr_12m,
            }
        )
        for order, mv in enumerate(MOVEMENTS, start=1):
            movements.append(
                {
                    "period_index": i,
                    f"date_{g}": cal.start(i),
                    "period_start": cal.start(i),
                    "movement": mv,
                    "movement_order": order,
                    "customers": count[mv],
                    "mrr_amount": amount[mv],
                }
            )
    ref.models["retention"] = retention
    ref.models["mrr_movements"] = movements

    # ---- cohort_retention -------------------------------------------------------------------
    cohorts: dict[int, list[str]] = {}
    for c, f in first.items():
        cohorts.setdefault(f, []).append(c)
    cells: list[dict] = []
    for k0, members in sorted(cohorts.items()):
        size = len(members)
        cohort_mrr = sum(m(c, k0) for c in members)
        for k in range(0, A - P0 + 1):
            i = k0 + k
            row = {
                f"cohort_{g}": cal.start(k0),
                "cohort_period_index": k0,
                "period_number": k,
                "cohort_size": size,
                "cohort_mrr": cohort_mrr,
            }
            if i > A:  # the future of as_of: NULL, never 0
                row.update(
                    retained_customers=None,
                    retention_rate=None,
                    retained_mrr=None,
                    revenue_retention=None,
                    retained_customers_on_or_after=None,
                    retention_rate_on_or_after=None,
                )
            else:
                kept = sum(1 for c in members if m(c, i) > 0)
                kept_mrr = sum(m(c, i) for c in members)
                later = sum(1 for c in members if last[c] >= i)
                row.update(
                    retained_customers=kept,
                    retention_rate=_pct(kept, size),
                    retained_mrr=kept_mrr,
                    revenue_retention=_pct(kept_mrr, cohort_mrr),
                    retained_customers_on_or_after=later,
                    retention_rate_on_or_after=_pct(later, size),
                )
            cells.append(row)
    ref.models["cohort_retention"] = cells
    return ref


# --------------------------------------------------------------------------------------------
# harness: source files, the package's build, comparison
# --------------------------------------------------------------------------------------------

KEYS = {
    "customer_periods": ("customer_id", "period_index"),
    "retention": ("period_index",),
    "mrr_movements": ("period_index", "movement_order"),
    "cohort_retention": ("cohort_period_index", "period_number"),
    # with the customers' dimension "plan" (write_source's dimensions)
    "cohort_customers_rollup": ("cohort_period_index", "period_number", "plan"),
}
INDEX_COLUMNS = ("period_index", "cohort_period_index", "last_paying_period_index")


def _fmt_amount(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def write_source(
    folder: Path,
    subs: Sequence[Sub],
    customers: dict[str, dict] | None = None,
    dimensions: Sequence[str] = (),
    with_trial: bool | None = None,
    table: str = "subscriptions",
    columns: dict[str, str] | None = None,
) -> Path:
    """Write ``subscriptions.csv`` (and ``customers.csv``) in the input contract's shape.

    ``columns`` renames contract columns (contract -> file header) for mapping tests.
    """
    folder.mkdir(parents=True, exist_ok=True)
    columns = columns or {}
    if with_trial is None:
        with_trial = any(s.is_trial for s in subs)
    header = ["subscription_id", "customer_id", "start_date", "end_date", "mrr"]
    if with_trial:
        header.append("is_trial")
    with open(folder / f"{table}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([columns.get(h, h) for h in header])
        for s in subs:
            row = [
                s.subscription_id,
                s.customer_id,
                s.start_date.isoformat(),
                s.end_date.isoformat() if s.end_date else "",
                _fmt_amount(s.mrr),
            ]
            if with_trial:
                row.append("true" if s.is_trial else "false")
            w.writerow(row)
    if customers is not None:
        with open(folder / "customers.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["customer_id", *dimensions])
            for cid, dims in customers.items():
                w.writerow([cid, *("" if dims.get(d) is None else dims[d] for d in dimensions)])
    return folder


def load_tables(database: Path, models: Iterable[str] = MODELS) -> dict[str, list[dict]]:
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    try:
        out = {}
        for name in models:
            order = ", ".join(f'"{k}"' for k in KEYS[name])
            cur = con.execute(f'select * from "{name}" order by {order}')
            cols = [d[0] for d in cur.description]
            # money columns are exact decimals in the package; compare them as numbers
            out[name] = [{c: float(v) if isinstance(v, decimal.Decimal) else v
                          for c, v in zip(cols, r, strict=True)} for r in cur.fetchall()]
        return out
    finally:
        con.close()


def run_build(source: Path, settings: dict, workdir: Path | None = None,
              models: Iterable[str] = MODELS) -> dict[str, list[dict]]:
    """Build with the package into a DuckDB file and return the rows of ``models``."""
    from saas_retention.builders.duckdb.run import build
    from saas_retention.core.config import parse_settings

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(workdir or tmp) / "models.duckdb"
        result = build(source, parse_settings(settings), database=db)
        missing = [m for m in models if m not in result.models]
        assert not missing, f"models not built: {missing} ({result.skipped})"
        return load_tables(db, models)


def build_and_reference(
    subs: Sequence[Sub],
    as_of: dt.date,
    grain: str = "month",
    week_start: str = "monday",
    customers: dict[str, dict] | None = None,
    dimensions: Sequence[str] = (),
    **extra_settings,
) -> tuple[dict[str, list[dict]], Reference]:
    """Build ``subs`` with the package and compute the reference; ``extra_settings`` go to the
    package only (e.g. a reporting time zone, which must not move date-only inputs)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = write_source(Path(tmp) / "src", subs, customers, dimensions)
        settings = {"as_of": as_of, "grain": grain, "week_start": week_start, **extra_settings}
        actual = run_build(src, settings, workdir=Path(tmp))
    ref = compute(subs, as_of, grain, week_start, customers, dimensions)
    return actual, ref


def _same(a, b, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and math.isnan(a):
            return False
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)
    return a == b


def index_offset(actual: dict[str, list[dict]], expected: dict[str, list[dict]]) -> int:
    """The package numbers periods its own way; only differences matter. Returns the constant
    to add to reference indexes (found from the first retention row)."""
    if not actual["retention"] or not expected["retention"]:
        return 0
    first = min(r["period_index"] for r in actual["retention"])
    return first - min(r["period_index"] for r in expected["retention"])


def diff_models(
    actual: dict[str, list[dict]],
    ref: Reference | dict[str, list[dict]],
    models: Iterable[str] = MODELS,
    limit: int = 12,
) -> list[str]:
    """Human-readable differences between the package's tables and the reference (or another
    build: ``ref`` may be a plain {model: rows} dict)."""
    ref_models = ref.models if isinstance(ref, Reference) else ref
    offset = index_offset(actual, ref_models)
    problems: list[str] = []
    for name in models:
        key = KEYS[name]
        expected = []
        for row in ref_models[name]:
            row = dict(row)
            for col in INDEX_COLUMNS:
                if col in row:
                    row[col] += offset
            expected.append(row)
        got = sorted(actual[name], key=lambda r: tuple(r[k] for k in key))
        expected.sort(key=lambda r: tuple(r[k] for k in key))
        got_keys = [tuple(r[k] for k in key) for r in got]
        exp_keys = [tuple(r[k] for k in key) for r in expected]
        if got_keys != exp_keys:
            extra = sorted(set(got_keys) - set(exp_keys))[:limit]
            missing = sorted(set(exp_keys) - set(got_keys))[:limit]
            dup = len(got_keys) - len(set(got_keys))
            problems.append(
                f"{name}: row keys differ; unexpected {extra}, missing {missing}, duplicates {dup}"
            )
        got_by_key = dict(zip(got_keys, got, strict=True))
        for k, e in zip(exp_keys, expected, strict=True):
            a = got_by_key.get(k)
            if a is None:
                continue
            for col, ev in e.items():
                if col not in a:
                    problems.append(f"{name}: column {col!r} missing")
                    break
                if not _same(a[col], ev):
                    problems.append(
                        f"{name} {dict(zip(key, k, strict=True))} {col}: "
                        f"package {a[col]!r} != reference {ev!r}"
                    )
            if len(problems) > limit:
                return problems
    return problems


def assert_matches(
    actual: dict[str, list[dict]],
    ref: Reference | dict[str, list[dict]],
    models: Iterable[str] = MODELS,
) -> None:
    problems = diff_models(actual, ref, models)
    assert not problems, "package differs from the reference:\n  " + "\n  ".join(problems)
