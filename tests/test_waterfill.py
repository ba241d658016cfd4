"""Reverse and forward water-filling (math.md §A3.3) against closed forms and independent solvers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _reference import bisect_level, reverse_mi
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from infotheory.channels import reverse_waterfill, waterfill

# math.md §A3.3 worked example, sigma^2 = (4, 2, 1, 0.25): D -> (tau, D_i, I* nats, I* bits)
WORKED = [
    (0.5, 0.125, (0.125, 0.125, 0.125, 0.125), 4.505457, 6.500000),
    (1.0, 0.25, (0.25, 0.25, 0.25, 0.25), 3.119162, 4.500000),
    (2.0, 0.583333, (0.583333, 0.583333, 0.583333, 0.25), 1.848216, 2.666411),
    (3.0, 0.916667, (0.916667, 0.916667, 0.916667, 0.25), 1.170238, 1.688296),
    (5.0, 1.875, (1.875, 1.875, 1.0, 0.25), 0.411112, 0.593109),
]
SIGMA2 = np.array([4.0, 2.0, 1.0, 0.25])

variances = hnp.arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.one_of(
        # subnormal variances are covered by test_subnormal_variances: there the level itself
        # rounds, so scaling and monotonicity identities hold only up to underflow
        st.floats(0.0, 100.0, allow_subnormal=False),
        st.sampled_from([0.0, 1.0, 2.0]),
        st.floats(1e-6, 1e-3),
    ),
)


def test_subnormal_variances():
    s = np.full(4, 5e-324)
    for D in (0.0, 5e-324, 1e-323, 4 * 5e-324, 1.0):
        r = reverse_waterfill(s, D)
        a = np.asarray(r.allocation)
        assert not np.isnan(float(r.mi)) and float(r.mi) >= 0.0
        assert np.all((a >= 0) & (a <= s))
    assert float(reverse_waterfill(s, 1.0).mi) == 0.0
    assert float(reverse_waterfill(s, 0.0).mi) == np.inf


@pytest.mark.parametrize(("D", "tau", "alloc", "nats", "bits"), WORKED)
def test_worked_example(D, tau, alloc, nats, bits):
    r = reverse_waterfill(SIGMA2, D)
    assert r.unit == "nats"
    assert float(r.level) == pytest.approx(tau, abs=5e-7)
    np.testing.assert_allclose(r.allocation, alloc, atol=5e-7)
    assert float(r.mi) == pytest.approx(nats, abs=5e-7)
    rb = reverse_waterfill(SIGMA2, D, base=2)
    assert rb.unit == "bits"
    assert float(rb.mi) == pytest.approx(bits, abs=5e-7)


def test_worked_example_zero_information_and_batched():
    r = reverse_waterfill(np.tile(SIGMA2, (7, 1)), [0.5, 1, 2, 3, 5, 7.25, 100.0])
    np.testing.assert_allclose(r.mi[:5], [w[3] for w in WORKED], atol=5e-7)
    assert r.mi[5] == 0.0 and r.mi[6] == 0.0
    np.testing.assert_array_equal(r.allocation[6], SIGMA2)
    assert r.level[6] == 4.0


@settings(max_examples=300, deadline=None)
@given(s=variances, frac=st.floats(0.0, 1.3))
def test_reverse_properties(s, frac):
    total = float(s.sum())
    D = frac * total
    r = reverse_waterfill(s, D)
    a, tau, mi = np.asarray(r.allocation), float(r.level), float(r.mi)
    # 0 <= D_i <= sigma2_i, and the KKT structure D_i = min(sigma2_i, tau)
    assert np.all(a >= 0) and np.all(a <= s)
    np.testing.assert_allclose(a, np.minimum(s, tau), rtol=0, atol=1e-12 * max(1.0, total))
    np.testing.assert_allclose(a.sum(), min(D, total), rtol=1e-11, atol=1e-12)
    if D >= total * (1 - (len(s) + 1) * 2.0**-52):  # the zero-information budget, up to rounding
        assert mi == 0.0
    elif D == 0.0:
        assert mi == np.inf and tau == 0.0
    else:
        assert tau == pytest.approx(bisect_level(s, D), rel=1e-9, abs=1e-12)
        assert mi == pytest.approx(reverse_mi(s, a), rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(s=variances, frac=st.floats(0.01, 0.99), c=st.floats(1e-3, 1e3))
def test_scale_invariance(s, frac, c):
    # Scaling is exact only in the normal range: with subnormal variances (hypothesis found
    # s = [5e-324, 5e-324]) the level D/k itself rounds to zero.
    assume(s.sum() > 1e-290)
    D = frac * float(s.sum())
    r1, r2 = reverse_waterfill(s, D), reverse_waterfill(c * s, c * D)
    assert float(r2.mi) == pytest.approx(float(r1.mi), rel=1e-9, abs=1e-9)
    assert float(r2.level) == pytest.approx(c * float(r1.level), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(s=variances, fracs=st.lists(st.floats(0.0, 1.2), min_size=2, max_size=6))
def test_mi_non_increasing_and_convex_in_D(s, fracs):
    assume(s.sum() > 0)
    Ds = np.sort(np.array(fracs)) * s.sum()
    Ds = np.unique(np.concatenate([Ds[Ds > 0], [0.5 * s.sum()]]))
    mi = np.asarray(reverse_waterfill(np.tile(s, (len(Ds), 1)), Ds).mi)
    assert np.all(np.diff(mi) <= 1e-12)


def test_batched_equals_one_by_one():
    rng = np.random.default_rng(1)
    s = rng.gamma(0.7, 2.0, size=(3, 5, 17))
    s[0, 0, :5] = 0.0  # zero variances
    s[1, 2, :] = 1.5  # ties
    D = rng.uniform(0, 1.1, size=(3, 5)) * s.sum(-1)
    D[2, 4] = 0.0
    r = reverse_waterfill(s, D)
    assert r.level.shape == (3, 5) and r.allocation.shape == s.shape and r.mi.shape == (3, 5)
    for i in np.ndindex(3, 5):
        one = reverse_waterfill(s[i], D[i])
        assert float(one.level) == r.level[i]
        assert float(one.mi) == r.mi[i]
        np.testing.assert_array_equal(one.allocation, r.allocation[i])


def test_budget_broadcasts():
    s = np.tile(SIGMA2, (2, 3, 1))
    r = reverse_waterfill(s, np.array([[1.0], [2.0]]))
    np.testing.assert_allclose(r.mi[0], WORKED[1][3], atol=5e-7)
    np.testing.assert_allclose(r.mi[1], WORKED[2][3], atol=5e-7)


def test_cvxpy_agrees_on_small_cases():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(7)
    for _ in range(8):
        k = int(rng.integers(2, 7))
        s = rng.uniform(0.1, 5.0, size=k)
        D = float(rng.uniform(0.05, 0.95) * s.sum())
        d = cp.Variable(k)
        prob = cp.Problem(cp.Maximize(cp.sum(cp.log(d))), [d <= s, cp.sum(d) == D])
        # 1e-12 is as tight as Clarabel goes here without flagging "inaccurate"; it reaches ~2e-12
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        ref = 0.5 * (np.log(s).sum() - prob.value)
        r = reverse_waterfill(s, D)
        assert float(r.mi) == pytest.approx(ref, abs=1e-9)
        np.testing.assert_allclose(r.allocation, d.value, atol=1e-7)


def test_edge_cases():
    r = reverse_waterfill([0.0, 0.0], 0.0)
    assert float(r.mi) == 0.0  # nothing to hide
    r = reverse_waterfill([3.0], 1.0)
    assert float(r.level) == 1.0 and float(r.mi) == pytest.approx(0.5 * np.log(3.0))
    r = reverse_waterfill([1e-300, 1.0], 0.5)  # subnormal-adjacent magnitudes
    assert np.isfinite(float(r.mi))
    r = reverse_waterfill([5e-324, 4e-320, 2.0], 1e-321)  # subnormal kept entries
    assert float(r.mi) == pytest.approx(reverse_mi([5e-324, 4e-320, 2.0], r.allocation), rel=1e-9)


def test_float32_and_torch_inputs():
    torch = pytest.importorskip("torch")
    s = np.random.default_rng(3).uniform(0, 3, size=(4, 9))
    ref = reverse_waterfill(s, 2.0)
    r32 = reverse_waterfill(s.astype(np.float32), 2.0)
    assert r32.mi.dtype == np.float32 and r32.allocation.dtype == np.float32
    np.testing.assert_allclose(r32.mi, ref.mi, rtol=1e-5)
    rt = reverse_waterfill(torch.from_numpy(s), 2.0)
    assert isinstance(rt.mi, torch.Tensor) and rt.mi.dtype == torch.float64
    np.testing.assert_array_equal(rt.mi.numpy(), ref.mi)


def test_concurrent_calls_release_the_gil():
    rng = np.random.default_rng(5)
    s = rng.uniform(0, 2, size=(2000, 64))
    D = 0.3 * s.sum(-1)
    ref = reverse_waterfill(s, D).mi
    out: list[np.ndarray] = []

    def work() -> None:
        out.append(np.asarray(reverse_waterfill(s, D).mi))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 4 and all(np.array_equal(o, ref) for o in out)


# ---- forward water-filling -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n=hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(1e-3, 50.0)),
    P=st.floats(0.0, 200.0),
)
def test_forward_kkt(n, P):
    r = waterfill(n, P)
    p, nu, cap = np.asarray(r.allocation), float(r.level), float(r.capacity)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(), P, rtol=1e-11, atol=1e-11)
    # KKT: P_i = max(0, nu - N_i): filled channels sit at the level, the others are above it
    np.testing.assert_allclose(p, np.maximum(nu - n, 0.0), atol=1e-11 * max(1.0, P))
    if P > 0:
        assert nu == pytest.approx(bisect_level(n, P, forward=True), rel=1e-9)
    assert cap == pytest.approx(0.5 * np.sum(np.log1p(p / n)), rel=1e-9, abs=1e-12)


def test_forward_closed_forms():
    # equal noise: capacity = k/2 ln(1 + P/(k N))
    r = waterfill(np.full(4, 2.0), 8.0)
    assert float(r.capacity) == pytest.approx(2.0 * np.log(2.0))
    r = waterfill([1.0, 2.0, 3.0], 3.0, base=2)
    np.testing.assert_allclose(r.allocation, [2.0, 1.0, 0.0])
    assert float(r.capacity) == pytest.approx(0.5 * np.log2(4.5))  # (1/2) log2(3/1 * 3/2)
    assert float(waterfill([0.0, 1.0], 1.0).capacity) == np.inf
    assert float(waterfill([0.0, 1.0], 0.0).capacity) == 0.0


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma2", "D", "exc", "match"),
    [
        ([1.0, np.nan], 1.0, ValueError, "sigma2 must be finite"),
        ([1.0, np.inf], 1.0, ValueError, "sigma2 must be finite"),
        ([1.0, -0.5], 1.0, ValueError, "sigma2 must be >= 0"),
        ([1.0, 2.0], -0.1, ValueError, "D must be finite and >= 0"),
        ([1.0, 2.0], np.nan, ValueError, "D must be finite and >= 0"),
        ([[1.0, 2.0], [1.0]], 1.0, ValueError, "sigma2 must be a rectangular array"),
        (np.zeros((0, 3)), 1.0, ValueError, "sigma2 must not be empty"),
        (np.zeros((3, 0)), 1.0, ValueError, "sigma2 must not be empty"),
        (5.0, 1.0, ValueError, "sigma2 must have at least 1 dimension"),
        (np.ones((2, 3)), [1.0, 2.0, 3.0], ValueError, "D with shape"),
        (np.array([1 + 1j, 2]), 1.0, TypeError, "sigma2 must have dtype"),
        (np.array([True, False]), 1.0, TypeError, "sigma2 must have dtype"),
        (np.array(["a", "b"]), 1.0, TypeError, "sigma2 must have dtype"),
        ([1.0, 2.0], "x", TypeError, "D must be real numbers"),
    ],
)
def test_bad_input(sigma2, D, exc, match):
    with pytest.raises(exc, match=match):
        reverse_waterfill(sigma2, D)


def test_bad_input_forward_and_base():
    with pytest.raises(ValueError, match="noise must be >= 0"):
        waterfill([-1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="power must be finite and >= 0"):
        waterfill([1.0, 1.0], -2.0)
    with pytest.raises(ValueError, match="base must be"):
        reverse_waterfill([1.0], 0.5, base=1)
    with pytest.raises(ValueError, match="base must be"):
        reverse_waterfill([1.0], 0.5, base="bogus")


def test_error_names_the_problem_in_a_batch():
    s = np.ones((5, 3))
    s[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"problem 3 of the batch"):
        reverse_waterfill(s, 1.0)


# ---- CUDA (runs only on a GPU machine) ---------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_matches_cpu(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    s = rng.gamma(0.6, 2.0, size=(3000, 97)).astype(dtype)
    s[0] = 0.0
    s[1, :10] = 0.0
    D = (rng.uniform(0, 1.1, size=3000) * s.sum(-1)).astype(dtype)
    D[2] = 0.0
    cpu = reverse_waterfill(s, D)
    gpu = reverse_waterfill(torch.from_numpy(s).cuda(), torch.from_numpy(D).cuda())
    assert gpu.mi.is_cuda and gpu.allocation.dtype == getattr(torch, dtype)
    tol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(gpu.level.cpu().numpy(), cpu.level, rtol=tol, atol=tol)
    np.testing.assert_allclose(gpu.allocation.cpu().numpy(), cpu.allocation, rtol=tol, atol=tol)
    np.testing.assert_allclose(gpu.mi.cpu().numpy(), cpu.mi, rtol=tol, atol=tol)
    fw_cpu = waterfill(s + 0.1, D)
    fw_gpu = waterfill(torch.from_numpy(s + 0.1).cuda(), torch.from_numpy(D).cuda())
    np.testing.assert_allclose(fw_gpu.capacity.cpu().numpy(), fw_cpu.capacity, rtol=tol, atol=tol)


@pytest.mark.cuda
def test_cuda_bad_input_raises():
    torch = pytest.importorskip("torch")
    s = torch.ones(4, 8, dtype=torch.float64, device="cuda")
    s[2, 3] = float("nan")
    with pytest.raises(ValueError, match=r"sigma2 must be finite.*problem 2"):
        reverse_waterfill(s, 1.0)
    with pytest.raises(ValueError, match="D must be finite and >= 0"):
        reverse_waterfill(torch.ones(4, 8, device="cuda", dtype=torch.float64), -1.0)


def _slow_spectrum(k: int = 24, D: float = 1.0, frac: float = 0.01) -> np.ndarray:
    """Variances that make the elimination from below take one entry a pass: each next entry sits
    just above the current level, so the level needs more passes than the kernel allows (12) and
    the sort-and-scan of Algorithm 1 finishes the solve."""
    small, tau = [0.0], D / k
    while len(small) < k - 4:
        nxt = (D - sum(small)) / (k - len(small))
        if nxt <= tau:
            break
        small.append(tau + frac * (nxt - tau))
        tau = nxt
    return np.array(small + [10.0] * (k - len(small)))


def test_reverse_fallback_scan_of_algorithm_1():
    """The spectrum that defeats the elimination passes (14 of them would be needed): the level of
    the sort-and-scan fallback against plain bisection. Killed: the fallback's bar dividing by
    i + 1 covered entries instead of i."""
    s = _slow_spectrum()
    for order in (s, s[::-1], np.random.default_rng(0).permutation(s)):
        r = reverse_waterfill(order, 1.0)
        assert float(r.level) == pytest.approx(bisect_level(order, 1.0), rel=1e-12)
        assert float(np.sum(r.allocation)) == pytest.approx(1.0, rel=1e-13)
        assert float(r.mi) == pytest.approx(reverse_mi(order, r.allocation), rel=1e-12)
