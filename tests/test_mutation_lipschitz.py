"""Mutation audit of the Lipschitz area: behaviour that no other test pinned down, here where the
owning test file belongs to another session (the batched CUDA Lanczos kernel's CPU emulation)."""

from __future__ import annotations

import warnings

import numpy as np

from infotheory import _core


def _emulate(A, *, tol, max_iter, gap_cap=0.0):
    b, _, n = A.shape
    v = np.zeros((b, n))
    out = {k: np.empty(b) for k in ("sigma", "lower", "upper", "mu", "fro2")}
    out.update({k: np.empty(b, np.int32) for k in ("iterations", "status", "ok")})
    _core.spectral_lanczos_emulate(
        A, v, None, out["sigma"], out["lower"], out["upper"], out["iterations"], out["status"],
        out["mu"], out["ok"], out["fro2"], tol, max_iter, 128, gap_cap, 0, False, 1, 1,
    )  # fmt: skip
    return out, v


def test_emulated_kernel_uncertified_upper_is_the_residual_bound():
    # Uncertified, stopped early (max_iter 3): the upper end is sqrt(theta + r) for the returned
    # unit vector y, theta = |A y|^2 and r = ||A^T A y - theta y|| (a bound on the eigenvalue of
    # A^T A); the bracket of 2 A is exactly twice that of A. Killed: sqrt(theta + r^2), which
    # passed every test of the kernel's emulation (converged runs have r ~ 1e-16).
    A = np.random.default_rng(21).standard_normal((3, 40, 30))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out, v = _emulate(A, tol=1e-10, max_iter=3)
        out2, _ = _emulate(2.0 * A, tol=1e-10, max_iter=3)
    assert (out["status"] != 1).all()
    y = v / np.linalg.norm(v, axis=1, keepdims=True)
    Ay = np.einsum("bij,bj->bi", A, y)
    w = np.einsum("bij,bi->bj", A, Ay)
    theta = (y * w).sum(1)
    r = np.linalg.norm(w - theta[:, None] * y, axis=1)
    assert np.all(r > 1e-3 * theta)  # far from converged: r and r^2 differ
    np.testing.assert_allclose(out["lower"], np.sqrt(theta), rtol=1e-12)
    np.testing.assert_allclose(out["upper"], np.sqrt(theta + r), rtol=1e-12)
    np.testing.assert_array_equal(out2["upper"], 2.0 * out["upper"])
    np.testing.assert_array_equal(out2["lower"], 2.0 * out["lower"])
