"""Tests written by a mutation audit of the channels and the bounds: each one kills plausible bugs
(named in its docstring) that every earlier test let through. Closed forms, exact invariants and
independent float64 computations only."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.stats import norm

from infotheory.bounds import gaussian_bayes_classifier, robustness_bound
from infotheory.channels import (
    binary_attack,
    binary_attack_grid,
    check_kkt,
    discrete_attack,
    gaussian_scalar_attack,
    gaussian_vector_attack,
    projection_attack,
    subset_attack,
)

LN2, LN10 = math.log(2.0), math.log(10.0)


# ---- binary attack ------------------------------------------------------------------------------


def test_binary_units_where_the_information_is_positive():
    """Killed: mi multiplied by ln(base) instead of divided (the old bits check sat at an eps
    beyond D_0, where I = 0 in every unit)."""
    nats = binary_attack([0.45, 0.05, 0.05, 0.45], 0.1)
    bits = binary_attack([0.45, 0.05, 0.05, 0.45], 0.1, base=2)
    hart = binary_attack([0.45, 0.05, 0.05, 0.45], 0.1, base=10)
    assert float(nats.mi) == pytest.approx(0.19274476, abs=5e-9)
    assert float(bits.mi) == pytest.approx(0.19274476 / LN2, abs=1e-8)
    assert float(hart.mi) == pytest.approx(0.19274476 / LN10, abs=5e-9)
    assert bits.unit == "bits"
    # the grid search of Figure 6 in bits: 0.348537 nats (math.md §A4.4)
    grid = binary_attack_grid([0.45, 0.05, 0.05, 0.45], 0.01, points=100, base=2)
    assert grid == pytest.approx(0.348537 / LN2, abs=1e-6)


# ---- Gaussian scalar and vector attacks ---------------------------------------------------------


@example(a2=1.0, s2=0.5, frac=1.5, aware=True)  # beyond a2: spends a2, not D
@example(a2=1.0, s2=0.5, frac=1.5, aware=False)
@example(a2=2.0, s2=0.0, frac=0.5, aware=True)  # no noise: the independent N carries power
@example(a2=1.0, s2=0.01, frac=0.1, aware=False)  # rho^2 > 1/2
@settings(max_examples=30, deadline=None)
@given(
    a2=st.floats(0.01, 50.0),
    s2=st.one_of(st.just(0.0), st.floats(1e-6, 50.0)),  # beta^2 s2 overflows at s2 = 5e-324
    frac=st.one_of(st.just(0.0), st.floats(1e-9, 2.0)),  # no subnormal budgets: SNR overflows
    aware=st.booleans(),
)
def test_scalar_power_is_what_the_perturbation_spends(a2, s2, frac, aware):
    """Killed: ``power`` reported as the budget D (the aware attacker spends min(D, a2), the blind
    one min(D, a2 + s2)). E = alpha U + beta W + N, so its power is alpha^2 a2 + beta^2 s2 + var N,
    and Cov(U, E) = alpha a2, Cov(W, E) = beta s2."""
    D = frac * a2
    r = gaussian_scalar_attack(a2, s2, D, aware=aware)
    cap = a2 if aware else a2 + s2
    assert float(r.power) == pytest.approx(min(D, cap), rel=1e-12, abs=1e-300)
    spent = float(r.alpha) ** 2 * a2 + float(r.beta) ** 2 * s2 + float(r.noise_var)
    assert spent == pytest.approx(float(r.power), rel=1e-9, abs=1e-12)
    assert float(r.cov_ue) == pytest.approx(float(r.alpha) * a2, rel=1e-12, abs=1e-14)
    assert float(r.cov_we) == pytest.approx(float(r.beta) * s2, rel=1e-12, abs=1e-14)
    # and it achieves the reported information: Y = (1 + alpha) U + (1 + beta) W + N is a Gaussian
    # channel with SNR (1 + alpha)^2 a2 / ((1 + beta)^2 s2 + var N). Regression: without noise
    # (s2 = 0) the aware attack was reported as E = -(D/a2) U with var N = 0, which spends only
    # D^2/a2 and leaves Y = (1 - D/a2) U, infinite information
    if D < cap * (1 - 1e-6):
        alpha, beta, nvar = float(r.alpha), float(r.beta), float(r.noise_var)
        den = (1 + beta) ** 2 * s2 + nvar
        if den == 0.0:  # D = 0 without noise: Y = U
            assert float(r.mi) == math.inf
        else:
            snr = (1 + alpha) ** 2 * a2 / den
            assert 0.5 * math.log1p(snr) == pytest.approx(float(r.mi), rel=1e-8, abs=1e-12)


def test_scalar_units_and_scaled_covariances():
    """Killed: a covariance or the power returned in the solver's internal power-of-two units
    (a2 = 2 scales by 4): the covariances scale with the variances, rho^2 and the MI do not."""
    base = gaussian_scalar_attack(1.0, 0.25, 0.5)
    for c in (3.0, 1024.0, 2.0**-30):
        r = gaussian_scalar_attack(c * 1.0, c * 0.25, c * 0.5)
        assert float(r.mi) == pytest.approx(float(base.mi), rel=1e-12)
        assert float(r.rho2) == pytest.approx(float(base.rho2), rel=1e-12)
        for name in ("cov_ue", "cov_we", "power", "noise_var"):
            assert float(getattr(r, name)) == pytest.approx(
                c * float(getattr(base, name)), rel=1e-12, abs=1e-300
            ), name
        assert float(r.alpha) == pytest.approx(float(base.alpha), rel=1e-12)
        assert float(r.beta) == pytest.approx(float(base.beta), rel=1e-12)
    bits = gaussian_scalar_attack(1.0, 0.1, 0.1, base=2)
    assert float(bits.mi) == pytest.approx(0.5534555 / LN2, abs=1e-6)


def test_blind_attacker_at_high_snr():
    """Killed: the high-correlation branch of the blind attacker's MI (rho^2 >= 1/2, computed from
    1 - rho^2 = (s2 + a2 f) / S) with f squared. math.md §A2.3: I = -1/2 ln(1 - (a2/S)(1 - D/S))."""
    a2, s2 = np.array([1.0, 1.0, 4.0, 1.0]), np.array([0.01, 0.1, 0.5, 1e-4])
    D = np.array([0.1, 0.3, 1.0, 0.4])
    S = a2 + s2
    rho2 = (a2 / S) * (1 - D / S)
    assert np.all(rho2 > 0.5)
    r = gaussian_scalar_attack(a2, s2, D, aware=False)
    np.testing.assert_allclose(r.rho2, rho2, rtol=1e-14)
    np.testing.assert_allclose(r.mi, -0.5 * np.log1p(-rho2), rtol=1e-13)
    # the example of §A2.3 (rho^2 < 1/2): 0.235002 nats
    assert float(gaussian_scalar_attack(1, 1, 0.5, aware=False).mi) == pytest.approx(
        0.235002, abs=5e-7
    )


def test_projection_rank_of_the_zero_matrix():
    """Killed: the rank test ``s > tol * s_max`` made ``>=``, which counts every zero singular
    value of H = 0 as kept. Nothing is observed, so nothing is to hide."""
    r = projection_attack(np.zeros((3, 2)), 0.5)
    assert int(r.rank) == 0 and float(r.mi) == 0.0
    np.testing.assert_array_equal(r.singular_values, 0.0)
    r = projection_attack(np.diag([2.0, 1e-17]), 0.5)  # below max(n, m) eps * s_max: rank 1
    assert int(r.rank) == 1
    assert float(r.mi) == pytest.approx(0.5 * math.log(4.0 / 0.5), rel=1e-14)
    # a small but numerically sound singular value (1e-6 >> 2 eps) is kept: rank 2, tau = D / 2
    r = projection_attack(np.diag([1.0, 1e-6]), 1e-13)
    assert int(r.rank) == 2
    assert float(r.mi) == pytest.approx(0.5 * math.log(1.0 * 1e-12 / (0.5e-13) ** 2), rel=1e-12)


def _scalar_slope(a2: np.ndarray, s2: np.ndarray, D: np.ndarray) -> np.ndarray:
    """-dI*/dD = g'(D) / g(D), g(D) = sigma sqrt(S - D) + a sqrt(D) (math.md §A2.2)."""
    S = a2 + s2
    g = np.sqrt(s2 * (S - D)) + np.sqrt(a2 * D)
    dg = np.sqrt(a2) / (2 * np.sqrt(D)) - np.sqrt(s2) / (2 * np.sqrt(S - D))
    return dg / g


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    k=st.integers(1, 6),
    frac=st.floats(0.05, 0.95),
    scale=st.sampled_from([1.0, 37.0, 2.0**20, 2.0**-20]),
)
def test_vector_multiplier_and_coordinates(seed, k, frac, scale):
    """Killed: the multiplier scaled back the wrong way (or doubled in the kernel), and
    coordinate_mi computed with a2 and s2 swapped. The multiplier is the common slope
    -dI*_i/dD_i of the closed form at every coordinate; coordinate_mi is the scalar theorem at
    each coordinate's power and sums to mi."""
    rng = np.random.default_rng(seed)
    a2 = rng.uniform(0.2, 3.0, size=k) * scale
    s2 = rng.uniform(0.05, 2.0, size=k) * scale
    D = frac * float(a2.sum())
    r = gaussian_vector_attack(a2, s2, D)
    alloc = np.asarray(r.allocation)
    assert alloc.sum() == pytest.approx(D, rel=1e-12)
    inside = (alloc > 0) & (alloc < a2 * (1 - 1e-9))
    assert inside.any()
    slope = _scalar_slope(a2[inside], s2[inside], alloc[inside])
    np.testing.assert_allclose(float(r.multiplier), slope, rtol=1e-7)
    per = gaussian_scalar_attack(a2, s2, alloc).mi
    np.testing.assert_allclose(r.coordinate_mi, per, rtol=1e-12, atol=1e-15)
    assert float(np.sum(r.coordinate_mi)) == pytest.approx(float(r.mi), rel=1e-10, abs=1e-15)
    bits = gaussian_vector_attack(a2, s2, D, base=2)
    assert float(bits.mi) == pytest.approx(float(r.mi) / LN2, rel=1e-12)
    np.testing.assert_allclose(bits.coordinate_mi, np.asarray(r.coordinate_mi) / LN2, rtol=1e-12)


