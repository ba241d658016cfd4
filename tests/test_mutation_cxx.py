"""Tests that kill C++ mutants of the header-only core (csrc/core/*.hpp) which survived the rest of
the suite: each one checks a closed form or an independent float64 computation (numpy), and names
the mutant it kills."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _cxx import compile_program, run_program
from _reference import spectrum_matrix

from infotheory import _core
from infotheory.channels import binary_attack, gaussian_vector_attack, reverse_waterfill, waterfill

# ---- channel.hpp: the binary attack's flips at the edge of the zero-information budget ----------


def test_binary_flips_stay_probabilities_just_below_the_zero_information_budget():
    """With c = 0 (beta_1 = 1) or b = 0 (beta_0 = 0), D_0 = min(pi0, pi1) |beta_1 - beta_0| equals
    a (resp. d) in exact arithmetic but may round an ulp above it, and a budget just below the
    computed D_0 then spends t = eps > a: the flip t / a exceeds 1 by an ulp. Every flip must stay a
    probability in [0, 1] and the cheapest realisation spends at most eps. Killed: the final clamp
    of the flips to 1 removed (then 1.0000000000000002 here)."""
    w = np.array([0.15450522946859024, 0.1872401748537392, 0.0, 0.6582545956776705])
    eps = 0.15450522946859027  # one ulp below the D_0 the kernel computes, 2 ulps above a
    r = binary_attack(w, eps)
    assert eps < float(r.zero_information_budget) and eps > w[0]
    assert float(r.flip[0]) == 1.0
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.full(4, 0.7), size=400)
    P[::2, 2] = 0.0  # c = 0
    P[1::2, 1] = 0.0  # b = 0
    P /= P.sum(axis=1, keepdims=True)
    d0 = np.asarray(binary_attack(P, 0.0).zero_information_budget)
    for e in (np.nextafter(d0, 0.0), np.nextafter(np.nextafter(d0, 0.0), 0.0)):
        r = binary_attack(P, e)
        f = np.asarray(r.flip)
        assert np.all((f >= 0.0) & (f <= 1.0))
        assert np.all(np.einsum("ij,ij->i", f, P) <= e * (1 + 1e-15))
        assert np.count_nonzero(f == 1.0) > 5  # the edge is really reached


def test_gaussian_vector_zero_budget_multiplier_is_infinite():
    """D = 0 (alone and inside a batch): nothing spent, I* = sum_i 1/2 ln(1 + a2_i / s2_i) and the
    multiplier is +inf as documented (-dI*/dD -> inf as D -> 0 on every coordinate with noise).
    Killed: gaussian_vector_one reporting lambda = 0 at D = 0 (the value of the erase-all case)."""
    a2 = np.array([1.0, 0.5, 2.0, 0.25])
    s2 = np.array([0.5, 1.0, 0.1, 0.25])
    want = 0.5 * float(np.sum(np.log1p(a2 / s2)))
    r = gaussian_vector_attack(a2, s2, 0.0)
    assert float(r.multiplier) == np.inf
    assert float(r.mi) == pytest.approx(want, rel=1e-14)
    np.testing.assert_array_equal(r.allocation, 0.0)
    rb = gaussian_vector_attack(a2, s2, np.array([0.0, 0.3, 10.0, 0.0]))
    lam = np.asarray(rb.multiplier)
    assert lam[0] == np.inf and lam[3] == np.inf
    assert 0.0 < lam[1] < np.inf and lam[2] == 0.0  # interior; everything erased
    assert float(np.asarray(rb.mi)[0]) == pytest.approx(want, rel=1e-14)


# ---- waterfill.hpp: the forward sort-and-scan fallback ------------------------------------------


def _forward_passes(n: np.ndarray, P: float, cap: int = 12) -> int | None:
    """The kernel's elimination from above (forward_one), in numpy: the passes it needs, None when
    more than `cap` (then the sort-and-scan fallback, forward_level_sorted, sets the level)."""
    nu, count = (P + n.sum()) / n.size, -1
    for p in range(cap):
        m = n < nu
        if int(m.sum()) in (count, 0):
            return p
        count = int(m.sum())
        nu = (P + n[m].sum()) / count
    return None


@pytest.mark.parametrize(
    ("noise", "P", "level"),
    [
        # geometric noise levels: the elimination drops one channel a pass (15 passes for 16)
        (10.0 ** np.arange(16), 0.5, 1.5),  # only N = 1 filled: nu = 1 + P
        (np.r_[1.0, 2.0, 10.0 ** np.arange(2, 18)], 3.0, 3.0),  # N = 1, 2 filled: (3 + 3) / 2
        (np.r_[1.0, 2.0, 3.0, 10.0 ** np.arange(2, 19)], 6.0, 4.0),  # three filled: 12 / 3
    ],
)
def test_forward_fallback_scan_closed_form(noise, P, level):
    """Noise levels that defeat forward water-filling's 12 elimination passes, so the sort-and-scan
    fallback (forward_level_sorted) sets the level; the level is the closed form
    nu = (P + sum of the filled N_i) / (their count). Killed: that fallback dividing by i + 1."""
    noise = np.asarray(noise, dtype=np.float64)
    assert _forward_passes(noise, P) is None  # the fallback really runs
    filled = noise < level
    assert level == pytest.approx((P + noise[filled].sum()) / filled.sum(), rel=1e-15)
    rng = np.random.default_rng(3)
    for order in (noise, noise[::-1].copy(), rng.permutation(noise)):
        r = waterfill(order, P)
        assert float(r.level) == pytest.approx(level, rel=1e-14)
        np.testing.assert_allclose(r.allocation, np.maximum(level - order, 0.0), rtol=0, atol=1e-14)
        cap = 0.5 * float(np.sum(np.log(level / order[order < level])))
        assert float(r.capacity) == pytest.approx(cap, rel=1e-13)


@pytest.mark.parametrize("k", [2, 3, 7, 16, 33])
def test_reverse_budget_at_the_rounded_sum_erases_everything(k):
    """A budget equal to sum(sigma2) summed in another order (or 1-2 ulps below the kernel's own
    sum) erases every coordinate: I* = 0 exactly and D_i = sigma2_i exactly. Killed: the test
    `D >= total (1 - (k + 1) 2^-52)` tightened to `D >= total` (then I* ~ 1e-16 > 0 and the largest
    D_i a hair below its variance)."""
    rng = np.random.default_rng(k)
    s = rng.uniform(0.0, 1.0, size=(300, k))
    tot = s.sum(axis=1)
    budgets = [
        np.array([math.fsum(row) for row in s]),
        s[:, ::-1].sum(axis=1),
        np.nextafter(tot, 0.0),
        np.nextafter(np.nextafter(tot, 0.0), 0.0),
    ]
    below = 0
    for D in budgets:
        below += int(np.count_nonzero(D < tot))
        r = reverse_waterfill(s, D)
        assert np.all(np.asarray(r.mi) == 0.0)
        np.testing.assert_array_equal(r.allocation, s)
    assert below >= 600  # most budgets lie below the kernel's sum


@pytest.mark.parametrize("x", [1e300, 1e-300, 7e250, 3e-250])
def test_information_is_never_negative_at_extreme_magnitudes(x):
    """Equal variances (noise levels) x far from 1 with a budget (power) of a few ulps: the exact
    I* = -k/2 ln(1 - j 2^-52) and C = k/2 ln(1 + P / (k x)) are ~1e-16, but ln of numbers near
    1e+-300 rounds by ~1e-13, so the computed value can come out below 0; the kernels clamp it.
    Killed: reverse water-filling's `mi < 0` clamp removed (-5.7e-14 at x = 1e300, k = 1) and the
    forward one's `cap < 0` clamp removed (-9.1e-13 at x = 1e-300, k = 15)."""
    for k in range(1, 41):
        s = np.full(k, x)
        tol = 4e-16 * k * abs(math.log(x))  # the rounding of k logs of size |ln x|
        for j in (k + 3, k + 9, 2 * k + 20):
            r = reverse_waterfill(s, k * x * (1 - j * 2.0**-52))
            assert float(r.mi) >= 0.0
            assert float(r.mi) == pytest.approx(-0.5 * k * math.log1p(-j * 2.0**-52), abs=tol)
        for j in (1, 4, 17):
            P = x * j * 2.0**-52
            c = waterfill(s, P)
            assert float(c.capacity) >= 0.0
            assert float(c.capacity) == pytest.approx(0.5 * k * math.log1p(P / (k * x)), abs=tol)


