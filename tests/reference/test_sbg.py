"""Shifted-beta-geometric retention model (docs/definitions.md#value): Fader & Hardie (2007) on
their own data, model identities as properties, input checking, speed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saas_retention.udfs import sbg

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sbg_paper" / "survivors.csv"
SHARED_FIXTURE = (
    Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "sbg_paper" / "survivors.csv"
)

# Fader & Hardie (2007), "How to project customer retention", the paper's ML estimates.
PAPER = {"high_end": (0.668, 3.806, -1611.2), "regular": (0.704, 1.182, -1680.3)}

PARAM = st.floats(0.01, 100.0)
SETTINGS = settings(max_examples=60, deadline=None)


def load_paper_cohorts(path: Path = FIXTURE) -> dict[str, list[float]]:
    cohorts: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            cohorts.setdefault(row["segment"], []).append((int(row["year"]), float(row["alive"])))
    return {seg: [alive for _, alive in sorted(rows)] for seg, rows in cohorts.items()}


def reference_loglik(alive, alpha, beta) -> float:
    """The paper's log-likelihood, computed with its recursions (independent of the module)."""
    p = alpha / (alpha + beta)
    s = 1.0 - p
    ll = (alive[0] - alive[1]) * math.log(p)
    for t in range(2, len(alive)):
        p *= (beta + t - 2) / (alpha + beta + t - 1)
        s -= p
        ll += (alive[t - 1] - alive[t]) * math.log(p)
    return ll + alive[-1] * math.log(s)


def expected_survivors(alpha, beta, size, periods) -> list[float]:
    return list(size * np.asarray(sbg.survival(alpha, beta, np.arange(periods + 1))))


# --------------------------------------------------------------------------- the paper


def test_fixture_copy_matches_shared_fixture():
    if not SHARED_FIXTURE.exists():
        pytest.skip("shared/fixtures not beside the repository")
    assert FIXTURE.read_bytes() == SHARED_FIXTURE.read_bytes()


@pytest.mark.parametrize("segment", sorted(PAPER))
def test_reproduces_paper_estimates(segment):
    alive = load_paper_cohorts()[segment]
    assert len(alive) == 8  # years 0..7, as fitted in the paper
    result = sbg.fit(alive)
    alpha, beta, loglik = PAPER[segment]
    assert result.converged
    assert result.n_periods == 7
    assert round(result.alpha, 3) == alpha
    assert round(result.beta, 3) == beta
    assert round(result.log_likelihood, 1) == loglik
    assert result.log_likelihood == pytest.approx(
        reference_loglik(alive, result.alpha, result.beta), rel=1e-12
    )


@pytest.mark.parametrize("segment", sorted(PAPER))
def test_fit_is_a_maximum(segment):
    alive = load_paper_cohorts()[segment]
    result = sbg.fit(alive)
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (1e-3, 1e-3), (1e-3, -1e-3)]:
        other = reference_loglik(alive, result.alpha * (1 + da), result.beta * (1 + db))
        assert other < result.log_likelihood


@pytest.mark.parametrize("segment", sorted(PAPER))
def test_nelder_mead_fallback_reproduces_paper(monkeypatch, segment):
    # With Newton disabled, the fit comes from the Nelder–Mead fallback alone.
    monkeypatch.setattr(sbg, "_MAX_NEWTON", 0)
    result = sbg.fit(load_paper_cohorts()[segment])
    alpha, beta, _ = PAPER[segment]
    assert round(result.alpha, 3) == alpha
    assert round(result.beta, 3) == beta


def test_paper_projection():
    # The paper's figure: the fitted model tracks the observed survivors of both segments.
    for segment, alive in load_paper_cohorts().items():
        result = sbg.fit(alive)
        projected = expected_survivors(result.alpha, result.beta, alive[0], 7)
        assert np.max(np.abs(np.asarray(projected) - alive)) < 25, segment


# --------------------------------------------------------------------------- fitting


def test_fit_is_scale_free():
    alive = load_paper_cohorts()["high_end"]
    base = sbg.fit(alive)
    scaled = sbg.fit([10 * a for a in alive])
    assert scaled.alpha == pytest.approx(base.alpha, rel=1e-8)
    assert scaled.beta == pytest.approx(base.beta, rel=1e-8)
    assert scaled.log_likelihood == pytest.approx(10 * base.log_likelihood, rel=1e-10)


@SETTINGS
@given(alpha=st.floats(0.2, 5.0), beta=st.floats(0.2, 10.0), periods=st.integers(4, 36))
def test_fit_recovers_parameters_of_expected_counts(alpha, beta, periods):
    # Expected counts of a known model are maximised at the true parameters.
    result = sbg.fit(expected_survivors(alpha, beta, 1e6, periods))
    assert result.converged
    assert result.alpha == pytest.approx(alpha, rel=1e-4)
    assert result.beta == pytest.approx(beta, rel=1e-4)


