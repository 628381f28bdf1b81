"""dbt Labs' MRR playbook fixture (tests/fixtures/mrr_playbook, a verbatim copy of
/work/shared/fixtures/mrr_playbook): the playbook's own customer-month classification, written
here independently, must agree with our mrr_movements (upgrade = expansion, downgrade =
contraction), and a new user's command line run must produce the four model files.

The playbook (github.com/dbt-labs/mrr-playbook, models/customer_revenue_by_month.sql,
customer_churn_month.sql, mrr.sql) works like this:

* a customer's months run from the month of their first start_date up to (excluding) the month
  of their last end_date, plus one "churn" row for the month after their last active month;
* MRR of a customer-month = monthly_amount of the subscriptions with
  ``start_date <= date_month < end_date`` (date_month = the first of the month);
* change_category: ``new`` in the first active month; ``churn`` when inactive now and active
  last month; ``reactivation`` when active now and not last month; ``upgrade`` when MRR grew;
  ``downgrade`` when it shrank; otherwise nothing.

Where we deliberately differ (none of it changes the result on this fixture, and the test
checks that the fixture really is of that kind):

* docs/definitions.md#pitfalls: a widely used dbt package tests "MRR grew" before "was MRR zero",
  so its reactivation never fires. The mrr.sql we read tests first-month / churn / reactivation
  before upgrade / downgrade, i.e. the zero-start branches first, and so do we
  (``playbook_category``).
  We never implement the expansion-first order, so a reactivation in the fixture is a
  reactivation on both sides.
* The playbook snapshots on the first day of the month, we on the last day
  (docs/definitions.md#time-rules);
  on month-aligned dates (all start/end dates on the 1st) the two are the same.
* The playbook's join emits one row per overlapping subscription instead of summing them; we
  sum (add-ons add up). The fixture has no overlapping subscriptions.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from reference import assert_matches, compute, load_tables, sub

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "mrr_playbook"
FIXTURE = FIXTURE_DIR / "subscription_periods.csv"
AS_OF = dt.date(2020, 6, 30)
MAPPING = {"subscriptions": {"table": "subscription_periods", "columns": {"mrr": "monthly_amount"}}}
# playbook category -> our movement
CATEGORY = {
    "new": "new",
    "reactivation": "reactivation",
    "upgrade": "expansion",
    "downgrade": "contraction",
    "churn": "churn",
}

RETENTION_COLUMNS = (
    "date_month customers_start customers_end customers_new customers_reactivated "
    "customers_churned crr mrr_start mrr_end new_mrr reactivation_mrr expansion_mrr "
    "contraction_mrr churned_mrr nrr grr nrr_12m grr_12m"
).split()
COHORT_COLUMNS = (
    "cohort_month period_number cohort_size retained_customers retention_rate retained_mrr "
    "revenue_retention"
).split()


def read_fixture() -> list[dict]:
    with open(FIXTURE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["start_date"] = dt.date.fromisoformat(r["start_date"])
        r["end_date"] = dt.date.fromisoformat(r["end_date"]) if r["end_date"] else None
        r["monthly_amount"] = float(r["monthly_amount"])
    return rows


def month(d: dt.date) -> dt.date:
    return d.replace(day=1)


def add_month(d: dt.date, n: int = 1) -> dt.date:
    k = d.year * 12 + d.month - 1 + n
    return dt.date(k // 12, k % 12 + 1, 1)


def playbook_category(is_first_month, is_active, was_active, mrr_change):
    # zero-start branches first (see the module docstring)
    if is_first_month:
        return "new"
    if not is_active and was_active:
        return "churn"
    if is_active and not was_active:
        return "reactivation"
    if mrr_change > 0:
        return "upgrade"
    if mrr_change < 0:
        return "downgrade"
    return None


def playbook_mrr(rows: list[dict], as_of: dt.date) -> list[dict]:
    """The playbook's ``mrr`` model: one row per customer-month with its change_category."""
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_customer[r["customer_id"]].append(r)
    out = []
    for cid, subs in by_customer.items():
        first_month = month(min(s["start_date"] for s in subs))
        last_month = month(max(s["end_date"] or add_month(month(as_of)) for s in subs))
        months = []
        m = first_month
        while m < last_month:
            months.append(m)
            m = add_month(m)
        mrr = {
            m: sum(
                s["monthly_amount"]
                for s in subs
                if s["start_date"] <= m and (s["end_date"] is None or m < s["end_date"])
            )
            for m in months
        }
        active = [m for m in months if mrr[m] > 0]
        if not active:
            continue
        first_active, last_active = active[0], active[-1]
        churn_month = add_month(last_active)
        if churn_month not in mrr:  # customer_churn_month: the month after the last active one
            months.append(churn_month)
            mrr[churn_month] = 0.0
        previous = 0.0
        for m in months:
            change = mrr[m] - previous
            category = playbook_category(m == first_active, mrr[m] > 0, previous > 0, change)
            if m <= as_of:
                out.append(
                    {
                        "customer_id": cid,
                        "date_month": m,
                        "mrr": mrr[m],
                        "previous_mrr": previous,
                        "mrr_change": change,
                        "change_category": category,
                    }
                )
            previous = mrr[m]
    return out


def playbook_summary(customer_months: list[dict]) -> dict[tuple[dt.date, str], tuple[int, float]]:
    """(month, our movement) -> (customers, signed MRR amount)."""
    out: dict[tuple[dt.date, str], list] = defaultdict(lambda: [0, 0.0])
    for r in customer_months:
        cat = r["change_category"]
        if cat is None:
            continue
        amount = r["mrr"] if cat in ("new", "reactivation") else r["mrr_change"]
        cell = out[(r["date_month"], CATEGORY[cat])]
        cell[0] += 1
        cell[1] += amount
    return {k: (v[0], v[1]) for k, v in out.items()}


