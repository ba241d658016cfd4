"""Block Lanczos (spectral_norm(block_size=2..4)): the fused multi-vector pass against float64
products, closed forms, numpy.linalg.svd, top singular values of multiplicity 2 and 3, the
bracket, batching and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infotheory import _core
from infotheory.lipschitz import spectral_norm

BLOCKS = [2, 3, 4]


def _ref(A: np.ndarray) -> float:
    return float(np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)[0])


def _with_spectrum(s: np.ndarray, m: int, n: int, seed: int) -> np.ndarray:
    """U diag(s) V^T with Haar-random U (m x k) and V (n x k), k = len(s)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, len(s))))
    V, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    return (U * s) @ V.T


def _band(N: int, p: int, seed: int, cluster: float) -> np.ndarray:
    """A symmetric band matrix (bandwidth p) whose two or three largest diagonal entries lie
    `cluster` apart above the rest, coupled by the band: near-tied top eigenvalues when small."""
    rng = np.random.default_rng(seed)
    T = np.zeros((N, N))
    for d in range(1, p + 1):
        off = 0.3 * rng.standard_normal(N - d)
        T += np.diag(off, d) + np.diag(off, -d)
    diag = rng.uniform(-1.0, 1.0, N)
    top = rng.choice(N, size=min(3, N), replace=False)
    diag[top] = 3.0 + cluster * np.arange(len(top))
    return T + np.diag(diag)


@settings(max_examples=150, deadline=None)
@given(
    N=st.integers(2, 60),
    p=st.integers(1, 4),
    seed=st.integers(0, 2**31),
    cluster=st.sampled_from([0.0, 1e-12, 1e-7, 1e-3, 0.5]),
    start=st.sampled_from(["zeros", "random", "near", "orthogonal"]),
    hint=st.sampled_from([0.0, 1e-12, 1e-6, 1e-2, 10.0]),
    below=st.sampled_from([0.0, 1e-9, 1e-3, 1.0]),
)
def test_band_top_pair_against_eigh(N, p, seed, cluster, start, hint, below):
    # the top eigenpair of block Lanczos's projection: bisection on Cholesky factorisations,
    # shortened by inverse iteration and the Rayleigh quotient's residual, must bracket the top
    # eigenvalue to 1e-9 of the Gershgorin bound whatever the warm start, hint and lower bound
    p = min(p, N - 1) if N > 1 else 1
    T = _band(N, p, seed, cluster)
    lam, vecs = np.linalg.eigh(T)
    top = vecs[:, -1]
    rng = np.random.default_rng(seed + 1)
    s = {
        "zeros": np.zeros(N),
        "random": rng.standard_normal(N),
        "near": top + 1e-3 * rng.standard_normal(N),
        "orthogonal": vecs[:, 0].copy(),
    }[start]
    lo = lam[-1] - below * (lam[-1] - lam[0])
    theta = _core.spectral_band_top_pair(T, p, lo, hint, s)
    gersh = float(np.max(np.diag(T) + np.abs(T).sum(axis=1) - np.abs(np.diag(T))))
    assert abs(theta - lam[-1]) <= 1e-9 * abs(gersh) + 1e-13
    assert np.linalg.norm(s) == pytest.approx(1.0, abs=1e-12)
    assert float(s @ T @ s) == pytest.approx(theta, abs=1e-13)
    if lam[-1] - lam[-2] > 1e-6:  # a separated top: s is its eigenvector
        assert abs(float(s @ top)) == pytest.approx(1.0, abs=1e-6)


def test_band_top_pair_from_an_exactly_orthogonal_start():
    # T decoupled (a zero band) and s on the bottom eigenvector: inverse iteration alone never
    # leaves it, so the top pair must come from the random restart
    T = np.diag([1.0, 2.0, 3.0, 0.5])
    s = np.array([1.0, 0.0, 0.0, 0.0])
    theta = _core.spectral_band_top_pair(T, 1, 2.5, 0.0, s)
    assert theta == pytest.approx(3.0, rel=1e-12)
    assert abs(s[2]) == pytest.approx(1.0, abs=1e-9)