def test_vector_reference_multiplier():
    """math.md §A2.4 example: the KKT multiplier of a^2 = (1, .5, .25, 2), s^2 = (.1, .3, .05, 1),
    D = 1.2 is the closed-form slope at its allocation (computed here from the printed D_i)."""
    a2 = np.array([1, 0.5, 0.25, 2])
    s2 = np.array([0.1, 0.3, 0.05, 1])
    r = gaussian_vector_attack(a2, s2, 1.2)
    want = _scalar_slope(a2, s2, np.array([0.523851, 0.228900, 0.216929, 0.230320]))
    np.testing.assert_allclose(float(r.multiplier), want, rtol=5e-5)
    # noiseless: reverse water-filling with lambda = 1 / (2 tau), tau = 0.583333 at D = 2
    r = gaussian_vector_attack([4.0, 2.0, 1.0, 0.25], 0.0, 2.0)
    assert float(r.multiplier) == pytest.approx(1 / (2 * 0.5833333333333334), rel=1e-9)


# ---- the Gaussian toy classifier and Theorem 2 --------------------------------------------------

MU0, MU1 = np.array([1.0, -1.0]), np.array([2.0, 1.5])
SIGMA = np.array([[1.0, 0.5], [0.5, 2.0]])


def _logpdf(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    from scipy.stats import multivariate_normal

    return multivariate_normal(mean=mu, cov=SIGMA).logpdf(x)


@pytest.mark.parametrize("prior", [0.5, 0.3, 0.85])
@pytest.mark.parametrize("threshold", ["bayes", "paper"])
def test_toy_classifier_with_a_nonzero_mean(prior, threshold):
    """Killed: theta = Sigma^-1 mu1 and c = 1/2 (mu1' S^-1 mu1 + mu0' S^-1 mu0) (both right when
    mu0 = 0, the only mean the old tests used), the two priors swapped in the error or in the MI
    quadrature. References: scipy's Gaussian log-densities, the error of the rule theta'x > c from
    the 1-D laws of theta'X, and I(Y; theta'X) by quadrature of the 1-D mixture."""
    g = gaussian_bayes_classifier(MU0, MU1, SIGMA, prior=prior, threshold=threshold)
    np.testing.assert_allclose(g.theta, np.linalg.solve(SIGMA, MU1 - MU0), rtol=1e-13)
    x = np.random.default_rng(0).normal(size=(5, 2)) * 2
    np.testing.assert_allclose(g.llr(x), _logpdf(x, MU1) - _logpdf(x, MU0), atol=1e-12)
    c_llr = -float(_logpdf(np.zeros(2), MU1) - _logpdf(np.zeros(2), MU0))
    assert g.c_llr == pytest.approx(c_llr, abs=1e-12)
    want_c = c_llr if threshold == "paper" else c_llr - math.log(prior / (1 - prior))
    assert g.c == pytest.approx(want_c, abs=1e-12)
    # the rule's error from the laws of Z = theta'X given Y (independent of the module's formula)
    m0, m1 = float(g.theta @ MU0), float(g.theta @ MU1)
    sd = math.sqrt(float(g.theta @ SIGMA @ g.theta))
    err = prior * norm.cdf((g.c - m1) / sd) + (1 - prior) * norm.sf((g.c - m0) / sd)
    assert g.error == pytest.approx(err, abs=1e-13)
    assert g.delta == pytest.approx(math.sqrt((MU1 - MU0) @ np.linalg.solve(SIGMA, MU1 - MU0)))

    def integrand(z: float) -> float:
        f1, f0 = prior * norm.pdf(z, m1, sd), (1 - prior) * norm.pdf(z, m0, sd)
        f = f1 + f0
        return sum(
            fi * math.log(fi / (w * f)) for fi, w in ((f1, prior), (f0, 1 - prior)) if fi > 0
        )

    mi = quad(integrand, min(m0, m1) - 12 * sd, max(m0, m1) + 12 * sd, epsabs=1e-13, limit=200)[0]
    assert g.mi == pytest.approx(mi, abs=1e-9)
    # predictions follow the threshold c, not the LLR's zero
    z = np.array([g.c - 1e-9, g.c + 1e-9])
    pts = np.outer(z / (g.theta @ g.theta), g.theta)
    np.testing.assert_array_equal(g.predict(pts), [0, 1])


def test_toy_classifier_is_translation_invariant():
    """Killed: any use of mu1 where mu1 - mu0 belongs. Moving both means by v changes only the
    threshold (by theta'v)."""
    v = np.array([3.0, -7.5])
    a = gaussian_bayes_classifier(MU0, MU1, SIGMA, prior=0.3)
    b = gaussian_bayes_classifier(MU0 + v, MU1 + v, SIGMA, prior=0.3)
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-13)
    assert b.c == pytest.approx(a.c + float(a.theta @ v), abs=1e-12)
    for name in ("delta", "error", "mi"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), abs=1e-12), name