@pytest.mark.parametrize("alpha,beta", [(0.7, 1.2), (0.67, 3.8), (2.0, 6.0)])
def test_fit_recovers_parameters_of_simulated_cohort(alpha, beta):
    rng = np.random.default_rng(20070101)
    theta = rng.beta(alpha, beta, size=200_000)
    churn_period = rng.geometric(np.clip(theta, 1e-12, 1.0))
    alive = [int((churn_period > t).sum()) for t in range(25)]
    result = sbg.fit(alive)
    assert result.converged
    assert result.alpha == pytest.approx(alpha, rel=0.05)
    assert result.beta == pytest.approx(beta, rel=0.05)


def test_fit_many_matches_fit():
    cohorts = list(load_paper_cohorts().values()) + [
        expected_survivors(1.5, 2.5, 500, n) for n in (2, 5, 12, 36)
    ]
    cohorts.append([1000, 1000, 1000])  # degenerate, kept in place
    many = sbg.fit_many(cohorts)
    assert len(many) == len(cohorts)
    for cohort, got in zip(cohorts, many, strict=True):
        one = sbg.fit(cohort)
        if math.isnan(one.alpha):
            assert math.isnan(got.alpha) and not got.converged
            continue
        assert got.alpha == pytest.approx(one.alpha, rel=1e-9)
        assert got.beta == pytest.approx(one.beta, rel=1e-9)
        assert got.log_likelihood == pytest.approx(one.log_likelihood, rel=1e-12)
        assert got.n_periods == len(cohort) - 1


def test_fit_many_names_the_invalid_cohort():
    with pytest.raises(ValueError, match=r"cohort 1: .*non-increasing"):
        sbg.fit_many([[10, 5, 2], [10, 11]])


@pytest.mark.parametrize(
    "alive",
    [
        [1000, 1000, 1000, 1000],  # nobody churns
        [1000, 0, 0, 0],  # everyone churns in period 1
        [1000, 0],
        [1000, 600],  # one period: only α / (α + β) is identified
    ],
)
def test_degenerate_cohorts_give_nan(alive):
    result = sbg.fit(alive)
    assert math.isnan(result.alpha) and math.isnan(result.beta)
    assert math.isnan(result.log_likelihood)
    assert result.converged is False
    assert result.n_periods == len(alive) - 1


@pytest.mark.parametrize(
    "alive",
    [
        [1000, 500, 500, 500],  # all churn in period 1, the rest never: α, β → 0
        [1000, 1000, 1000, 900],  # churn only late
        [1000, 500, 0, 0],
        [3, 2, 2, 1],
        [1, 1, 0],
    ],
)
def test_edge_solutions_end_cleanly(alive):
    # the optimiser's iterations are bounded, so a fit always returns (how fast is the
    # benchmarks' business, never a test's on a shared machine)
    result = sbg.fit(alive)
    assert math.isfinite(result.alpha) and math.isfinite(result.beta)
    assert result.alpha > 0 and result.beta > 0
    assert math.isfinite(result.log_likelihood)
    assert result.log_likelihood <= 1e-9


def test_constant_churn_projects_constant_retention():
    # No heterogeneity: the maximum is at α, β → ∞, the projection is geometric.
    alive = [1000 * 0.9**t for t in range(13)]
    result = sbg.fit(alive)
    assert math.isfinite(result.alpha) and result.alpha + result.beta > 1e3
    projected = np.asarray(sbg.survival(result.alpha, result.beta, np.arange(25)))
    np.testing.assert_allclose(projected, 0.9 ** np.arange(25), rtol=1e-3)


def test_fit_many_equals_fitting_one_by_one():
    """The batched fit gives every cohort's own fit (its speed is measured by the benchmarks'
    metric-function section, not asserted here: the machine is shared and noisy)."""
    rng = np.random.default_rng(7)
    cohorts = []
    for _ in range(100):
        a, b = rng.uniform(0.3, 3.0), rng.uniform(0.5, 8.0)
        theta = rng.beta(a, b, size=int(rng.integers(200, 5000)))
        churn_period = rng.geometric(np.clip(theta, 1e-12, 1.0))
        cohorts.append([int((churn_period > t).sum()) for t in range(37)])
    one_by_one = [sbg.fit(c) for c in cohorts]
    batched = sbg.fit_many(cohorts)
    assert all(r.converged for r in one_by_one)
    assert [round(r.alpha, 8) for r in one_by_one] == [round(r.alpha, 8) for r in batched]
    assert [round(r.beta, 8) for r in one_by_one] == [round(r.beta, 8) for r in batched]