def test_band_top_pair_bad_input():
    T = np.diag([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="T must be"):
        _core.spectral_band_top_pair(np.ones((2, 3)), 1, 0.0, 0.0, np.ones(2))
    with pytest.raises(ValueError, match="p must be"):
        _core.spectral_band_top_pair(T, 3, 0.0, 0.0, np.ones(3))
    with pytest.raises(ValueError, match="s"):
        _core.spectral_band_top_pair(T, 1, 0.0, 0.0, np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        _core.spectral_band_top_pair(T * np.nan, 1, 0.0, 0.0, np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (37, 29), (66, 1003), (129, 16)])
@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_block_pass_matches_float64_products(dtype, shape, p):
    rng = np.random.default_rng(sum(shape) + p)
    A = rng.standard_normal(shape).astype(dtype)
    V = rng.standard_normal((p, shape[1]))
    A64 = A.astype(np.float64)
    ref = (A64.T @ (A64 @ V.T)).T
    scale = np.abs(A64).sum() * np.abs(V).max() * np.abs(A64).max()
    for kernel in (0, 1, 2):
        out = np.full((p, shape[1]), np.nan)
        _core.spectral_gram_block(A, V, out, kernel)
        # kernel 2 computes in float32 arithmetic for float32 matrices: about 1e-7 relative
        rtol = 1e-6 if (kernel == 2 and dtype == np.float32) else 1e-13
        assert np.abs(out - ref).max() <= rtol * scale, kernel


def test_block_pass_bad_input():
    A = np.ones((4, 5))
    with pytest.raises(ValueError, match="V must have shape"):
        _core.spectral_gram_block(A, np.ones((5, 5)), np.empty((5, 5)), 1)
    with pytest.raises(ValueError, match="out must have shape"):
        _core.spectral_gram_block(A, np.ones((2, 5)), np.empty((3, 5)), 1)
    with pytest.raises(ValueError, match="kernel"):
        _core.spectral_gram_block(A, np.ones((2, 5)), np.empty((2, 5)), 3)


@pytest.mark.parametrize("p", BLOCKS)
def test_diagonal_closed_form(p):
    d = np.linspace(0.1, 2.0, 60)
    d[17] = -3.0
    res = spectral_norm(np.diag(d), tol=1e-10, certify="none", block_size=p)
    assert res.converged
    assert res.value == pytest.approx(3.0, rel=1e-10)
    assert res.lower <= 3.0 * (1 + 1e-14) <= res.upper * (1 + 1e-14)


@pytest.mark.parametrize("p", BLOCKS)
def test_orthogonal_has_norm_one(p):
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((300, 300)))
    res = spectral_norm(Q, tol=1e-9, block_size=p)
    assert res.converged
    assert res.value == pytest.approx(1.0, rel=1e-9)
    assert res.upper == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("p", BLOCKS)
def test_rank_one_and_scaling(p):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(70), rng.standard_normal(45)
    A = np.outer(a, b)
    want = np.linalg.norm(a) * np.linalg.norm(b)
    for scale in (1.0, -7.5):
        res = spectral_norm(scale * A, certify="none", block_size=p)
        assert res.converged
        assert res.value == pytest.approx(abs(scale) * want, rel=1e-8)