def test_toy_classifier_equal_means():
    """delta = 0: the best rule always says the likelier class; the error is the smaller prior.
    Killed: the two branches swapped."""
    for prior, err in ((0.3, 0.3), (0.8, 0.2)):
        g = gaussian_bayes_classifier([1.0, 2.0], [1.0, 2.0], SIGMA, prior=prior)
        assert g.error == pytest.approx(err, abs=1e-15) and g.mi == 0.0


def test_robustness_bound_union_between_max_and_sum():
    """Killed: the lower end of n_union's range checked against min(n_benign, n_adv). The union
    of supports of sizes 16 and 20 holds at least 20 features."""
    kw = {
        "L": 2.0,
        "eps": 0.05,
        "n_benign": 16,
        "n_adv": 20,
        "mi_benign": 1.5,
        "mi_adv": 2.0,
        "constants": (1, 0.5, 1, 0.5),
    }
    with pytest.raises(ValueError, match="n_union"):
        robustness_bound(**kw, n_union=18)
    with pytest.raises(ValueError, match="n_union"):
        robustness_bound(**kw, n_union=37)
    lo, hi = robustness_bound(**kw, n_union=20), robustness_bound(**kw, n_union=36)
    assert hi - lo == pytest.approx(16 * (0.1 * math.log(10.0)), rel=1e-13)


