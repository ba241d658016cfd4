"""Theorem 3.2 extensions: noisy projections (math.md §A3.4) and sampling the optimal perturbation
with the corrected construction (§A3.2)."""

from __future__ import annotations

import numpy as np
import pytest

from infotheory.channels import projection_attack

S2 = np.array([3.385053, 1.554384, 0.454551, 0.193700])


def _H(s2, n=4, m=6, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, s2.size)))
    V, _ = np.linalg.qr(rng.normal(size=(m, s2.size)))
    return Q @ np.diag(np.sqrt(s2)) @ V.T


def test_noisy_reference_values():
    H = _H(np.array([4.0, 2.0, 1.0, 0.25]))
    r = projection_attack(np.stack([H] * 3), [0.5, 2.0, 5.0], noise_var=0.5)
    np.testing.assert_allclose(r.mi, [1.396416, 0.628833, 0.114595], atol=5e-7)
    r = projection_attack(H, 2.0, noise_var=1e-10)
    assert float(r.mi) == pytest.approx(1.848184, abs=5e-7)
    assert float(r.level) == pytest.approx(projection_attack(H, 2.0).level, rel=1e-4)
    assert r.noise_var == 1e-10
    with pytest.raises(ValueError, match="noise_var must be finite"):
        projection_attack(H, 1.0, noise_var=-1.0)


def _empirical_mi(U: np.ndarray, Y: np.ndarray) -> float:
    """Gaussian log-det MI from samples: 1/2 ln det Cov(Y) - 1/2 ln det Cov(Y - best linear fit)."""
    coef, *_ = np.linalg.lstsq(U, Y, rcond=None)
    resid = Y - U @ coef
    _, ld_y = np.linalg.slogdet(np.cov(Y.T))
    _, ld_r = np.linalg.slogdet(np.cov(resid.T))
    return 0.5 * (ld_y - ld_r)


def test_sampled_perturbation_power_and_mi():
    H = _H(S2)
    D = 0.4 * S2.sum()  # math.md §A3.2: tau = 0.793412, I* = 1.061637 nats
    r = projection_attack(H, D)
    assert float(r.mi) == pytest.approx(1.061637, abs=5e-6)
    n = 100_000
    U = np.random.default_rng(1).normal(size=(n, 6))
    E = r.sample(U, seed=2)
    power = (E**2).sum(1)
    assert power.mean() == pytest.approx(D, abs=4 * power.std() / np.sqrt(n))
    Y = U @ H.T + E
    # two coordinates are erased (D_i = sigma_i^2): they carry nothing, so measure in the kept ones
    Q = r._Q
    kept = np.asarray(r.allocation) < S2 - 1e-9
    Yk = (Y @ Q)[:, kept]
    assert np.allclose((Y @ Q)[:, ~kept], 0.0, atol=1e-9)
    assert _empirical_mi(U, Yk) == pytest.approx(float(r.mi), abs=0.01)
    # the paper's sign, Cov(U''_i, Lambda_i) = +D_i, keeps far more information in the kept directions
    u2 = ((U @ r._V) * np.sqrt(S2))[:, kept]
    Dk, s2k = np.asarray(r.allocation)[kept], S2[kept]
    noise = np.sqrt(Dk * (1 - Dk / s2k)) * np.random.default_rng(3).normal(size=u2.shape)
    assert _empirical_mi(U, u2 + (Dk / s2k) * u2 + noise) > float(r.mi) + 1.0


def test_sampled_noisy_perturbation():
    H = _H(S2)
    r = projection_attack(H, 2.0, noise_var=0.5)
    n = 100_000
    rng = np.random.default_rng(4)
    U, W = rng.normal(size=(n, 6)), rng.normal(size=(n, 4)) * np.sqrt(0.5)
    E = r.sample(U, W=W)
    power = (E**2).sum(1)
    assert power.mean() == pytest.approx(2.0, abs=4 * power.std() / np.sqrt(n))
    assert _empirical_mi(U, U @ H.T + W + E) == pytest.approx(float(r.mi), abs=0.01)
    with pytest.raises(ValueError, match="W"):
        r.sample(U)
    with pytest.raises(ValueError, match="U must have shape"):
        r.sample(U[:, :3])
    with pytest.raises(ValueError, match="single"):
        projection_attack(np.stack([H, H]), 1.0).sample(U)