def test_zero_matrix():
    res = spectral_norm(np.zeros((50, 40)), certify="none", block_size=3)
    assert res.value == 0.0 and res.upper == 0.0 and res.converged


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(2, 90),
    n=st.integers(2, 90),
    seed=st.integers(0, 2**31),
    p=st.sampled_from(BLOCKS),
    dtype=st.sampled_from([np.float32, np.float64]),
    cond=st.sampled_from([10.0, 1e3]),
)
def test_matches_numpy_svd(m, n, seed, p, dtype, cond):
    rng = np.random.default_rng(seed)
    k = min(m, n)
    s = np.geomspace(1.0, 1.0 / cond, k) * rng.uniform(0.5, 2.0)
    A = _with_spectrum(s, m, n, seed).astype(dtype)
    ref = _ref(A)
    tol = 1e-6
    res = spectral_norm(A, tol=tol, certify="none", block_size=p)
    assert res.converged
    assert abs(res.value - ref) <= tol * ref
    # the bracket holds the float64 SVD value (a top gap of 2.5% or more: the residual bound
    # needs the Ritz vector on the top singular direction)
    assert res.lower <= ref * (1 + 1e-12)
    assert res.upper >= ref * (1 - 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", BLOCKS)
def test_gaussian_bracket_contains_svd_value(dtype, p):
    # 400 x 300: past the small-matrix certified path, float32 iterates in float32 arithmetic
    A = np.random.default_rng(3).standard_normal((400, 300)).astype(dtype)
    ref = _ref(A)
    res = spectral_norm(A, tol=1e-6, block_size=p)
    assert res.converged and not res.certified
    assert res.lower <= ref * (1 + 1e-12) and res.upper >= ref * (1 - 1e-12)
    assert res.upper - res.lower <= 1e-6 * res.lower
    # fewer passes than single-vector Lanczos needs applications
    assert res.iterations < spectral_norm(A, tol=1e-6, block_size=1).iterations


@pytest.mark.parametrize("mult", [2, 3])
@pytest.mark.parametrize("p", BLOCKS)
def test_repeated_top_singular_value(mult, p):
    n = 120
    s = np.linspace(0.9, 0.01, n)
    s[:mult] = 1.0
    A = _with_spectrum(s, n, n, 10 * mult + p)
    res = spectral_norm(A, tol=1e-8, certify="none", block_size=p)
    assert res.converged
    assert res.value == pytest.approx(1.0, rel=1e-8)
    assert res.lower <= 1.0 + 1e-12 <= res.upper + 2e-12


@pytest.mark.parametrize("p", [3, 4])
def test_start_orthogonal_to_a_top_pair(p):
    # init orthogonal to both top right singular vectors (a pair 1e-6 apart): the extra block
    # vectors still bring them into the Krylov space
    n = 150
    rng = np.random.default_rng(5)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.linspace(0.5, 0.01, n)
    s[0], s[1] = 1.0, 1.0 - 1e-6
    A = (U * s) @ V.T
    init = V[:, 2:] @ rng.standard_normal(n - 2)
    res = spectral_norm(A, tol=1e-8, certify="none", block_size=p, init=init)
    assert res.converged
    assert res.value == pytest.approx(1.0, rel=1e-8)


@pytest.mark.parametrize("p", BLOCKS)
def test_vectors_and_batch(p):
    rng = np.random.default_rng(6)
    B = rng.standard_normal((3, 2, 60, 45))
    res = spectral_norm(B, tol=1e-9, certify="none", block_size=p, return_vectors=True)
    ref = np.linalg.svd(B, compute_uv=False)[..., 0]
    np.testing.assert_allclose(res.value, ref, rtol=1e-9)
    assert res.u.shape == (3, 2, 60) and res.v.shape == (3, 2, 45)
    Wv = np.einsum("...ij,...j->...i", B, res.v)
    np.testing.assert_allclose(Wv, res.value[..., None] * res.u, atol=1e-6)
    one = spectral_norm(B[1, 0], tol=1e-9, certify="none", block_size=p)
    assert one.value == res.value[1, 0]


def test_certified_with_block():
    A = np.random.default_rng(7).standard_normal((300, 280))
    res = spectral_norm(A, tol=1e-6, certify="cholesky", block_size=2)
    assert res.certified and res.converged
    assert res.lower <= _ref(A) * (1 + 1e-12) <= res.upper * (1 + 1e-12)


def test_torch_cpu_input():
    torch = pytest.importorskip("torch")
    A = torch.from_numpy(np.random.default_rng(8).standard_normal((300, 290)).astype(np.float32))
    res = spectral_norm(A, tol=1e-6, block_size=4)
    assert isinstance(res.v, torch.Tensor) and res.v.dtype == torch.float32
    assert res.value == pytest.approx(_ref(A.numpy()), rel=1e-6)


def test_max_iter_warns():
    A = np.random.default_rng(9).standard_normal((300, 300))
    with pytest.warns(RuntimeWarning, match="did not reach"):
        res = spectral_norm(A, tol=1e-12, max_iter=5, block_size=3)
    assert not res.converged and res.iterations <= 5
    ref = _ref(A)
    assert res.lower <= ref * (1 + 1e-12)


def test_bad_input():
    A = np.ones((30, 30))
    for bad in (0, 5, -1):
        with pytest.raises(ValueError, match="block_size must be in"):
            spectral_norm(A, block_size=bad)
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match="block_size must be an int"):
            spectral_norm(A, block_size=bad)
    with pytest.raises(ValueError, match="block_size > 1 needs method"):
        spectral_norm(A, method="power", block_size=2)
    with pytest.raises(ValueError, match="residual bound only"):
        spectral_norm(A, stop="kato-temple", block_size=2)
    A[3, 4] = np.nan
    with pytest.raises(ValueError, match="W must be finite"):
        spectral_norm(A, certify="none", block_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spectral_norm(np.eye(30), method="svd", block_size=1).value == 1.0


def test_default_is_single_vector():
    A = np.random.default_rng(11).standard_normal((300, 280)).astype(np.float32)
    single = spectral_norm(A, tol=1e-6, block_size=1)
    default = spectral_norm(A, tol=1e-6)
    assert (default.value, default.iterations) == (single.value, single.iterations)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("scale", [1.0, 1e35, 1e-35])
def test_float64_through_a_float32_copy(p, scale):
    # float64 matrices at tol >= 2.5e-7 iterate on a float32 copy and certify with float64;
    # entries outside float32's comfortable range keep the float64 iteration
    rng = np.random.default_rng(12)
    s = np.linspace(1.0, 0.01, 300)
    s[1] = 1.0 - 1e-4
    A = _with_spectrum(s, 320, 300, 12) * scale
    A[0, 0] += 1e-3 * scale * rng.standard_normal()
    ref = _ref(A)
    for tol in (1e-6, 1e-9):
        res = spectral_norm(A, tol=tol, block_size=p)
        assert res.converged
        assert abs(res.value - ref) <= tol * ref
        assert res.lower <= ref * (1 + 1e-12) and res.upper >= ref * (1 - 1e-12)
        assert res.upper - res.lower <= tol * res.lower


def test_two_threads_split_each_pass():
    # one large matrix and two threads: each block pass is split over row blocks
    import infotheory

    A = np.random.default_rng(13).standard_normal((600, 700))
    ref = _ref(A)
    before = infotheory.get_num_threads()
    try:
        for threads in (1, 2):
            infotheory.set_num_threads(threads)
            res = spectral_norm(A, tol=1e-6, block_size=3, return_vectors=True)
            assert res.converged
            assert res.lower <= ref * (1 + 1e-12) and res.upper >= ref * (1 - 1e-12)
            np.testing.assert_allclose(A @ res.v, res.value * res.u, atol=1e-5 * ref)
    finally:
        infotheory.set_num_threads(before)