# ---- check_kkt ----------------------------------------------------------------------------------


def _mi_of_flips(w: np.ndarray, p: np.ndarray) -> float:
    """I(U; Y) in nats from the joint law of (U, Y) built from the flips (math.md §A4.1, eq. 12)."""
    a, b, c, d = w
    j = np.array(
        [
            [a * (1 - p[0]) + b * p[1], a * p[0] + b * (1 - p[1])],
            [c * (1 - p[2]) + d * p[3], c * p[2] + d * (1 - p[3])],
        ]
    )
    prod = j.sum(1, keepdims=True) * j.sum(0, keepdims=True)
    m = j > 0
    return float(np.sum(j[m] * np.log(j[m] / prod[m])))


@pytest.mark.parametrize(
    ("w", "flip", "lam", "eps"),
    [
        # p1 and p3 at their upper bound, p2 and p4 inside
        ([0.3, 0.2, 0.25, 0.25], [1.0, 0.4, 1.0, 0.1], 0.0, 0.9),
        # both kinds of bound with a positive multiplier, budget overspent
        ([0.3, 0.2, 0.25, 0.25], [0.0, 0.3, 1.0, 0.2], 0.7, 0.2),
        # interior flips with slack budget and a positive multiplier
        ([0.45, 0.05, 0.05, 0.45], [0.2, 0.1, 0.3, 0.05], 1.2, 0.5),
    ],
)
def test_check_kkt_against_numerical_gradients(w, flip, lam, eps):
    """Killed: the lower/upper rules confused or the upper bound never detected (p_i = 1 read as
    interior), the feasibility or the complementarity dropped. Each entry is checked against the
    corrected conditions with g_i = dI/dp_i by central differences of I(U;Y) from the joint law."""
    import dataclasses

    w, flip = np.array(w), np.array(flip)
    base = binary_attack(w, eps)
    r = dataclasses.replace(base, flip=flip, multiplier=np.float64(lam), eps=np.float64(eps))
    rep = check_kkt(r)
    paper = check_kkt(r, conditions="paper")
    h = 1e-6
    g = np.empty(4)
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        lo, hi = np.clip(flip - e, 0, 1), np.clip(flip + e, 0, 1)
        g[i] = (_mi_of_flips(w, hi) - _mi_of_flips(w, lo)) / (hi[i] - lo[i])
    res = g + lam * w
    want = np.where(
        flip <= 0.0, np.maximum(-res, 0), np.where(flip >= 1.0, np.maximum(res, 0), abs(res))
    )
    np.testing.assert_allclose(rep.stationarity, want, atol=2e-6)
    np.testing.assert_allclose(paper.stationarity, abs(res), atol=2e-6)
    used = float(w @ flip)
    assert float(rep.feasibility) == pytest.approx(max(used - eps, 0.0), abs=1e-15)
    assert float(rep.complementarity) == pytest.approx(lam * abs(eps - used), abs=1e-15)
    worst = max(float(want.max()), max(used - eps, 0.0), lam * abs(eps - used))
    assert rep.max_violation == pytest.approx(worst, abs=2e-6)