# --------------------------------------------------------------------------- input checking


@pytest.mark.parametrize(
    "alive,message",
    [
        ([], "at least 2 values"),
        ([1000], "at least 2 values"),
        ([1000, 900, 950], r"non-increasing.*survivors\[2\]"),
        ([1000, -1], "non-negative"),
        ([0, 0, 0], "cohort size"),
        ([1000, float("nan"), 3], "finite"),
        ([1000, float("inf")], "finite"),
        ([[1000, 900], [800, 700]], "flat sequence"),
        (["a", "b"], "sequence of numbers"),
    ],
)
def test_invalid_input_raises(alive, message):
    with pytest.raises(ValueError, match=message):
        sbg.fit(alive)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: sbg.survival(0, 1, 1), "alpha"),
        (lambda: sbg.survival(1, -1, 1), "beta"),
        (lambda: sbg.survival(1, 1, -1), "t must be"),
        (lambda: sbg.retention_rate(1, 1, 0), "t must be"),
        (lambda: sbg.churn_probability(1, 1, 0), "t must be"),
        (lambda: sbg.discounted_expected_lifetime(1, 1, -0.1), "discount"),
        (lambda: sbg.discounted_expected_lifetime(1, 1, 0.1, horizon=2.5), "horizon"),
        (lambda: sbg.expected_lifetime_value(1, 1, 0, 0.1), "margin"),
        (lambda: sbg.expected_lifetime_value(1, 1, -5, 0.1), "margin"),
    ],
)
def test_invalid_model_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- model identities


@SETTINGS
@given(alpha=PARAM, beta=PARAM)
def test_survival_starts_at_one(alpha, beta):
    assert sbg.survival(alpha, beta, 0) == 1.0


@SETTINGS
@given(alpha=PARAM, beta=PARAM, horizon=st.integers(1, 200))
def test_survival_decreases_and_stays_in_unit_interval(alpha, beta, horizon):
    s = np.asarray(sbg.survival(alpha, beta, np.arange(horizon + 1)))
    assert np.all(s > 0) and np.all(s <= 1)
    assert np.all(np.diff(s) < 0)


@SETTINGS
@given(alpha=PARAM, beta=PARAM, horizon=st.integers(1, 100))
def test_survival_matches_recursion(alpha, beta, horizon):
    s = np.asarray(sbg.survival(alpha, beta, np.arange(horizon + 1)))
    expected = np.cumprod(
        np.r_[1.0, [(beta + t - 1) / (alpha + beta + t - 1) for t in range(1, horizon + 1)]]
    )
    np.testing.assert_allclose(s, expected, rtol=1e-11)


@SETTINGS
@given(alpha=PARAM, beta=PARAM, horizon=st.integers(2, 200))
def test_retention_rate_increases(alpha, beta, horizon):
    r = np.asarray(sbg.retention_rate(alpha, beta, np.arange(1, horizon + 1)))
    assert np.all(np.diff(r) > 0)
    assert np.all((r > 0) & (r < 1))
    s = np.asarray(sbg.survival(alpha, beta, np.arange(horizon + 1)))
    np.testing.assert_allclose(r, s[1:] / s[:-1], rtol=1e-10)


@SETTINGS
@given(alpha=PARAM, beta=PARAM, horizon=st.integers(1, 100))
def test_churn_probabilities_and_survival_add_up(alpha, beta, horizon):
    p = np.asarray(sbg.churn_probability(alpha, beta, np.arange(1, horizon + 1)))
    assert p[0] == pytest.approx(alpha / (alpha + beta), rel=1e-12)
    assert np.all(p > 0)
    assert p.sum() + sbg.survival(alpha, beta, horizon) == pytest.approx(1.0, rel=1e-10)


@SETTINGS
@given(
    alpha=PARAM,
    beta=PARAM,
    margin=st.floats(0.01, 1e4),
    factor=st.floats(1.01, 100.0),
    discount=st.floats(0.001, 1.0),
)
def test_lifetime_value_grows_with_margin(alpha, beta, margin, factor, discount):
    low = sbg.expected_lifetime_value(alpha, beta, margin, discount)
    high = sbg.expected_lifetime_value(alpha, beta, margin * factor, discount)
    assert math.isfinite(low) and low >= margin  # the first period is always paid
    assert high > low
    assert high == pytest.approx(factor * low, rel=1e-12)


@SETTINGS
@given(alpha=PARAM, beta=PARAM, discount=st.floats(0.001, 1.0), more=st.floats(0.001, 1.0))
def test_lifetime_falls_with_discount_rate(alpha, beta, discount, more):
    near = sbg.discounted_expected_lifetime(alpha, beta, discount)
    far = sbg.discounted_expected_lifetime(alpha, beta, discount + more)
    assert 1.0 <= far < near