def test_noiseless_channel_with_a_subnormal_scaled_power_is_infinite():
    """Forward water-filling on a row whose largest noise (1e308) forces a scaling by 2^-26: a
    positive power of 1e-320 scales below the smallest subnormal, and must stay positive so that
    the noiseless channel it fills carries infinite information (as it does unscaled). Killed:
    scaled_budget's denorm_min floor removed (then the budget read as 0: capacity 0)."""
    for noise, P in [([0.0, 1e308], 1e-320), ([1e308, 0.0, 5.0], 5e-324), ([0.0, 2.0], 1e-320)]:
        r = waterfill(noise, P)
        assert float(r.capacity) == np.inf
        assert float(np.asarray(r.allocation)[np.asarray(noise) == 0.0][0]) > 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reverse_elimination_with_an_entry_exactly_at_the_level(dtype):
    """sigma2 = (0, 0.5, 10, 10), D = 2: the first level D / k = 0.5 equals an entry exactly. The
    elimination's early exit compares the next level (2/3) with the smallest entry >= the current
    level, which is that 0.5 (not 10): the solve must go on to tau = 0.75 (closed form: 0 + 0.5 +
    2 tau = 2). Killed: the smallest entry taken strictly above the level, in the template pass
    (float32 rows) and in the SSE2 first pass (float64 rows); both stopped at tau = 2/3, spending
    1.83 of the budget 2."""
    rng = np.random.default_rng(0)
    s = np.array([0.0, 0.5, 10.0, 10.0], dtype=dtype)
    for order in (s, s[::-1].copy(), rng.permutation(s), np.r_[s, s]):
        D = 2.0 * order.size / 4
        r = reverse_waterfill(order, D)
        assert float(r.level) == 0.75
        np.testing.assert_array_equal(r.allocation, np.minimum(order, 0.75))