# ---- the paper's grid search (Figure 6) -----------------------------------------------------------


def _grid_brute_force(w: np.ndarray, eps: float, points: int) -> float:
    """The literal scan of all points^4 flip vectors within budget (math.md §A4.5)."""
    g = np.linspace(0.0, 1.0, points)
    P = np.stack(np.meshgrid(g, g, g, g, indexing="ij"), axis=-1).reshape(-1, 4)
    P = P[P @ w <= eps]
    a, b, c, d = w
    j = np.stack(
        [
            a * (1 - P[:, 0]) + b * P[:, 1],
            a * P[:, 0] + b * (1 - P[:, 1]),
            c * (1 - P[:, 2]) + d * P[:, 3],
            c * P[:, 2] + d * (1 - P[:, 3]),
        ],
        axis=1,
    ).reshape(-1, 2, 2)
    prod = j.sum(2, keepdims=True) * j.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(j > 0, j * np.log(j / prod), 0.0)
    return float(t.sum((1, 2)).min())


@pytest.mark.parametrize(
    ("w", "eps", "points"),
    [
        # flip costs 0.5 * k/10 hit the budget 0.05 exactly: the budget is "<=", not "<"
        ([0.5, 0.0, 0.0, 0.5], 0.05, 11),
        ([0.45, 0.05, 0.05, 0.45], 0.1, 12),
        ([0.7, 0.1, 0.1, 0.1], 0.03, 13),
        ([0.3, 0.2, 0.2, 0.3], 0.25, 9),
    ],
)
def test_grid_equals_the_literal_scan(w, eps, points):
    """Killed: the grid's budget test strict (a flip vector costing exactly eps excluded)."""
    w = np.array(w)
    got = binary_attack_grid(w, eps, points=points)
    want = _grid_brute_force(w, eps, points)
    assert got == pytest.approx(want if want > 1e-14 else 0.0, abs=1e-13)
    assert got >= float(binary_attack(w, eps).mi) - 1e-13


