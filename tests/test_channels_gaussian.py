"""Theorem 3.1 (scalar Gaussian attack) and its vector extension (math.md §A2.2-§A2.4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

from infotheory.channels import (
    gaussian_scalar_attack,
    gaussian_vector_attack,
    reverse_waterfill,
)

# math.md §A2.5: a2, s2, D, rho2, I (nats), x, y (None: not stated)
TABLE_A25 = [
    (1, 1, 0.5, "0.0669873", "0.0346682", "-0.683013", "0.183013"),
    (1, 0.1, 0.1, "0.669421", "0.5534555", "-0.181818", "0.081818"),
    (0.75, 0.1, 0.1, "0.584775", "0.439467", "-0.176471", "0.076471"),
    # the table prints rho2 = 0.207047, inconsistent with its own I = 0.115966 (that needs
    # 1 - exp(-2 I) = 0.207000) and with the §A2.6 grid (0.2070); its x, y = -0.243870, 0.143870
    # are 5e-6 off the closed form (-0.243875, 0.143875): typos, so this row is checked to 4 digits
    (0.75, 1, 0.1, "0.2070", "0.115966", "-0.2439", "0.1439"),
    (0.5, 0.1, 0.1, "0.444444", "0.293893", "-0.166667", "0.066667"),
    (0.25, 0.1, 0.1, "0.183673", "0.101470", "-0.142857", "0.042857"),
    # printed -1.947080, 0.047080; the closed form gives -1.947083, 0.047083: checked to 5 digits
    (2, 0.5, 1.9, None, "0.001168", "-1.94708", "0.04708"),
    (1, 1, 0, "0.5", "0.3465736", "0", "0"),
]

# math.md §A2.6 reference grid, rho*^2 | I* (nats), D = 0.1, 0.2, 0.3, 0.5, 0.9
GRID_D = [0.1, 0.2, 0.3, 0.5, 0.9]
GRID = {
    (1, 0.1): "0.6694|0.5535 0.5386|0.3867 0.4299|0.2810 0.2509|0.1444 0.0179|0.0090",
    (1, 0.5): "0.4093|0.2632 0.3017|0.1796 0.2229|0.1261 0.1111|0.0589 0.0048|0.0024",
    (1, 1.0): "0.2821|0.1657 0.2000|0.1116 0.1429|0.0771 0.0670|0.0347 0.0025|0.0013",
    (0.75, 0.1): "0.5848|0.4395 0.4291|0.2803 0.3045|0.1816 0.1154|0.0613 0|0",
    (0.75, 0.5): "0.3182|0.1915 0.2088|0.1171 0.1335|0.0717 0.0400|0.0204 0|0",
    (0.75, 1.0): "0.2070|0.1160 0.1300|0.0696 0.0800|0.0417 0.0223|0.0113 0|0",
    (0.5, 0.1): "0.4444|0.2939 0.2597|0.1504 0.1273|0.0681 0|0 0|0",
    (0.5, 0.5): "0.2000|0.1116 0.1000|0.0527 0.0417|0.0213 0|0 0|0",
    (0.5, 1.0): "0.1204|0.0641 0.0573|0.0295 0.0229|0.0116 0|0 0|0",
    (0.25, 0.1): "0.1837|0.1015 0.0223|0.0113 0|0 0|0 0|0",
    (0.25, 0.5): "0.0573|0.0295 0.0053|0.0027 0|0 0|0 0|0",
    (0.25, 1.0): "0.0310|0.0157 0.0027|0.0014 0|0 0|0 0|0",
}


def _close(value: float, stated: str) -> bool:
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    return abs(value - float(stated)) <= 0.5 * 10.0**-decimals + 1e-12


@pytest.mark.parametrize(("a2", "s2", "D", "rho2", "mi", "x", "y"), TABLE_A25)
def test_reference_table(a2, s2, D, rho2, mi, x, y):
    r = gaussian_scalar_attack(a2, s2, D)
    assert _close(float(r.mi), mi)
    if rho2 is not None:
        assert _close(float(r.rho2), rho2)
    assert _close(float(r.cov_ue), x)
    assert _close(float(r.cov_we), y)


def test_reference_grid_batched():
    keys = list(GRID)
    a2 = np.array([k[0] for k in keys], dtype=float)[:, None]
    s2 = np.array([k[1] for k in keys], dtype=float)[:, None]
    r = gaussian_scalar_attack(a2, s2, np.array(GRID_D))
    assert r.mi.shape == (len(keys), len(GRID_D))
    for i, key in enumerate(keys):
        for j, cell in enumerate(GRID[key].split()):
            rho2, mi = cell.split("|")
            assert _close(float(r.rho2[i, j]), rho2), (key, GRID_D[j])
            assert _close(float(r.mi[i, j]), mi), (key, GRID_D[j])


def test_edge_cases():
    r = gaussian_scalar_attack(2.0, 0.5, 0.0)
    assert float(r.mi) == pytest.approx(0.5 * np.log(1 + 2.0 / 0.5), abs=1e-15)
    r = gaussian_scalar_attack(2.0, 0.0, 0.5)  # no noise: the rate-distortion function
    assert float(r.mi) == pytest.approx(0.5 * np.log(2.0 / 0.5), abs=1e-14)
    assert float(gaussian_scalar_attack(2.0, 0.0, 0.0).mi) == np.inf
    for D in (2.0, 3.0, 100.0):
        r = gaussian_scalar_attack(2.0, 0.7, D)
        assert float(r.mi) == 0.0 and float(r.rho2) == 0.0
        assert float(r.alpha) == -1.0 and float(r.beta) == 0.0
    assert float(gaussian_scalar_attack(0.0, 1.0, 0.3).mi) == 0.0
    assert float(gaussian_scalar_attack(0.0, 0.0, 0.0).mi) == 0.0
    assert gaussian_scalar_attack(1, 1, 0.5, base=2).unit == "bits"
    assert float(gaussian_scalar_attack(1, 1, 0.5, base=2).mi) == pytest.approx(
        0.0346682 / np.log(2), abs=1e-6
    )


def test_blind_attacker():
    r = gaussian_scalar_attack(1, 1, 0.5, aware=False)
    assert float(r.mi) == pytest.approx(0.235002, abs=1e-6)
    # E = alpha U + beta W + N reproduces the power and the correlation
    a2, s2 = 1.0, 1.0
    power = r.alpha**2 * a2 + r.beta**2 * s2 + r.noise_var
    assert float(power) == pytest.approx(0.5, abs=1e-14)
    assert float(gaussian_scalar_attack(1, 1, 2.0, aware=False).mi) == 0.0
    assert float(gaussian_scalar_attack(1, 1, 0.0, aware=False).mi) == pytest.approx(
        0.5 * np.log(2), abs=1e-15
    )


def _program4(a2: float, s2: float, D: float) -> float:
    """The paper's program (4) by an independent route: scan the feasible ellipse's boundary and
    interior with scipy (the minimum of rho^2)."""
    a, s = np.sqrt(a2), np.sqrt(s2)
    S = a2 + s2

    def obj(t: float, r: float = 1.0) -> float:
        x, y = r * a * np.sqrt(D) * np.cos(t), r * s * np.sqrt(D) * np.sin(t)
        return (a2 + x) ** 2 / (a2 * (S + D + 2 * x + 2 * y))

    ts = np.linspace(-np.pi, np.pi, 721)
    best = min(ts, key=obj)
    res = minimize_scalar(
        obj, bounds=(best - 0.01, best + 0.01), method="bounded", options={"xatol": 1e-12}
    )
    return min(float(res.fun), min(obj(t, 0.5) for t in ts))


@settings(max_examples=40, deadline=None)
@given(
    a2=st.floats(0.05, 5.0),
    s2=st.floats(0.01, 5.0),
    frac=st.floats(0.0, 0.98),
)
def test_against_program_4_and_structure(a2, s2, frac):
    D = frac * a2
    r = gaussian_scalar_attack(a2, s2, D)
    assert float(r.rho2) == pytest.approx(_program4(a2, s2, D), abs=1e-9)
    assert float(r.mi) == pytest.approx(-0.5 * np.log1p(-float(r.rho2)), abs=1e-12)
    # backward-test-channel structure: Cov(X, E) = -D, constraint tight, E = alpha U + beta W
    assert float(r.cov_ue + r.cov_we) == pytest.approx(-D, abs=1e-12)
    assert float(r.cov_ue**2 / a2 + r.cov_we**2 / s2) == pytest.approx(D, abs=1e-10)
    assert float(r.alpha**2 * a2 + r.beta**2 * s2) == pytest.approx(D, abs=1e-10)


@settings(max_examples=30, deadline=None)
@given(a2=st.floats(0.05, 5.0), s2=st.floats(0.0, 5.0))
def test_non_increasing_and_convex_in_D(a2, s2):
    D = np.linspace(0.0, 1.5 * a2, 61)[1:]
    mi = gaussian_scalar_attack(a2, s2, D).mi
    assert np.all(np.diff(mi) <= 1e-13)
    assert np.all(np.diff(mi, 2) >= -1e-11)
    assert np.all(mi[D >= a2] == 0.0)


def test_bad_input():
    with pytest.raises(ValueError, match="D must be >= 0"):
        gaussian_scalar_attack(1.0, 1.0, -0.1)
    with pytest.raises(ValueError, match="a2 must be finite"):
        gaussian_scalar_attack(np.nan, 1.0, 0.1)
    with pytest.raises(ValueError, match="s2 must be >= 0"):
        gaussian_scalar_attack(1.0, [-1.0, 1.0], 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        gaussian_scalar_attack([1.0, 2.0], [1.0, 2.0, 3.0], 0.1)
    with pytest.raises(TypeError, match="a2 must be real"):
        gaussian_scalar_attack("x", 1.0, 0.1)
    with pytest.raises(ValueError, match="D must be finite"):
        gaussian_vector_attack([1.0, 2.0], 1.0, np.inf)
    with pytest.raises(ValueError, match="at least one dimension"):
        gaussian_vector_attack(1.0, 1.0, 0.5)


def test_vector_reference():
    r = gaussian_vector_attack([1, 0.5, 0.25, 2], [0.1, 0.3, 0.05, 1], 1.2)
    assert float(r.mi) == pytest.approx(0.44990943, abs=5e-9)
    np.testing.assert_allclose(r.allocation, [0.523851, 0.228900, 0.216929, 0.230320], atol=5e-7)
    assert float(np.sum(r.allocation)) == pytest.approx(1.2, abs=1e-12)
    # math.md §A3.4: the noisy projection attack with sigma^2 = (4, 2, 1, .25), s_w^2 = .5
    r = gaussian_vector_attack([4, 2, 1, 0.25], 0.5, [0.5, 2.0, 5.0])
    np.testing.assert_allclose(r.mi, [1.396416, 0.628833, 0.114595], atol=5e-7)
    r = gaussian_vector_attack([4, 2, 1, 0.25], 1e-10, 2.0)
    assert float(r.mi) == pytest.approx(1.848184, abs=5e-7)


def test_vector_zero_noise_is_reverse_waterfill():
    s2 = np.array([4.0, 2.0, 1.0, 0.25])
    for D in (0.5, 1.0, 2.0, 3.0, 5.0, 7.25, 9.0):
        r = gaussian_vector_attack(s2, 0.0, D)
        wf = reverse_waterfill(s2, D)
        assert float(r.mi) == pytest.approx(float(wf.mi), abs=1e-10)
        np.testing.assert_allclose(r.allocation, wf.allocation, atol=1e-10)


def _slsqp(a2: np.ndarray, s2: np.ndarray, D: float) -> float:
    def total(d: np.ndarray) -> float:
        return float(gaussian_scalar_attack(a2, s2, np.clip(d, 0, None)).mi.sum())

    best = np.inf
    for x0 in (np.full(a2.size, D / a2.size), a2 * D / a2.sum()):
        res = minimize(
            total,
            x0,
            method="SLSQP",
            bounds=[(1e-12, float(a)) for a in a2],
            constraints=[{"type": "ineq", "fun": lambda d: D - d.sum()}],
            options={"ftol": 1e-14, "maxiter": 500},
        )
        best = min(best, float(res.fun))
    return best


@settings(max_examples=15, deadline=None)
@given(
    a2=st.lists(st.floats(0.1, 3.0), min_size=2, max_size=5),
    s2=st.floats(0.05, 2.0),
    frac=st.floats(0.05, 0.95),
)
def test_vector_against_slsqp(a2, s2, frac):
    a2 = np.array(a2)
    D = frac * a2.sum()
    r = gaussian_vector_attack(a2, s2, D)
    ref = _slsqp(a2, np.full_like(a2, s2), D)
    assert float(r.mi) <= ref + 1e-9
    assert float(r.mi) == pytest.approx(ref, abs=1e-6)
    assert float(np.sum(r.allocation)) == pytest.approx(D, rel=1e-12)


def test_vector_batched_equals_one_by_one_and_edges():
    rng = np.random.default_rng(3)
    a2 = rng.uniform(0.0, 2.0, size=(6, 5))
    a2[0, 2] = 0.0
    s2 = rng.uniform(0.0, 1.0, size=(6, 5))
    s2[1] = 0.0
    D = rng.uniform(0.0, 1.2, size=6) * a2.sum(-1)
    D[2] = 0.0
    D[3] = a2[3].sum() * 1.5
    batch = gaussian_vector_attack(a2, s2, D)
    for i in range(6):
        one = gaussian_vector_attack(a2[i], s2[i], D[i])
        assert float(one.mi) == pytest.approx(float(batch.mi[i]), abs=1e-12)
        np.testing.assert_allclose(one.allocation, batch.allocation[i], atol=1e-12)
    assert float(batch.mi[3]) == 0.0 and float(batch.multiplier[3]) == 0.0
    assert float(batch.mi[2]) == pytest.approx(0.5 * np.sum(np.log1p(a2[2] / s2[2])), rel=1e-12)
    assert np.isfinite(batch.mi[[0, 2, 3, 4, 5]]).all()
    d = batch.to_dict()
    assert d["unit"] == "nats" and len(d["allocation"]) == 6


def test_noiseless_attack_carries_its_independent_noise():
    # s2 = 0: the optimal E is rate-distortion's backward test channel, E = -(D/a2) U + N with N
    # independent of variance D (1 - D/a2). Before, noise_var was 0 there: E = -(D/a2) U spent only
    # D^2/a2 and left Y = (1 - D/a2) U, which carries infinite information, not 1/2 ln(a2/D)
    a2, D = 2.0, np.array([0.5, 1.0, 1.5])
    r = gaussian_scalar_attack(a2, 0.0, D)
    np.testing.assert_allclose(r.alpha, -D / a2, rtol=1e-15)
    np.testing.assert_array_equal(r.beta, 0.0)
    np.testing.assert_allclose(r.noise_var, D * (1 - D / a2), rtol=1e-15)
    np.testing.assert_allclose(r.alpha**2 * a2 + r.noise_var, D, rtol=1e-15)
    np.testing.assert_allclose(r.power, D, rtol=1e-15)
    # Y = (1 + alpha) U + N: a Gaussian channel with the reported information, 1/2 ln(a2 / D)
    snr = (1 + r.alpha) ** 2 * a2 / r.noise_var
    np.testing.assert_allclose(0.5 * np.log1p(snr), r.mi, rtol=1e-14)
    np.testing.assert_allclose(r.mi, 0.5 * np.log(a2 / D), rtol=1e-14)
    # at and beyond a2 the source is erased outright: E = -U, no noise
    e = gaussian_scalar_attack(a2, 0.0, [2.0, 3.0])
    np.testing.assert_array_equal(e.alpha, -1.0)
    np.testing.assert_array_equal(e.noise_var, 0.0)