# ---- tridiag.hpp: the top pair's Sturm check and the second Ritz pair's bound -------------------
# Both run inside every CPU and CUDA Lanczos but return nothing a caller sees directly: a small
# program runs them on Lanczos tridiagonals computed here in numpy.

_TRIDIAG_SRC = r"""
int main() {
  for (;;) {
    double head;
    if (std::scanf("%la", &head) != 1) return 0;
    const long k = static_cast<long>(head);
    std::vector<double> a(k), b(k), s(k), s1(k), s2(k), x(k), tv(k), ws(4 * k);
    for (auto& v : a) v = rd();
    for (long i = 0; i + 1 < k; ++i) b[i] = rd();
    const double beta = rd(), theta = rd();
    for (auto& v : s) v = rd();  // the warm start of tridiag_top_pair
    for (auto& v : s1) v = rd();  // the top eigenvector of T
    const double top = tridiag_top_pair(a.data(), b.data(), k, theta, s.data(), ws.data(), x.data());
    const double alpha = second_ritz_bound(a.data(), b.data(), k, top, beta, s1.data(), s2.data(),
                                           tv.data(), ws.data());
    std::printf("%a %a\n", top, alpha);
  }
}
"""


@pytest.fixture(scope="module")
def tridiag_program(tmp_path_factory):
    exe = compile_program(tmp_path_factory, "tridiag", _TRIDIAG_SRC, "tridiag.hpp")

    def run(cases):
        text = []
        for a, b, beta, theta, s, s1 in cases:
            vals = [float(a.size), *a, *b, beta, theta, *s, *s1]
            text.append(" ".join(float(v).hex() for v in vals))
        out = run_program(exe, text)
        return [
            (float.fromhex(out[2 * i]), float.fromhex(out[2 * i + 1])) for i in range(len(cases))
        ]

    return run


def _lanczos(B: np.ndarray, v: np.ndarray, k: int):
    """k steps of Lanczos with full reorthogonalisation in float64: Q (n, k), the diagonal a, the
    off-diagonal b (k - 1) and the last beta (B Q = Q T + beta q_{k+1} e_k^T)."""
    n = B.shape[0]
    Q = np.zeros((n, k + 1))
    Q[:, 0] = v / np.linalg.norm(v)
    a, bb = np.zeros(k), np.zeros(k)
    for j in range(k):
        w = B @ Q[:, j]
        a[j] = Q[:, j] @ w
        for _ in range(2):
            w -= Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
        bb[j] = np.linalg.norm(w)
        Q[:, j + 1] = w / bb[j]
    return Q[:, :k], a, bb[:-1], bb[-1]