def test_binary_sum_check_is_tight():
    """The kernel's check that [a, b, c, d] sums to 1 within 1e-9 (a tolerance of 1e-6 in
    csrc/core/channel.hpp survived every earlier test, which only tried a sum of 1.1)."""
    for excess in (4e-7, -4e-7, 2e-9):
        w = np.array([0.25, 0.25, 0.25, 0.25 + excess])
        with pytest.raises(ValueError, match="p must sum to 1"):
            binary_attack(w, 0.1)
    assert float(binary_attack([0.25, 0.25, 0.25, 0.25 + 5e-10], 0.1).mi) == 0.0


def test_grid_rejects_a_prior_that_is_not_a_distribution():
    """Killed: binary_attack_grid without its sum check (it then searched a non-distribution)."""
    with pytest.raises(ValueError, match="p must sum to 1"):
        binary_attack_grid([0.5, 0.2, 0.2, 0.2], 0.1, points=10)


# ---- the finite-alphabet attack -----------------------------------------------------------------

# math.md §A1.2: U in {0,1,2}, p(u) = (.5,.3,.2), rows p(x|u), d = |x - y| on {0..3}
P_UX = np.array([0.5, 0.3, 0.2])[:, None] * np.array(
    [[0.7, 0.2, 0.1, 0.0], [0.1, 0.6, 0.2, 0.1], [0.0, 0.1, 0.3, 0.6]]
)
LINE = np.abs(np.arange(4)[:, None] - np.arange(4)[None, :]).astype(float)


