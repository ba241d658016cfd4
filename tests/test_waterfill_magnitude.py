"""Water-filling at magnitudes far from 1 (csrc/core/waterfill.hpp ``range_shift``).

Rows whose largest entry lies below 2^-1000, or whose sums could pass 2^1000, are solved in units of
an exact power of two. Before, a row of subnormal variances had a level that rounded to 0 and an
infinite information, and finite noise whose sum overflowed gave an error where the level is finite.
Power-of-two scaling commutes exactly with every operation of the level's computation (sums,
differences, divisions by counts, comparisons) while no value leaves the normal range, so the level
of ``s * 2^j`` must be the level of ``s`` times ``2^j`` bit for bit, and the information must be the
same number.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _reference import bisect_level, reverse_mi
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from infotheory.channels import reverse_waterfill, waterfill

# entries in [2^-6, 2^7) or 0: times 2^j they stay normal for j >= -1016, and the sum of 40 of them
# times 2^j overflows for j >= 1012
rows = hnp.arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.one_of(st.floats(2.0**-6, 127.0), st.sampled_from([0.0, 1.0, 3.0])),
)
# the scaled-up band (largest entry below 2^-1000), the scaled-down band (sums near 2^1024), and
# anything between (solved as before)
shifts = st.one_of(st.integers(-1016, -1000), st.integers(1000, 1016), st.integers(-999, 999))


def scaled_budget(B: float, j: int, k: int) -> float:
    """B * 2^j, for budgets whose level (at least B / k) stays normal at both scales (or B = 0):
    the exact-scaling identity holds only there."""
    with np.errstate(over="ignore"):
        Bj = float(np.ldexp(B, j))
    assume(B == 0.0 or (min(B, Bj) / k >= 2.0**-1022 and np.isfinite(Bj)))
    return Bj


def info_tol(row: np.ndarray, level: float, j: int) -> float:
    """The information is computed as sum ln s_i - k ln tau (one log per row), each term about
    |log2 (s_i 2^j)| ln 2 or |log2 (tau 2^j)| ln 2 in size: rounding leaves about k 2^-53 times that."""
    top = float(row.max())
    mag = abs(j) + 10 + sum(abs(math.log2(x)) for x in (level, top) if x > 0)
    return 4e-16 * len(row) * mag + 1e-13


@settings(max_examples=150, deadline=None)
@given(s=rows, frac=st.floats(0.0, 1.2), j=shifts)
def test_reverse_level_scales_exactly(s, frac, j):
    D = frac * float(s.sum())
    ref = reverse_waterfill(s, D)
    r = reverse_waterfill(np.ldexp(s, j), scaled_budget(D, j, len(s)))
    assert float(r.level) == math.ldexp(float(ref.level), j)
    np.testing.assert_array_equal(r.allocation, np.minimum(np.ldexp(s, j), float(r.level)))
    if math.isinf(float(ref.mi)):
        assert math.isinf(float(r.mi))
    else:
        exact = reverse_mi(s, np.minimum(s, float(ref.level)))  # in the row's own units
        tol = info_tol(s, float(ref.level), j)
        assert float(r.mi) == pytest.approx(exact, rel=0, abs=tol)


@settings(max_examples=150, deadline=None)
@given(n=rows, frac=st.floats(0.0, 3.0), j=shifts)
def test_forward_level_scales_exactly(n, frac, j):
    P = frac * max(float(n.sum()), 1.0)
    ref = waterfill(n, P)
    with np.errstate(over="ignore"):  # a level beyond float64 is an error (test_regressions)
        assume(np.isfinite(np.ldexp(float(ref.level), j)))
    r = waterfill(np.ldexp(n, j), scaled_budget(P, j, len(n)))
    assert float(r.level) == math.ldexp(float(ref.level), j)
    nj, lev = np.ldexp(n, j), float(r.level)
    np.testing.assert_array_equal(r.allocation, np.where(nj < lev, lev - nj, 0.0))
    if math.isinf(float(ref.capacity)):
        assert math.isinf(float(r.capacity))
    else:
        nu, filled = float(ref.level), n < float(ref.level)
        # in the row's own units (no channel filled: P = 0 and capacity 0)
        exact = 0.5 * float(np.sum(np.log(nu) - np.log(n[filled]))) if filled.any() else 0.0
        assert float(r.capacity) == pytest.approx(exact, rel=0, abs=info_tol(n, nu, j))


@settings(max_examples=100, deadline=None)
@given(
    n=hnp.arrays(np.float64, st.integers(2, 40), elements=st.floats(2.0**1015, 2.0**1023)),
    frac=st.floats(0.0, 1.0),
)
def test_forward_noise_whose_sum_overflows(n, frac):
    # noise near the top of float64: sum(noise) + power overflows (an error before), while the
    # level, at most max(noise) + power, does not; an independent bisection on the noise in units
    # of 2^20 gives the level
    P = frac * float(n.max())
    r = waterfill(n, P)
    lev = float(r.level)
    assert math.isfinite(lev)
    ref = math.ldexp(bisect_level(np.ldexp(n, -20), math.ldexp(P, -20), forward=True), 20)
    assert lev == pytest.approx(ref, rel=1e-13)
    alloc = np.asarray(r.allocation)
    np.testing.assert_array_equal(alloc, np.where(n < lev, lev - n, 0.0))
    assert alloc.sum() == pytest.approx(P, rel=1e-12, abs=1e-15 * lev * len(n))
    filled = n < lev
    cap = 0.5 * float(np.sum(np.log(lev / n[filled])))
    assert float(r.capacity) == pytest.approx(cap, rel=1e-12, abs=1e-13 * len(n))


@settings(max_examples=100, deadline=None)
@given(
    m=hnp.arrays(np.int64, st.integers(1, 12), elements=st.integers(0, 2000)),
    frac=st.floats(0.001, 0.999),
)
def test_subnormal_variances_lose_no_information(m, frac):
    # variances m_i * 2^-1074 (subnormal, integers in units of the smallest double) and a budget
    # in the same units: the information is scale-free, so it equals that of the integer problem,
    # which a bisection in the normal range solves independently
    if m.sum() == 0:
        m[0] = 1
    units = np.floor(frac * float(m.sum()))
    units = max(units, 1.0)
    s, D = np.ldexp(m.astype(np.float64), -1074), math.ldexp(units, -1074)
    r = reverse_waterfill(s, D)
    mf = m.astype(np.float64)
    tau = bisect_level(mf, units)
    expect = reverse_mi(mf, np.minimum(mf, tau))
    assert math.isfinite(float(r.mi))
    assert float(r.mi) == pytest.approx(expect, rel=1e-9, abs=1e-12)
    # the level is the integer problem's, rounded to the nearest double (it may be subnormal)
    assert float(r.level) == pytest.approx(math.ldexp(tau, -1074), rel=0, abs=2.0**-1074)


def test_regressions():
    # four variances of 5e-324 and D = 5e-324: tau = D / 4 is not a double, and the level rounds
    # to 0; the information 1/2 4 ln(4) was infinite before
    r = reverse_waterfill(np.full(4, 5e-324), 5e-324)
    assert float(r.mi) == pytest.approx(2.0 * math.log(4.0), rel=1e-15)
    # noise 1e308 twice: the sum overflowed, an error before; the level is 1.5e308
    f = waterfill([1e308, 1e308], 1e308)
    assert float(f.level) == 1.5e308
    np.testing.assert_array_equal(f.allocation, [0.5e308, 0.5e308])
    assert float(f.capacity) == pytest.approx(math.log(1.5), rel=1e-15)
    # 40 variances of 1e307 (their sum, 4e308, overflows) and D = 1.7e308: tau = D / 40
    r = reverse_waterfill(np.full(40, 1e307), 1.7e308)
    assert float(r.level) == pytest.approx(1.7e308 / 40, rel=1e-15)
    assert float(r.mi) == pytest.approx(20.0 * math.log(40 / 17), rel=1e-14)
    # a level beyond float64 is still an error, not inf
    with pytest.raises(ValueError, match="overflow float64 in the water level"):
        waterfill([1.7e308], 1.7e308)


def test_budget_far_below_a_huge_row_stays_positive():
    # the scaled budget of a huge row must not underflow to 0 (which reads as D = 0: infinite
    # information); 1e-16 against 1e308 is a valid, if extreme, problem with a finite answer
    s = np.full(8, 1e308)
    for D in (1e-300, 1e-320):  # 1e-320 in units of 2^27 is below the smallest double
        r = reverse_waterfill(s, D)
        assert math.isfinite(float(r.mi)) and float(r.mi) > 2000
    r = reverse_waterfill(s, 8e-16)
    assert float(r.level) == pytest.approx(1e-16, rel=1e-15)
    assert float(r.mi) == pytest.approx(4.0 * (math.log(1e308) + math.log(1e16)), rel=1e-14)


def test_float32_rows_unchanged():
    # float32 rows are solved in double: their range never needs the shift
    s = np.array([3e38, 3e38, 1e-45, 2e-45], dtype=np.float32)
    r = reverse_waterfill(s, np.float32(3e38))
    assert float(r.level) == pytest.approx(3e38 / 2 - 1.5e-45, rel=1e-6)
    assert np.isfinite(r.mi)


# ---- CUDA (runs only on a GPU machine) ---------------------------------------------------------


@pytest.mark.cuda
def test_cuda_matches_cpu_far_from_one():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    base = rng.uniform(2.0**-6, 127.0, size=(64, 33))
    # subnormal, scaled up, in range, scaled down (forward: 34 * top > 2^1000; the row sums stay
    # below 2^1021, so D is finite)
    j = np.repeat([-1074 + 20, -1040, -1010, 0, 1005, 1008, 500, -500], 8)
    s = np.ldexp(base, j[:, None])
    D = s.sum(-1) * rng.uniform(0.05, 0.95, size=64)
    cpu = reverse_waterfill(s, D)
    gpu = reverse_waterfill(torch.from_numpy(s).cuda(), torch.from_numpy(D).cuda())
    np.testing.assert_allclose(gpu.mi.cpu().numpy(), cpu.mi, rtol=1e-12)
    np.testing.assert_allclose(gpu.level.cpu().numpy(), cpu.level, rtol=1e-12, atol=2.0**-1074)
    fcpu = waterfill(s, D)
    fgpu = waterfill(torch.from_numpy(s).cuda(), torch.from_numpy(D).cuda())
    np.testing.assert_allclose(fgpu.capacity.cpu().numpy(), fcpu.capacity, rtol=1e-12)
    np.testing.assert_allclose(fgpu.level.cpu().numpy(), fcpu.level, rtol=1e-12, atol=2.0**-1074)
