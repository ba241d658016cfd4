"""Bounds of the IB robustness paper (math.md §B1, §B2, §B4) against their worked examples, closed
forms and Monte Carlo."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from infotheory.bounds import (
    fano_lower_bound,
    gaussian_bayes_classifier,
    psi,
    robustness_bound,
    transfer_delta,
)

# ---- psi (eq. 6) --------------------------------------------------------------------------------


def test_psi_values():
    assert psi(0.01) == pytest.approx(0.046052, abs=5e-7)
    assert psi(0.1) == pytest.approx(0.230259, abs=5e-7)
    assert psi(1 / math.e) == pytest.approx(0.367879, abs=5e-7)
    assert psi(1.0) == pytest.approx(0.367879, abs=5e-7)
    assert psi(0.0) == 0.0
    assert psi(1e6) == math.exp(-1)
    out = psi([0.0, 0.01, 1.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [0.0, 0.01 * math.log(100), math.exp(-1)], atol=1e-15)


@settings(max_examples=200, deadline=None)
@given(a=st.floats(0, 5), b=st.floats(0, 5))
def test_psi_continuous_non_decreasing(a, b):
    lo, hi = min(a, b), max(a, b)
    assert psi(lo) <= psi(hi) + 1e-15
    assert 0.0 <= psi(a) <= math.exp(-1)
    x = 1 / math.e
    assert abs(psi(x * (1 - 1e-9)) - psi(x)) < 1e-9


def test_psi_bad_input():
    with pytest.raises(ValueError, match="x"):
        psi(-0.1)
    with pytest.raises(ValueError, match="NaN"):
        psi(float("nan"))


# ---- Theorem 2 (eq. 5) --------------------------------------------------------------------------

BASE = dict(
    L=2.0, eps=0.05, n_benign=16, n_adv=20, mi_benign=1.5, mi_adv=2.0, constants=(1, 0.5, 1, 0.5)
)


def test_robustness_bound_closed_form():
    v = robustness_bound(**BASE)
    benign = 1 * 4 * 1.5**0.5 + 0.5 * 16**0.75 * 1.5**0.25
    adv = 1 * math.sqrt(20) * 2**0.5 + 0.5 * 20**0.75 * 2**0.25
    assert v == pytest.approx(36 * psi(0.1) + max(benign, adv), rel=1e-14)
    assert robustness_bound(**BASE, n_union=25) == pytest.approx(
        25 * psi(0.1) + max(benign, adv), rel=1e-14
    )


@pytest.mark.parametrize("key", ["L", "eps", "mi_benign", "mi_adv"])
def test_robustness_bound_monotone(key):
    vals = [robustness_bound(**{**BASE, key: BASE[key] * f}) for f in (0.5, 1.0, 2.0, 4.0)]
    assert all(a <= b for a, b in itertools.pairwise(vals))
    assert vals[0] < vals[-1]


def test_robustness_bound_bad_input():
    with pytest.raises(ValueError, match="eps"):
        robustness_bound(**{**BASE, "eps": -1})
    with pytest.raises(ValueError, match="constants"):
        robustness_bound(**{**BASE, "constants": (1, 2)})
    with pytest.raises(ValueError, match="n_union"):
        robustness_bound(**BASE, n_union=100)


# ---- Theorem 4 ----------------------------------------------------------------------------------


def test_transfer_examples():
    assert transfer_delta(0.1, 0.02, 100, 1e-4, 0.3) == pytest.approx(0.1830, abs=1e-12)
    assert transfer_delta(0.05, 0.01, 16, 0.01, 0.1) == pytest.approx(0.1060, abs=1e-12)
    assert transfer_delta(0.9, 0.1, 10, 1.0, 1.0) > 1  # vacuous, returned unclipped


def test_transfer_bad_input():
    with pytest.raises(ValueError, match="delta"):
        transfer_delta(1.5, 0.0, 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="tau"):
        transfer_delta(0.1, -0.1, 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="T"):
        transfer_delta(0.1, 0.1, 0, 0.0, 0.0)
    with pytest.raises(TypeError, match="L"):
        transfer_delta(0.1, 0.1, 1, "1", 0.0)


# ---- Fano ---------------------------------------------------------------------------------------


def test_fano_example():
    assert fano_lower_bound(2.0, 10) == pytest.approx(0.3010, abs=5e-5)
    assert fano_lower_bound(2.0, 10, form="full") == pytest.approx(0.3394, abs=5e-5)
    assert fano_lower_bound(2.0 * math.log(2), 10, form="full", base="e") == pytest.approx(
        fano_lower_bound(2.0, 10, form="full"), abs=1e-12
    )


def test_fano_edges():
    assert fano_lower_bound(0.5, 10) == 0.0  # weak form vacuous for H <= 1 bit
    assert fano_lower_bound(0.0, 10, form="full") == 0.0
    assert fano_lower_bound(math.log2(10), 10, form="full") == pytest.approx(0.9)
    assert fano_lower_bound(1.0, 2, form="full") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="H"):
        fano_lower_bound(4.0, 10)
    with pytest.raises(ValueError, match="M"):
        fano_lower_bound(0.5, 1)
    with pytest.raises(ValueError, match="form"):
        fano_lower_bound(0.5, 4, form="strong")


@settings(max_examples=200, deadline=None)
@given(M=st.integers(2, 1000), frac=st.floats(0.0, 1.0))
def test_fano_full_inverts_and_dominates(M, frac):
    H = frac * math.log2(M)
    p = fano_lower_bound(H, M, form="full")
    assert 0.0 <= p <= 1 - 1 / M + 1e-15
    hb = 0.0 if p in (0.0, 1.0) else -p * math.log2(p) - (1 - p) * math.log2(1 - p)
    if 0 < p < 1 - 1 / M - 1e-12:
        assert hb + p * math.log2(M - 1) == pytest.approx(H, abs=1e-9)
    assert p >= fano_lower_bound(H, M, form="weak") - 1e-12


# ---- Gaussian toy (§B2) -------------------------------------------------------------------------

MU0, MU1, SIGMA = [0.0, 0.0], [1.0, 2.0], [[1.0, 0.5], [0.5, 2.0]]


def test_gaussian_toy_example():
    g = gaussian_bayes_classifier(MU0, MU1, SIGMA)
    np.testing.assert_allclose(g.theta, [0.571429, 0.857143], atol=5e-7)
    assert g.c == pytest.approx(1.142857, abs=5e-7)
    assert g.delta == pytest.approx(1.511858, abs=5e-7)
    assert g.error == pytest.approx(0.224846, abs=5e-7)
    assert g.error == pytest.approx(norm.cdf(-g.delta / 2), abs=1e-14)
    assert g.llr([0.3, -0.7]) == pytest.approx(-1.571429, abs=5e-7)
    x = np.array([0.3, -0.7])
    ref = norm_logpdf(x, MU1, SIGMA) - norm_logpdf(x, MU0, SIGMA)
    assert g.llr(x) == pytest.approx(ref, abs=1e-12)
    assert g.to_dict()["theta"] == pytest.approx([0.571429, 0.857143], abs=5e-7)


def norm_logpdf(x, mu, S):
    from scipy.stats import multivariate_normal

    return multivariate_normal(mean=mu, cov=S).logpdf(x)


def test_gaussian_toy_second_example_and_mi():
    g = gaussian_bayes_classifier(MU0, [2.0, 1.0], SIGMA)
    np.testing.assert_allclose(g.theta, [2.0, 0.0], atol=1e-12)
    assert g.c == pytest.approx(2.0, abs=1e-12)
    assert g.delta == pytest.approx(2.0, abs=1e-12)
    assert g.error == pytest.approx(0.158655, abs=5e-7)
    assert g.mi == pytest.approx(0.33683, abs=5e-6)
    assert g.unit == "nats"
    gb = gaussian_bayes_classifier(MU0, [2.0, 1.0], SIGMA, base=2)
    assert gb.mi == pytest.approx(0.33683 / math.log(2), abs=1e-5)


def test_gaussian_toy_monte_carlo_and_priors():
    rng = np.random.default_rng(0)
    n = 200_000
    for prior in (0.5, 0.2):
        g = gaussian_bayes_classifier(MU0, MU1, SIGMA, prior=prior)
        y = rng.random(n) < prior
        x = rng.multivariate_normal(MU0, SIGMA, size=n)
        x[y] += np.asarray(MU1)
        err = float(np.mean(g.predict(x) != y))
        assert err == pytest.approx(g.error, abs=4 * math.sqrt(g.error / n) + 1e-3)
        # Sufficiency: I(Y; theta^T X) by Monte Carlo of ln p(x|y)/p(x).
        llr = g.llr(x)
        lp = np.where(y, -np.logaddexp(np.log(prior), np.log1p(-prior) - llr), 0.0)
        lp = np.where(~y, -np.logaddexp(np.log1p(-prior), np.log(prior) + llr), lp)
        assert float(lp.mean()) == pytest.approx(g.mi, abs=5e-3)
    # The paper's threshold ignores the prior: never better than Bayes, equal at 1/2.
    paper = gaussian_bayes_classifier(MU0, MU1, SIGMA, prior=0.2, threshold="paper")
    bayes = gaussian_bayes_classifier(MU0, MU1, SIGMA, prior=0.2)
    assert paper.c == pytest.approx(1.142857, abs=5e-7)
    assert bayes.c == pytest.approx(1.142857 - math.log(0.2 / 0.8), abs=5e-7)
    assert paper.error > bayes.error
    half = gaussian_bayes_classifier(MU0, MU1, SIGMA, threshold="paper")
    assert half.error == pytest.approx(0.224846, abs=5e-7)


def test_gaussian_toy_degenerate_and_bad_input():
    g = gaussian_bayes_classifier([1.0], [1.0], [[2.0]], prior=0.3)
    assert g.delta == 0.0 and g.mi == 0.0 and g.error == pytest.approx(0.3)
    with pytest.raises(ValueError, match="Sigma"):
        gaussian_bayes_classifier(MU0, MU1, [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="Sigma"):
        gaussian_bayes_classifier(MU0, MU1, [[1.0, 0.1], [0.0, 1.0]])
    with pytest.raises(ValueError, match="prior"):
        gaussian_bayes_classifier(MU0, MU1, SIGMA, prior=1.0)
    with pytest.raises(ValueError, match="mu0"):
        gaussian_bayes_classifier([0.0], MU1, SIGMA)
    with pytest.raises(ValueError, match="threshold"):
        gaussian_bayes_classifier(MU0, MU1, SIGMA, threshold="x")


def test_reproduce_targets(tmp_path):
    from infotheory.experiments.reproduce import TARGETS, Options, resolve

    assert {"bounds-examples", "entropy-estimators"} <= set(TARGETS)
    summary = resolve("bounds-examples")(Options(out=tmp_path / "b", quick=True))
    for row in summary["rows"]:
        tol = 5e-3 if "Monte Carlo" in row["quantity"] else 6e-5
        assert row["abs_error"] < tol, row
    assert (tmp_path / "b" / "report.md").exists()
    summary = resolve("entropy-estimators")(Options(out=tmp_path / "e", quick=True))
    w = summary["worked"][0]
    assert w["jvhw_bits"] == pytest.approx(w["math_md_jvhw"], abs=5e-7)
    assert all(r["rmse_jvhw"] < r["rmse_mle"] for r in summary["rmse"])
    assert (tmp_path / "e" / "entropy_estimators.csv").exists()