def test_discrete_multiplier_is_the_slope_of_the_optimum():
    """Killed: a wrong-signed (or zero) multiplier from the kernel. The budget's multiplier is a
    subgradient of the convex I*(D): between the one-sided difference quotients; in the binary
    case it is math.md §A4.3's lambda* = ln 4."""
    h = 1e-5
    for D in (0.1, 0.3):
        mid, lo, hi = (discrete_attack(P_UX, LINE, v) for v in (D, D - h, D + h))
        lam = mid.multiplier
        assert (mid.mi - hi.mi) / h - 1e-6 <= lam <= (lo.mi - mid.mi) / h + 1e-6
    r = discrete_attack(np.array([[0.45, 0.05], [0.05, 0.45]]), 1.0 - np.eye(2), 0.1)
    assert r.multiplier == pytest.approx(math.log(4.0), rel=1e-7)
    assert r.mi == pytest.approx(0.19274476, abs=5e-9)


@pytest.mark.parametrize("e", [-40, 40])
def test_discrete_far_scales_are_exact(e):
    """Killed: the power-of-two unit change for distortions far from 1 not undone on the
    multiplier (or the cost, or D_0), or not done at all. d -> 2^e d, D -> 2^e D is the same
    problem: the same channel and MI, the distortion and D_0 times 2^e, the multiplier times 2^-e."""
    s = 2.0**e
    base = discrete_attack(P_UX, LINE, 0.2)
    far = discrete_attack(P_UX, LINE * s, 0.2 * s)
    assert far.solver == "fast"
    assert far.mi == pytest.approx(base.mi, rel=1e-12)
    assert far.distortion == pytest.approx(base.distortion * s, rel=1e-12)
    assert far.multiplier == pytest.approx(base.multiplier / s, rel=1e-12)
    assert far.zero_information_budget == pytest.approx(0.69 * s, rel=1e-9)
    np.testing.assert_allclose(far.channel, base.channel, atol=1e-12)
    if e > 0:  # cvxpy's path (its accuracy: about 1e-8 in the MI, 1e-5 in its dual)
        cvx = discrete_attack(P_UX, LINE * s, 0.2 * s, solver="cvxpy")
        assert cvx.mi == pytest.approx(base.mi, abs=1e-7)
        assert cvx.multiplier == pytest.approx(base.multiplier / s, rel=1e-4)
        assert cvx.distortion == pytest.approx(base.distortion * s, rel=1e-6)


# ---- the subset attack --------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    s=st.lists(st.floats(0.01, 5.0), min_size=2, max_size=6, unique=True),
    nv=st.floats(0.05, 2.0),
    frac=st.floats(0.05, 0.9),
)
def test_greedy_is_exhaustive_for_one_coordinate(s, nv, frac):
    """Killed: the greedy step taking the coordinate whose attack lowers the MI least (the old
    test only asked greedy >= exhaustive, which the worst choice also meets). With k = 1 the greedy
    search is the exhaustive one; with a budget beyond every variance it attacks the k largest."""
    s = np.array(s)
    D = frac * float(s.max())
    ex = subset_attack(s, 1, noise_var=nv, D=D, method="exhaustive")
    gr = subset_attack(s, 1, noise_var=nv, D=D, method="greedy")
    assert gr.attacked == ex.attacked and gr.mi == pytest.approx(ex.mi, rel=1e-12)
    k = s.size // 2
    big = subset_attack(s, k, noise_var=nv, D=10 * s.sum(), method="greedy")
    assert big.attacked == tuple(sorted(np.argsort(-s)[:k].tolist()))
    rest = np.sort(s)[: s.size - k]
    assert big.mi == pytest.approx(0.5 * np.log1p(rest / nv).sum(), rel=1e-12)


def test_discrete_just_below_the_zero_information_budget():
    """Killed: the exact-zero shortcut taken below D_0 (say from 0.9 D_0 on, where the optimum is
    tiny but positive): its channel then overspends the budget. At 0.999 D_0 the optimum is
    2.0e-7 nats, below the 1e-6 at which the shortcut is considered."""
    D = 0.999 * 0.69
    r = discrete_attack(P_UX, LINE, D)
    assert r.solver == "fast" and 1e-7 < r.mi < 1e-6
    assert r.distortion <= D
    assert float(np.einsum("ux,uxy,xy->", P_UX, r.channel, LINE)) <= D * (1 + 1e-12)