@SETTINGS
@given(alpha=PARAM, beta=PARAM, discount=st.floats(0.01, 1.0))
def test_lifetime_series_matches_direct_sum(alpha, beta, discount):
    t = np.arange(20_000)
    direct = float(
        np.sum(np.asarray(sbg.survival(alpha, beta, t)) * np.exp(-t * np.log1p(discount)))
    )
    got = sbg.discounted_expected_lifetime(alpha, beta, discount)
    assert got == pytest.approx(direct, rel=1e-10)
    assert sbg.discounted_expected_lifetime(alpha, beta, discount, horizon=20_000) == (
        pytest.approx(direct, rel=1e-12)
    )


@pytest.mark.parametrize("discount", [1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-6, 1e-9, 1e-15])
def test_lifetime_closed_forms(discount):
    # 2F1(1, β; α + β; z), z = 1 / (1 + d), in closed form: α = β = 1 gives S(t) = 1 / (t + 1),
    # so DEL = −ln(1 − z) / z; α = 1/2, β = 1 gives arcsin(√z) / √(z (1 − z)). Written with
    # 1 − z = d / (1 + d) to stay exact for small d (the series is then finished analytically).
    d = discount
    log_form = (1 + d) * math.log1p(1 / d)
    arcsin_form = (math.pi / 2 - math.asin(math.sqrt(d / (1 + d)))) * (1 + d) / math.sqrt(d)
    assert sbg.discounted_expected_lifetime(1.0, 1.0, d) == pytest.approx(log_form, rel=1e-12)
    assert sbg.discounted_expected_lifetime(0.5, 1.0, d) == pytest.approx(arcsin_form, rel=1e-12)


@pytest.mark.parametrize("alpha,beta", [(0.2, 0.3), (0.668, 3.806), (5.0, 50.0), (0.01, 100.0)])
def test_lifetime_slow_series_matches_direct_sum(alpha, beta):
    # d = 1e-4: the infinite sum is finished by Euler–Maclaurin; check it against 600k terms.
    d = 1e-4
    direct = sbg.discounted_expected_lifetime(alpha, beta, d, horizon=600_000)
    assert sbg.discounted_expected_lifetime(alpha, beta, d) == pytest.approx(direct, rel=1e-11)


def test_lifetime_finite_horizon():
    alpha, beta, d = 0.668, 3.806, 0.1
    s = np.asarray(sbg.survival(alpha, beta, np.arange(5)))
    assert sbg.discounted_expected_lifetime(alpha, beta, d, horizon=5) == pytest.approx(
        float(np.sum(s / 1.1 ** np.arange(5))), rel=1e-14
    )
    assert sbg.discounted_expected_lifetime(alpha, beta, d, horizon=1) == 1.0
    assert sbg.discounted_expected_lifetime(alpha, beta, d, horizon=0) == 0.0
    assert sbg.discounted_expected_lifetime(alpha, beta, d, horizon=5) < (
        sbg.discounted_expected_lifetime(alpha, beta, d)
    )


def test_lifetime_without_discount():
    # Expected lifetime E[T] = (α + β − 1) / (α − 1) for α > 1; it diverges for α ≤ 1, and the
    # value is then NaN, never infinity (docs/definitions.md#pitfalls).
    assert sbg.discounted_expected_lifetime(3.0, 4.0, 0.0) == pytest.approx(3.0)
    assert math.isnan(sbg.discounted_expected_lifetime(0.668, 3.806, 0.0))
    assert sbg.discounted_expected_lifetime(0.668, 3.806, 0.0, horizon=3) == pytest.approx(
        float(np.sum(sbg.survival(0.668, 3.806, np.arange(3))))
    )
    # A tiny discount rate converges towards the undiscounted lifetime.
    assert sbg.discounted_expected_lifetime(3.0, 4.0, 1e-6) == pytest.approx(3.0, rel=1e-5)


def test_survival_broadcasts():
    got = sbg.survival(np.array([0.668, 0.704]), np.array([3.806, 1.182]), np.array([[1], [7]]))
    assert got.shape == (2, 2)
    assert got[0, 0] == pytest.approx(3.806 / (0.668 + 3.806))
    assert isinstance(sbg.survival(1.0, 1.0, 3), float)
    assert sbg.survival(1.0, 1.0, 3) == pytest.approx(0.25)  # B(1, 1 + t) / B(1, 1) = 1 / (t + 1)


@SETTINGS
@given(x=st.floats(1e-3, 1e3), h=st.floats(0.0, 1e3))
def test_log_gamma_ratio(x, h):
    assert sbg._log_gamma_ratio(x, h) == pytest.approx(
        math.lgamma(x + h) - math.lgamma(x), rel=1e-11, abs=1e-11
    )