@pytest.fixture(scope="module")
def built():
    from saas_retention.builders.duckdb.run import build
    from saas_retention.core.config import parse_settings

    settings = parse_settings({"as_of": AS_OF, "grain": "month", "tables": MAPPING})
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copy(FIXTURE, src / FIXTURE.name)
        build(src, settings, database=Path(tmp) / "playbook.duckdb")
        return load_tables(Path(tmp) / "playbook.duckdb")


def test_fixture_is_the_shared_one_unchanged():
    shared = Path("/work/shared/fixtures/mrr_playbook/subscription_periods.csv")
    if not shared.exists():
        pytest.skip("shared fixtures not available")
    assert FIXTURE.read_bytes() == shared.read_bytes()


def test_fixture_is_month_aligned_without_overlaps():
    # the premises under which the playbook and our definitions must agree (module docstring)
    rows = read_fixture()
    assert len(rows) == 121 and len({r["customer_id"] for r in rows}) == 55
    for r in rows:
        assert r["start_date"].day == 1 and (r["end_date"] is None or r["end_date"].day == 1)
        assert r["monthly_amount"] > 0
    by_customer = defaultdict(list)
    for r in rows:
        by_customer[r["customer_id"]].append((r["start_date"], r["end_date"]))
    for periods in by_customer.values():
        periods.sort()
        for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
            assert end is not None and end <= start


def test_playbook_classification_matches_mrr_movements(built):
    expected = playbook_summary(playbook_mrr(read_fixture(), AS_OF))
    # the comparison has teeth: every category occurs in the fixture
    assert {mv for (_, mv) in expected} == set(CATEGORY.values())
    got = {
        (r["date_month"], r["movement"]): (r["customers"], r["mrr_amount"])
        for r in built["mrr_movements"]
    }
    months = sorted({m for (m, _) in got})
    assert months[0] == min(m for (m, _) in expected)
    assert months[-1] == month(AS_OF)
    assert {m for (m, _) in expected} <= set(months)
    diffs = []
    for m in months:
        for mv in CATEGORY.values():
            want = expected.get((m, mv), (0, 0.0))
            have = got[(m, mv)]
            if have[0] != want[0] or abs(have[1] - want[1]) > 1e-9:
                diffs.append(f"{m} {mv}: package {have} != playbook {want}")
    assert not diffs, "\n".join(diffs)


def test_playbook_customer_months_match_customer_periods(built):
    expected = {(r["customer_id"], r["date_month"]): r for r in playbook_mrr(read_fixture(), AS_OF)}
    # the playbook's spine starts at the first subscription; ours at the first paying month,
    # the same thing here since every amount is > 0
    got = {(r["customer_id"], r["date_month"]): r for r in built["customer_periods"]}
    assert set(got) == set(expected)
    for key, r in got.items():
        e = expected[key]
        assert (r["mrr"], r["previous_mrr"]) == (e["mrr"], e["previous_mrr"]), key
        cat = e["change_category"]
        assert r["movement"] == (CATEGORY[cat] if cat else ("retained" if r["mrr"] else "inactive"))


def _reference():
    subs = [
        sub(
            r["subscription_id"],
            r["customer_id"],
            r["start_date"],
            r["end_date"],
            r["monthly_amount"],
        )
        for r in read_fixture()
    ]
    return compute(subs, AS_OF, "month")


def test_playbook_fixture_matches_the_reference(built):
    # every model, cohorts included: all customers have churned by Feb 2020, so the cohort
    # cells of Mar-Jun 2020 (before as_of) must be 0, not NULL
    assert_matches(built, _reference())


def _script() -> list[str]:
    """``python -m saas_retention.cli``, or the console script next to the interpreter."""
    probe = subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", "--help"], capture_output=True, text=True
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "saas_retention.cli"]
    exe = Path(sys.executable).with_name("saas-retention")
    assert exe.exists(), probe.stderr
    return [str(exe)]


def test_cli_build_as_a_new_user(tmp_path):
    cfg = tmp_path / "saas_retention.yml"
    cfg.write_text(
        "grain: month\n"
        "tables:\n"
        "  subscriptions:\n"
        "    table: subscription_periods\n"
        "    columns: {mrr: monthly_amount}\n",
        encoding="utf-8",
    )
    source = tmp_path / "playbook"
    source.mkdir()
    shutil.copy(FIXTURE, source / FIXTURE.name)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            *_script(),
            "build",
            "--source",
            str(source),
            "--config",
            str(cfg),
            "--as-of",
            "2020-06-30",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    required = {
        "retention": RETENTION_COLUMNS,
        "cohort_retention": COHORT_COLUMNS,
        "mrr_movements": ["date_month", "movement", "customers", "mrr_amount"],
        "customer_periods": ["customer_id", "date_month", "mrr", "previous_mrr", "movement"],
    }
    tables = {}
    for name, columns in required.items():
        path = out / f"{name}.csv"
        assert path.is_file(), f"{path} missing; files: {sorted(p.name for p in out.iterdir())}"
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            assert not missing, f"{name}.csv lacks {missing}"
            tables[name] = list(reader)
    # the files hold the numbers: MRR per month equals the playbook's
    playbook_total: dict[str, float] = defaultdict(float)
    for r in playbook_mrr(read_fixture(), AS_OF):
        playbook_total[r["date_month"].isoformat()] += r["mrr"]
    for r in tables["retention"]:
        assert float(r["mrr_end"]) == pytest.approx(playbook_total.get(r["date_month"], 0.0))
    assert max(r["date_month"] for r in tables["retention"]) == "2020-06-01"
    assert len(tables["cohort_retention"]) > 0