def test_tridiag_top_pair_and_second_ritz_bound_against_numpy(tridiag_program):
    """tridiag_top_pair from a warm start on the SECOND eigenvector (Rayleigh-quotient iteration
    converges there at once) must still return the largest eigenvalue: killed, the Sturm check
    accepting rho with k - 1 eigenvalues below it. second_ritz_bound must be rho_2 + r_2 with r_2
    the residual ||B y_2 - rho_2 y_2|| of the second Ritz vector y_2 = Q s_2 in B itself (computed
    here from B): killed, r_2 without the beta s_2[k-1] part that leaves the Krylov space."""
    rng = np.random.default_rng(5)
    cases, want = [], []
    for n, k in [(40, 6), (60, 10), (30, 12), (80, 5)]:
        M = rng.standard_normal((n, n))
        B = M.T @ M / n
        Q, a, b, beta = _lanczos(B, rng.standard_normal(n), k)
        T = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
        lam, S = np.linalg.eigh(T)
        s1, s2, rho2 = S[:, -1], S[:, -2], lam[-2]
        y2 = Q @ s2
        r2 = float(np.linalg.norm(B @ y2 - rho2 * y2))
        assert r2 == pytest.approx(abs(beta * s2[-1]), rel=1e-8)  # the identity the kernel uses
        assert r2 > 1e-4 * lam[-1]  # a few steps: the second pair is far from converged
        cases.append((a, b, beta, rho2, s2.copy(), s1))
        want.append((lam[-1], rho2 + r2))
    for (top, alpha), (top_ref, alpha_ref) in zip(tridiag_program(cases), want, strict=True):
        assert top == pytest.approx(top_ref, rel=1e-13)
        assert alpha == pytest.approx(alpha_ref, rel=1e-9)


# ---- spectral_lanczos.hpp: the batched (CUDA) Lanczos's Kato-Temple guard ------------------------


@pytest.mark.parametrize(
    ("kind", "m", "n", "seed", "gap", "size"),
    [
        ("geom", 57, 85, 6, 1e-4, 2),
        ("geom", 54, 41, 24, 1e-4, 2),
        ("flat", 42, 73, 34, 1e-4, 2),
        ("hard", 58, 30, 80, 1e-4, 2),
        ("geom", 57, 68, 105, 1e-4, 3),
    ],
)
def test_emulated_batched_lanczos_waits_before_kato_temple(kind, m, n, seed, gap, size):
    """The batched Lanczos of the CUDA path (run on the CPU by spectral_lanczos_emulate) with the
    capped Kato-Temple stop (gap_cap = 0.01, no certificate): on a top cluster 1e-4 apart the
    estimate may be trusted only from 30 steps on; the result must be within tol of the SVD's
    value and the upper end above it. Killed: kGapMinSteps 30 -> 2 in spectral_lanczos.hpp (then
    it stopped after 4-14 steps, 1.5e-6 to 1e-3 below: 47 of 300 such matrices; 0 of 300 with the
    guard). The CPU kernel's twin of the guard is test_lipschitz_dense_stop's."""
    tol = 1e-6
    A = spectrum_matrix(kind, m, n, np.random.default_rng(seed), gap, size)[None]
    want = float(np.linalg.svd(A[0], compute_uv=False)[0])
    v = np.zeros((1, n))
    out = {k: np.empty(1) for k in ("sigma", "lower", "upper", "mu", "fro2")}
    out.update({k: np.empty(1, np.int32) for k in ("iterations", "status", "ok")})
    _core.spectral_lanczos_emulate(
        A, v, None, out["sigma"], out["lower"], out["upper"], out["iterations"], out["status"],
        out["mu"], out["ok"], out["fro2"], tol, 2000, 128, 0.01, seed % 7, False, 1, 1,
    )  # fmt: skip
    assert out["status"][0] == 0
    lower, upper = float(out["lower"][0]), float(out["upper"][0])
    assert lower <= want * (1 + 1e-12)
    assert want - lower <= tol * lower
    assert upper >= want * (1 - 1e-12)
