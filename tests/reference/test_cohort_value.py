"""cohort_value: the sBG projection fitted in SQL reproduces Fader & Hardie (2007) end to end,
and observed LTV is cumulative revenue per cohort customer."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest

from saas_retention.builders.duckdb.run import build
from saas_retention.core.config import parse_settings
from saas_retention.udfs import sbg

PAPER = Path(__file__).resolve().parents[1] / "fixtures" / "sbg_paper" / "survivors.csv"


def paper_counts(segment: str) -> list[int]:
    with PAPER.open() as f:
        return [int(r["alive"]) for r in csv.DictReader(f) if r["segment"] == segment]


def write_cohort(folder: Path, counts: list[int], mrr: float = 10.0) -> None:
    """One customer per subscription, all starting 2000-01-01; the customers lost in year k
    end on 1 January of year k (annual grain: they pay in years 0..k-1)."""
    rows = ["subscription_id,customer_id,start_date,end_date,mrr"]
    n = 0
    for k in range(1, len(counts)):
        for _ in range(counts[k - 1] - counts[k]):
            n += 1
            rows.append(f"s{n},c{n},2000-01-01,{2000 + k}-01-01,{mrr}")
    for _ in range(counts[-1]):
        n += 1
        rows.append(f"s{n},c{n},2000-01-01,,{mrr}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "subscriptions.csv").write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize(("segment", "alpha", "beta"),
                         [("high_end", 0.668, 3.806), ("regular", 0.704, 1.182)])
def test_paper_estimates_through_the_build(tmp_path, segment, alpha, beta):
    counts = paper_counts(segment)
    write_cohort(tmp_path / "src", counts)
    db = tmp_path / "m.duckdb"
    build(tmp_path / "src", parse_settings({"as_of": dt.date(2007, 6, 30), "grain": "year",
                                            "discount_rate": 0.1}), database=db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select period_number, survivors, alpha, beta, projected_survival, observed_ltv, "
            "projected_ltv from cohort_value order by period_number").fetchall()
    finally:
        con.close()
    assert [r[1] for r in rows] == counts
    assert round(rows[0][2], 3) == alpha and round(rows[0][3], 3) == beta
    fitted = sbg.fit(counts)
    for k, r in enumerate(rows):
        assert r[4] == pytest.approx(sbg.survival(fitted.alpha, fitted.beta, k), rel=1e-9)
        # observed: 12 months of 10 a month per year alive, summed over years 0..k
        assert r[5] == pytest.approx(sum(120.0 * c for c in counts[: k + 1]) / counts[0])
        expected = 120.0 * sum(sbg.survival(fitted.alpha, fitted.beta, t) / 1.1 ** t
                               for t in range(k + 1))
        assert r[6] == pytest.approx(expected, rel=1e-9)


def test_degenerate_cohort_has_null_fit(tmp_path):
    write_cohort(tmp_path / "src", [5, 5, 5])  # nobody churns: no estimate, never a crash
    db = tmp_path / "m.duckdb"
    build(tmp_path / "src", parse_settings({"as_of": dt.date(2002, 6, 30), "grain": "year"}),
          database=db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select alpha, beta, projected_survival, observed_ltv "
                           "from cohort_value order by period_number").fetchall()
    finally:
        con.close()
    assert all(r[0] is None and r[1] is None and r[2] is None for r in rows)
    assert [r[3] for r in rows] == pytest.approx([120.0, 240.0, 360.0])


def test_sbg_survival_macro_equals_arrow_and_numpy():
    from saas_retention import register

    con = duckdb.connect()
    try:
        register(con)
        rows = con.execute(
            "select a, b, t, sbg_survival(a, b, t), sbg_survival_arrow(a, b, t) from "
            "(select 0.2 + 0.37 * i as a, 0.5 + 0.91 * j as b, cast(t as double) as t "
            "from range(1, 6) x(i), range(1, 6) y(j), range(0, 40) z(t))").fetchall()
    finally:
        con.close()
    for a, b, t, macro, udf in rows:
        assert macro == pytest.approx(udf, rel=1e-9)
        assert macro == pytest.approx(sbg.survival(a, b, t), rel=1e-9)
