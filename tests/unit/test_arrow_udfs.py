"""The sBG Arrow UDFs, in DuckDB (a fresh connection per test) and on pyarrow arrays directly."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from saas_retention.udfs import arrow, sbg

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sbg_paper" / "survivors.csv"
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


@pytest.fixture
def con():
    connection = duckdb.connect()
    arrow.register_arrow_udfs(connection)
    yield connection
    connection.close()


def test_exported_names():
    assert arrow.ARROW_UDFS == ["sbg_fit", "sbg_survival_arrow"]


def test_sql_fit_reproduces_paper(con):
    row = con.execute(
        "select sbg_fit([1000,869,743,653,593,551,517,491]) as high_end, "
        "sbg_fit([1000,631,468,382,326,289,262,241]) as regular"
    ).fetchall()[0]
    high_end, regular = row
    assert round(high_end["alpha"], 3) == 0.668
    assert round(high_end["beta"], 3) == 3.806
    assert round(high_end["log_likelihood"], 1) == -1611.2
    assert round(regular["alpha"], 3) == 0.704
    assert round(regular["beta"], 3) == 1.182
    assert round(regular["log_likelihood"], 1) == -1680.3


def test_sql_fit_type(con):
    (type_name,) = con.execute("select typeof(sbg_fit([10.0, 5, 2]))").fetchall()[0]
    assert type_name == "STRUCT(alpha DOUBLE, beta DOUBLE, log_likelihood DOUBLE)"


def test_sql_fit_grouped_from_fixture(con):
    rows = con.execute(
        "select segment, sbg_fit(list(alive order by year)) as f "
        "from read_csv(?, header = true) group by segment order by segment",
        [str(FIXTURE)],
    ).fetchall()
    fits = {segment: (round(f["alpha"], 3), round(f["beta"], 3)) for segment, f in rows}
    assert fits == {"high_end": (0.668, 3.806), "regular": (0.704, 1.182)}


def test_sql_null_and_invalid_lists_give_null(con):
    row = con.execute(
        "select sbg_fit(NULL), sbg_fit(NULL::DOUBLE[]), sbg_fit([]::DOUBLE[]), sbg_fit([1000]), "
        "sbg_fit([1000, NULL, 3]), sbg_fit([10, 11]), sbg_fit([10, -1]), sbg_fit([0, 0]), "
        "sbg_fit(['nan'::DOUBLE, 1])"
    ).fetchall()[0]
    assert row == (None,) * len(row)


def test_sql_null_rows_among_valid_rows(con):
    rows = con.execute(
        "select i, sbg_fit(case when i % 2 = 0 then [1000,869,743,653,593,551,517,491] end) f "
        "from range(6) t(i) order by i"
    ).fetchall()
    for i, f in rows:
        if i % 2:
            assert f is None
        else:
            assert round(f["alpha"], 3) == 0.668


def test_sql_degenerate_cohort_gives_null_fields(con):
    (f,) = con.execute("select sbg_fit([1000, 1000, 1000])").fetchall()[0]
    assert f == {"alpha": None, "beta": None, "log_likelihood": None}


def test_sql_more_rows_than_a_vector(con):
    rows = 2500
    assert rows > duckdb.__standard_vector_size__
    # Distinct cohorts: per-period churn counts that vary with i; every 500th row NULL.
    query = f"""
        select i, case when i % 500 = 7 then NULL else [
            1000,
            1000 - d1,
            1000 - d1 - d2,
            1000 - d1 - d2 - d3,
            1000 - d1 - d2 - d3 - d4,
            1000 - d1 - d2 - d3 - d4 - d5
        ]::DOUBLE[] end as alive
        from (
            select i, 60 + i % 97 as d1, 40 + i % 89 as d2, 25 + i % 83 as d3,
                   15 + i % 79 as d4, 10 + i % 61 as d5
            from range({rows}) t(i)
        )
    """
    result = con.execute(
        f"select i, alive, sbg_fit(alive) as f from ({query}) order by i"
    ).fetchall()
    assert len(result) == rows
    nulls = [i for i, alive, _ in result if alive is None]
    assert nulls == [7, 507, 1007, 1507, 2007]
    valid = [(i, alive, f) for i, alive, f in result if alive is not None]
    expected = sbg.fit_many([alive for _, alive, _ in valid])
    for (i, _alive, f), want in zip(valid, expected, strict=True):
        assert f is not None, i
        assert f["alpha"] == pytest.approx(want.alpha, rel=1e-9), i
        assert f["beta"] == pytest.approx(want.beta, rel=1e-9), i
        assert f["log_likelihood"] == pytest.approx(want.log_likelihood, rel=1e-12), i
    assert all(result[i][2] is None for i in nulls)
    for i in (0, 1, 2047, 2048, 2049, 2499):  # spot checks against the one-cohort fit
        one = sbg.fit(result[i][1])
        assert result[i][2]["alpha"] == pytest.approx(one.alpha, rel=1e-9)
        assert result[i][2]["beta"] == pytest.approx(one.beta, rel=1e-9)


def test_register_twice(con):
    arrow.register_arrow_udfs(con)
    arrow.register_arrow_udfs(con)
    (f,) = con.execute("select sbg_fit([1000,631,468,382,326,289,262,241])").fetchall()[0]
    assert round(f["alpha"], 3) == 0.704


def test_register_returns_connection():
    connection = duckdb.connect()
    try:
        assert arrow.register_arrow_udfs(connection) is connection
    finally:
        connection.close()


def test_sql_survival(con):
    rows = con.execute(
        "select t, sbg_survival_arrow(0.668, 3.806, t), "
        "sbg_survival_arrow(0.668, 3.806, t::DOUBLE) "
        "from range(8) r(t) order by t"
    ).fetchall()
    for t, s_int, s_double in rows:
        want = sbg.survival(0.668, 3.806, t)
        assert s_int == pytest.approx(want, rel=1e-14)
        assert s_double == pytest.approx(want, rel=1e-14)
    assert rows[0][1] == 1.0


def test_sql_survival_nulls(con):
    row = con.execute(
        "select sbg_survival_arrow(NULL, 1, 1), sbg_survival_arrow(1, NULL, 1), "
        "sbg_survival_arrow(1, 1, NULL), "
        "sbg_survival_arrow(0, 1, 1), sbg_survival_arrow(1, -2, 1), sbg_survival_arrow(1, 1, -1), "
        "sbg_survival_arrow('nan'::DOUBLE, 1, 1)"
    ).fetchall()[0]
    assert row == (None,) * len(row)


def test_sql_fit_then_project(con):
    rows = con.execute(
        """
        with fits as (
            select sbg_fit([1000,869,743,653,593,551,517,491]) as f
        )
        select t, 1000 * sbg_survival_arrow(f.alpha, f.beta, t) as projected
        from fits, range(13) r(t) order by t
        """
    ).fetchall()
    projected = [p for _, p in rows]
    assert np.all(np.diff(projected) < 0)
    assert max(abs(p - a) for p, a in zip(projected, HIGH_END, strict=False)) < 25


def test_pyarrow_fit_directly():
    counts = pa.array([HIGH_END, None, REGULAR, [5], [1000, 1000, 1000]], pa.list_(pa.int64()))
    result = arrow.sbg_fit_arrow(counts)
    assert isinstance(result, pa.StructArray)
    assert result.type == arrow.FIT_TYPE
    rows = result.to_pylist()
    assert round(rows[0]["alpha"], 3) == 0.668 and round(rows[0]["beta"], 3) == 3.806
    assert rows[1] is None
    assert round(rows[2]["alpha"], 3) == 0.704 and round(rows[2]["beta"], 3) == 1.182
    assert rows[3] is None
    assert rows[4] == {"alpha": None, "beta": None, "log_likelihood": None}


@pytest.mark.parametrize(
    "counts",
    [
        pa.array([HIGH_END, REGULAR], pa.large_list(pa.float64())),
        pa.array([HIGH_END, REGULAR], pa.list_(pa.float64(), 8)),
        pa.chunked_array([pa.array([HIGH_END]), pa.array([REGULAR])]),
        pa.array([[1, 2], HIGH_END, REGULAR, [3]]).slice(1, 2),
    ],
    ids=["large_list", "fixed_size_list", "chunked", "sliced"],
)
def test_pyarrow_fit_layouts(counts):
    rows = arrow.sbg_fit_arrow(counts).to_pylist()
    assert [(round(r["alpha"], 3), round(r["beta"], 3)) for r in rows] == [
        (0.668, 3.806),
        (0.704, 1.182),
    ]


def test_pyarrow_fit_empty_and_wrong_type():
    assert len(arrow.sbg_fit_arrow(pa.array([], pa.list_(pa.float64())))) == 0
    with pytest.raises(TypeError, match="list array"):
        arrow.sbg_fit_arrow(pa.array([1.0, 2.0]))


def test_pyarrow_survival_directly():
    alpha = pa.array([0.668, 0.704, None, 1.0])
    beta = pa.array([3.806, 1.182, 1.0, 1.0])
    t = pa.array([7, 7, 1, -1], pa.int64())
    result = arrow.sbg_survival_arrow(alpha, beta, t)
    assert result.type == pa.float64()
    values = result.to_pylist()
    assert values[0] == pytest.approx(sbg.survival(0.668, 3.806, 7))
    assert values[1] == pytest.approx(sbg.survival(0.704, 1.182, 7))
    assert values[2:] == [None, None]
    # scalars broadcast against an array
    both = arrow.sbg_survival_arrow(1.0, 1.0, pa.array([0.0, 1.0, 3.0])).to_pylist()
    assert both == pytest.approx([1.0, 0.5, 0.25])
    assert not any(isinstance(v, float) and math.isnan(v) for v in values)