def test_discrete_reports_its_channel_distortion_and_gap_in_units():
    """Killed: the exact-zero result's distortion reported as the LP's optimum D_0 rather than
    its channel's E[d] (they differ by the LP's tolerance, 5e-11 here), and the certified gap left
    in nats when mi is in bits."""
    rng = np.random.default_rng(8)  # a Dirichlet(0.1) prior with masses of 1e-20
    p = rng.dirichlet(np.full(24, 0.1)).reshape(4, 6)
    d = rng.uniform(0.0, 1.0, size=(6, 5)).round(3)
    r = discrete_attack(p, d, 0.3)
    assert r.solver == "exact-zero" and r.mi == 0.0
    assert r.distortion == pytest.approx(
        float(np.einsum("ux,uxy,xy->", p, r.channel, d)), rel=1e-14, abs=1e-16
    )
    nats = discrete_attack(P_UX, LINE, 0.3)
    bits = discrete_attack(P_UX, LINE, 0.3, base=2)
    assert nats.gap > 0 and bits.gap == pytest.approx(nats.gap / LN2, rel=1e-12)
    assert bits.mi == pytest.approx(nats.mi / LN2, rel=1e-12)


def test_discrete_sum_check_is_tight():
    """Killed: p_ux's sum checked within 1e-3 instead of 1e-9 (1 + 1e-6 then passed)."""
    for p in (P_UX * (1 + 1e-6), np.asfortranarray(P_UX * (1 - 1e-6))):
        with pytest.raises(ValueError, match="p_ux must sum to 1"):
            discrete_attack(p, LINE, 0.1)


def test_subset_auto_search_and_no_attacked_coordinate():
    """Killed: "auto" switching to the greedy search long before its documented 20000 subsets,
    and k = 0 with a budget sent to the search (nothing to attack, nothing to allocate)."""
    s = np.array([4.0, 3.0, 2.5, 2.0, 1.0, 0.5, 0.3, 0.1])
    r = subset_attack(s, 4, noise_var=0.2, D=2.0)  # C(8, 4) = 70 subsets
    assert r.method == "exhaustive"
    assert r.mi == pytest.approx(subset_attack(s, 4, noise_var=0.2, D=2.0, method="exhaustive").mi)
    none = subset_attack(s, 0, noise_var=0.2, D=2.0)
    assert none.attacked == () and none.method == "closed-form"
    assert none.mi == pytest.approx(0.5 * np.log1p(s / 0.2).sum(), rel=1e-14)


@pytest.mark.parametrize(
    ("n_b", "n_a", "mi_b", "mi_a"),
    [(64, 4, 2.0, 0.1), (4, 64, 0.1, 2.0), (16, 20, 1.5, 2.0)],
)
def test_robustness_bound_each_branch(n_b, n_a, mi_b, mi_a):
    """Killed: a constant or an exponent of the non-dominant branch wrong (C2 for C4, I^(1/2)
    for I^(1/4)): the old closed-form check used C2 = C4 and one configuration whose adversarial
    branch dominated. Distinct constants, each branch dominating in turn."""
    c = (1.0, 2.0, 3.0, 5.0)
    benign = c[0] * n_b**0.5 * mi_b**0.5 + c[1] * n_b**0.75 * mi_b**0.25
    adv = c[2] * n_a**0.5 * mi_a**0.5 + c[3] * n_a**0.75 * mi_a**0.25
    L, eps = 0.5, 0.1
    want = (n_b + n_a) * 0.05 * math.log(20.0) + max(benign, adv)
    got = robustness_bound(
        L=L, eps=eps, n_benign=n_b, n_adv=n_a, mi_benign=mi_b, mi_adv=mi_a, constants=c
    )
    assert got == pytest.approx(want, rel=1e-14)
