"""spectral_norm: closed forms, numpy.linalg.svd, scipy svds, batching, warm starts, bad input."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infotheory.lipschitz import spectral_norm

METHODS = ["lanczos", "power", "auto"]


def _ref(A: np.ndarray) -> np.ndarray:
    return np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)[..., 0]


@pytest.mark.parametrize("method", METHODS)
def test_diagonal_closed_form(method):
    d = np.array([0.5, -3.0, 2.0, 2.9, 1e-3])
    res = spectral_norm(np.diag(d), method=method, tol=1e-10)
    assert res.converged
    assert res.value == pytest.approx(3.0, rel=1e-10)
    assert res.lower <= 3.0 * (1 + 1e-14) <= res.upper * (1 + 1e-14)


@pytest.mark.parametrize("method", METHODS)
def test_orthogonal_has_norm_one(method):
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((40, 40)))
    res = spectral_norm(Q, method=method, tol=1e-9)
    assert res.value == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_rank_one_and_scaling(method):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(17), rng.standard_normal(9)
    A = np.outer(a, b)
    want = np.linalg.norm(a) * np.linalg.norm(b)
    assert spectral_norm(A, method=method).value == pytest.approx(want, rel=1e-8)
    assert spectral_norm(-7.5 * A, method=method).value == pytest.approx(7.5 * want, rel=1e-8)


def test_zero_matrix():
    res = spectral_norm(np.zeros((5, 3)))
    assert res.value == 0.0 and res.upper == 0.0 and res.converged


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    cond=st.sampled_from([1.0, 1e3, 1e8]),
    method=st.sampled_from(["lanczos", "power"]),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_matches_numpy_svd_within_certified_bracket(m, n, seed, cond, method, dtype):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = min(m, n)
    s = np.geomspace(1.0, 1.0 / cond, k) * rng.uniform(0.5, 2.0)
    A = ((U[:, :k] * s) @ V[:, :k].T).astype(dtype)
    want = _ref(A)
    tol = 1e-7
    res = spectral_norm(A, method=method, tol=tol)
    assert res.converged
    assert abs(res.value - want) <= tol * want + 1e-300
    assert res.lower <= want * (1 + 1e-12)
    # certify="auto" certifies up to 256 columns: upper is guaranteed, also for cond = 1 (all
    # singular values equal up to rounding)
    assert res.certified
    assert res.upper >= want * (1 - 1e-12)
    assert res.upper - res.lower <= tol * res.lower


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(2, 48),
    n=st.integers(2, 48),
    size=st.integers(2, 4),
    gap=st.sampled_from([0.0, 1e-13, 1e-9, 1e-7, 1e-5, 1e-3]),
    cond=st.sampled_from([1e1, 1e6, 1e12]),
    seed=st.integers(0, 2**31),
    method=st.sampled_from(["lanczos", "power"]),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_certified_upper_holds_for_clustered_and_ill_conditioned(
    m, n, size, gap, cond, seed, method, dtype
):
    # a cluster of `size` top singular values within relative `gap`, the rest down to 1/cond:
    # the spectra where a residual bound can sit below sigma_max
    rng = np.random.default_rng(seed)
    k = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.geomspace(0.5, 0.5 / cond, k)
    top = min(size, k)
    s[:top] = 1.0 - gap * np.arange(top)
    A = ((U[:, :k] * s) @ V[:, :k].T).astype(dtype)
    want = _ref(A)
    tol = 1e-6
    with warnings.catch_warnings():
        # power iteration may stall inside a cluster (converged=False); its bracket still holds
        warnings.simplefilter("ignore", RuntimeWarning)
        res = spectral_norm(A, method=method, tol=tol, certify="cholesky")
    assert res.certified
    assert res.lower <= want * (1 + 1e-12)
    assert res.upper >= want * (1 - 1e-15)
    if method == "lanczos":
        assert res.converged
    if res.converged:
        assert res.upper - res.lower <= tol * res.lower


def test_certificate_catches_a_missed_top_singular_value():
    # a start vector orthogonal to the top singular direction of a diagonal matrix spans an
    # invariant subspace: the iteration converges to 2 with zero residual, and only a global
    # certificate notices that 3 is above it
    W = np.diag([3.0, 2.0, 1.0])
    blind = spectral_norm(W, init=[0.0, 1.0, 0.0], certify="none")
    assert not blind.certified and blind.upper == pytest.approx(2.0)
    res = spectral_norm(W, init=[0.0, 1.0, 0.0], certify="cholesky")
    assert res.certified and res.value == pytest.approx(3.0, rel=1e-14)
    assert res.lower <= 3.0 <= res.upper and res.converged
    assert np.abs(res.v) == pytest.approx([1.0, 0.0, 0.0])


def test_certify_auto_and_none():
    rng = np.random.default_rng(11)
    small = spectral_norm(rng.standard_normal((20, 30)))
    assert small.certified
    W = rng.standard_normal((300, 260))
    big = spectral_norm(W, tol=1e-6)
    assert not big.certified and big.converged
    # the residual bound: above the estimate and, for a Gaussian matrix (separated top), above
    # sigma_max, within tol
    want = _ref(W)
    assert big.lower < big.upper and big.lower <= want * (1 + 1e-12) <= big.upper * (1 + 1e-12)
    assert big.upper - big.lower <= 1e-6 * big.lower
    none = spectral_norm(rng.standard_normal((20, 30)), certify="none")
    assert not none.certified
    with pytest.raises(ValueError, match="certify"):
        spectral_norm(np.eye(3), certify="yes")


def test_gaussian_against_scipy_svds():
    from scipy.sparse.linalg import svds

    rng = np.random.default_rng(3)
    A = rng.standard_normal((300, 200))
    want = svds(A, k=1, tol=1e-12, return_singular_vectors=False)[0]
    res = spectral_norm(A, tol=1e-9)
    assert res.value == pytest.approx(want, rel=1e-9)
    assert res.method == "lanczos" and res.iterations < 120


def test_vectors_satisfy_singular_relations():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((30, 20))
    res = spectral_norm(A, return_vectors=True, tol=1e-10)
    u, v = res.u, res.v
    assert np.linalg.norm(u) == pytest.approx(1.0) and np.linalg.norm(v) == pytest.approx(1.0)
    np.testing.assert_allclose(A @ v, res.value * u, atol=1e-4 * res.value)
    np.testing.assert_allclose(A.T @ u, res.value * v, atol=1e-4 * res.value)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_batched_equals_one_by_one(method):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 4, 12, 7))
    res = spectral_norm(A, method=method, tol=1e-9)
    assert res.value.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            # matrix p of a batch starts from the vector of seed + p: the same run one by one
            one = spectral_norm(A[i, j], method=method, tol=1e-9, seed=4 * i + j)
            assert res.value[i, j] == pytest.approx(one.value, rel=1e-14)
            assert res.upper[i, j] == pytest.approx(one.upper, rel=1e-14)
            assert res.certified[i, j] and one.certified
            other = spectral_norm(A[i, j], method=method, tol=1e-9)
            assert other.value == pytest.approx(one.value, rel=1e-9)
    np.testing.assert_allclose(res.value, _ref(A), rtol=1e-9)


def test_float32_and_threads_agree():
    import infotheory

    rng = np.random.default_rng(6)
    A = rng.standard_normal((40, 50, 40)).astype(np.float32)  # enough work to go parallel
    before = infotheory.get_num_threads()
    try:
        infotheory.set_num_threads(1)
        one = spectral_norm(A).value
        infotheory.set_num_threads(2)
        two = spectral_norm(A).value
    finally:
        infotheory.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, _ref(A), rtol=1e-8)


def test_large_single_matrix_split_across_threads():
    import infotheory

    rng = np.random.default_rng(7)
    A = rng.standard_normal((600, 500))
    before = infotheory.get_num_threads()
    try:
        infotheory.set_num_threads(2)
        res = spectral_norm(A, tol=1e-9)
    finally:
        infotheory.set_num_threads(before)
    assert res.value == pytest.approx(_ref(A), rel=1e-9)


def test_warm_start_converges_at_once():
    rng = np.random.default_rng(8)
    A = rng.standard_normal((60, 40))
    cold = spectral_norm(A, method="power", tol=1e-6)
    warm = spectral_norm(
        A + 1e-9 * rng.standard_normal(A.shape), method="power", tol=1e-6, init=cold.v
    )
    assert warm.iterations < cold.iterations / 5
    assert warm.value == pytest.approx(cold.value, rel=1e-6)


def test_power_warns_when_capped_and_bracket_still_holds():
    rng = np.random.default_rng(9)
    A = rng.standard_normal((80, 80))
    with pytest.warns(RuntimeWarning, match="did not reach"):
        res = spectral_norm(A, method="power", tol=1e-10, max_iter=5)
    assert not res.converged and res.iterations == 5
    want = _ref(A)
    assert res.lower <= want <= res.upper


def test_torch_cpu_input_returns_tensors():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    W = torch.randn(2, 9, 6, generator=g, dtype=torch.float32)
    res = spectral_norm(W, return_vectors=True)
    assert isinstance(res.value, torch.Tensor) and res.value.shape == (2,)
    assert isinstance(res.v, torch.Tensor) and res.v.dtype == torch.float32
    ref = torch.linalg.matrix_norm(W.double(), ord=2)
    torch.testing.assert_close(res.value, ref, rtol=1e-8, atol=0)


def test_torch_reference_iterations_match_kernel():
    """The torch-ops path (used for CUDA tensors) agrees with the kernels, run here on the CPU."""
    torch = pytest.importorskip("torch")
    from infotheory.lipschitz._torch_iter import spectral_norm_torch

    W = torch.from_numpy(np.random.default_rng(10).standard_normal((3, 20, 15)))
    ref = torch.linalg.matrix_norm(W, ord=2)
    for method in ("power", "lanczos"):
        r = spectral_norm_torch(
            W, method=method, tol=1e-9, max_iter=None, return_vectors=True, init=None, seed=0
        )
        torch.testing.assert_close(r.value, ref, rtol=1e-8, atol=0)
        assert bool((r.lower <= ref * (1 + 1e-12)).all() and (r.upper >= ref * (1 - 1e-12)).all())


def test_torch_certificate_matches_the_kernels_and_catches_a_missed_top():
    """The device certificate (torch ops, used for CUDA tensors) run on CPU tensors: certified
    upper bounds on clustered batches, and the SVD fallback where the start vector is blind."""
    torch = pytest.importorskip("torch")
    from infotheory.lipschitz._torch_iter import certify_torch, spectral_norm_torch

    rng = np.random.default_rng(12)
    mats = []
    for gap in (0.0, 1e-9, 1e-5, 1e-3):
        U, _ = np.linalg.qr(rng.standard_normal((12, 12)))
        V, _ = np.linalg.qr(rng.standard_normal((9, 9)))
        s = np.geomspace(0.5, 1e-6, 9)
        s[:3] = 1.0 - gap * np.arange(3)
        mats.append((U[:, :9] * s) @ V.T)
    W = torch.from_numpy(np.stack(mats))
    ref = torch.linalg.matrix_norm(W, ord=2)
    tol = 1e-6
    for method in ("power", "lanczos"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = spectral_norm_torch(
                W, method=method, tol=tol, max_iter=2000, return_vectors=False, init=None, seed=0
            )
            # power iteration stalls inside the 1e-5 cluster (converged=False), the bounds hold
            kernel = spectral_norm(
                W.numpy(), method=method, tol=tol, max_iter=2000, certify="cholesky"
            )
        c = certify_torch(W, r, tol)
        assert bool(c.certified.all())
        assert bool((c.upper >= ref * (1 - 1e-15)).all() and (c.lower <= ref * (1 + 1e-12)).all())
        assert np.all(kernel.certified) and np.all(kernel.upper >= ref.numpy() * (1 - 1e-15))
    D = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    blind = spectral_norm_torch(
        D,
        method="lanczos",
        tol=tol,
        max_iter=None,
        return_vectors=False,
        init=[0.0, 1.0, 0.0],
        seed=0,
    )
    assert blind.upper == pytest.approx(2.0)
    fixed = certify_torch(D, blind, tol)
    assert fixed.certified and fixed.value == pytest.approx(3.0) and fixed.upper >= 3.0
    assert fixed.converged


def test_svd_method_is_the_reference():
    A = np.random.default_rng(11).standard_normal((5, 6, 4))
    res = spectral_norm(A, method="svd", return_vectors=True)
    np.testing.assert_allclose(res.value, _ref(A), rtol=1e-14)
    assert res.u.shape == (5, 6) and res.v.shape == (5, 4)


@pytest.mark.parametrize(
    ("W", "exc", "match"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "finite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), ValueError, "finite"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.ones(4), ValueError, "2 dimensions"),
        (np.ones((3, 3), dtype=np.int64), TypeError, "floating"),
        (np.ones((3, 3), dtype=complex), TypeError, "floating"),
    ],
)
def test_bad_input_raises(W, exc, match):
    with pytest.raises(exc, match=match):
        spectral_norm(W)


def test_nan_in_batch_names_the_matrix():
    A = np.ones((2, 3, 3, 3))
    A[1, 2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        spectral_norm(A)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "qr"}, "method"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2**31}, "max_iter"),  # the kernels count in int32
        ({"init": np.ones(7)}, "init"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spectral_norm(np.eye(3), **kwargs)


def test_bad_types_and_ragged_input_raise():
    with pytest.raises(TypeError, match="seed"):
        spectral_norm(np.eye(3), seed=1.5)
    with pytest.raises(ValueError, match="W must be a rectangular array"):
        spectral_norm([[1.0, 2.0], [3.0]])


def test_half_precision_tensors_run_in_float32():
    torch = pytest.importorskip("torch")
    W = torch.randn(20, 30, generator=torch.Generator().manual_seed(0))
    for dt in (torch.float16, torch.bfloat16):
        Wh = W.to(dt)
        res = spectral_norm(Wh, tol=1e-6)
        assert res.value == pytest.approx(_ref(Wh.float().numpy()), rel=2e-6)
    with pytest.raises(ValueError, match="meta"):
        spectral_norm(torch.empty((3, 3), device="meta"))


# the kernels square products of W^T W (residual norms ~ sigma^4; float32 products on the float32
# pass), so before the rescaled re-run a 40 x 40 matrix at 2^+-330 came back with half its norm
# (converged, uncertified) or 0.0; every power of two must give the scaled answer
@settings(max_examples=60, deadline=None)
@given(
    e=st.integers(-1000, 1021),  # up to norms beyond float64 (n = 300 from 2^1019)
    dtype=st.sampled_from([np.float64, np.float32]),
    n=st.sampled_from([7, 40, 300]),
    how=st.sampled_from(
        [
            {"method": "lanczos", "certify": "none"},
            {"method": "lanczos", "certify": "none", "stop": "kato-temple"},
            {"method": "lanczos", "certify": "none", "block_size": 2},
            {"method": "power", "certify": "none"},
            {},
        ]
    ),
)
def test_any_power_of_two_scale_gives_the_scaled_norm(e, dtype, n, how):
    G = np.random.default_rng(n).standard_normal((n, n + 3))
    if dtype == np.float32:
        e = -140 + (e + 1000) * 260 // 2021  # float32 holds 2^-149 .. 2^128
    W = np.ldexp(G, e).astype(dtype)
    # the norm of the matrix passed (rounded, subnormal entries included), scaled back exactly
    ref = np.linalg.svd(np.ldexp(W.astype(np.float64), -e), compute_uv=False)[0]
    if float(ref) * 2.0**e >= sys.float_info.max:  # Python floats: inf, no warning
        with pytest.raises(ValueError, match="exceeds the float64 range"):
            spectral_norm(W, tol=1e-6, **how)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # power: the 20000-step cap at n = 300
        res = spectral_norm(W, tol=1e-6, **how)
    if np.ldexp(ref, e) < np.finfo(np.float64).tiny:
        # a subnormal norm: the float64 answer itself holds only a few bits
        assert res.value == pytest.approx(np.ldexp(ref, e), rel=0.02)
        return
    lo, hi, val = (np.ldexp(x, -e) for x in (res.lower, res.upper, res.value))
    assert lo <= ref * (1 + 1e-12) and val == pytest.approx(ref, rel=2e-6)
    if res.converged:
        assert hi >= ref * (1 - 2e-6)


def _as_if_cuda(monkeypatch):
    """Send CPU tensors down spectral_norm's CUDA branch (the kernels themselves need a GPU: the
    branch then runs the torch iteration and the torch certificate, as a CUDA build without the
    kernels would), so that its magnitude handling runs here."""
    import infotheory.lipschitz._dense as dense

    real = dense._check_matrix

    def fake(W):
        arg = real(W)
        assert arg.backend == "torch"
        return type(arg)(
            arg.name, W if W.dtype in (torch.float32, torch.float64) else W.float(), "cuda"
        )

    monkeypatch.setattr(dense, "_check_matrix", fake)
    # a CUDA build (CI's, whose wheel builds the kernels where nvcc exists) would send these CPU
    # tensors to its kernels: the torch part of the branch only
    from infotheory.lipschitz import _cuda, _cuda_lanczos

    monkeypatch.setattr(_cuda_lanczos, "available", lambda: False)
    monkeypatch.setattr(_cuda, "available", lambda: False)


# the CUDA branch had no magnitude handling: the torch iteration returned 0.59x the norm of a
# matrix at 1e-100 ("converged"), 0.0 at 1e-300 and NaN at 1e+100
@settings(max_examples=40, deadline=None)
@given(
    e=st.integers(-1000, 1000),
    dtype=st.sampled_from(["float64", "float32"]),
    how=st.sampled_from(
        [
            {"method": "lanczos", "certify": "none"},
            {"method": "power", "certify": "none"},
            {"method": "svd"},
            {},
        ]
    ),
)
def test_cuda_branch_any_power_of_two_scale_gives_the_scaled_norm(e, dtype, how):
    G = np.random.default_rng(5).standard_normal((2, 12, 15))
    if dtype == "float32":
        e = -140 + (e + 1000) * 260 // 2000
    W = torch.from_numpy(np.ldexp(G, e).astype(dtype))
    W[0] = torch.from_numpy(G[0].astype(dtype))  # one matrix in range in the same batch
    ref = np.linalg.svd(np.ldexp(W.double().numpy(), [[[0]], [[-e]]]), compute_uv=False)[:, 0]
    with pytest.MonkeyPatch.context() as mp:  # (norms beyond float64: the test below)
        _as_if_cuda(mp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = spectral_norm(W, tol=1e-6, **how)
    val = res.value.double().numpy()
    if np.ldexp(ref[1], e) < np.finfo(W.numpy().dtype).tiny:
        assert val[1] == pytest.approx(np.ldexp(ref[1], e), rel=0.02)  # a subnormal norm
        return
    got = np.ldexp(val, [0, -e])
    assert got == pytest.approx(ref, rel=2e-6)
    hi = np.ldexp(res.upper.double().numpy(), [0, -e])
    assert np.all(hi >= ref * (1 - 2e-6))


@pytest.mark.parametrize("return_vectors", [False, True])
def test_svd_of_float32_matrix_whose_norm_exceeds_float32(return_vectors):
    # LAPACK scales inside, but numpy cast the singular values back to float32: inf
    G = np.random.default_rng(0).standard_normal((40, 43))
    W = (G * 3e37).astype(np.float32)
    ref = np.linalg.svd(W.astype(np.float64), compute_uv=False)[0]
    assert ref > np.finfo(np.float32).max
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = spectral_norm(W, method="svd", return_vectors=return_vectors)
    assert res.value == pytest.approx(ref, rel=1e-6) and res.upper == res.value


@pytest.mark.parametrize("e", [21, 40, 90])
def test_torch_lanczos_batch_members_of_different_scales_are_independent(e):
    # its breakdown test used one scale for the whole batch: the matrix 2^e times smaller than its
    # neighbour lost its Krylov basis and came back at 0.69x (2^21) or 0.39x (2^40) its norm
    from infotheory.lipschitz._torch_iter import spectral_norm_torch

    G = np.random.default_rng(5).standard_normal((2, 12, 15))
    W = torch.from_numpy(G.copy())
    W[1] *= 2.0**e
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = spectral_norm_torch(
            W, method="lanczos", tol=1e-8, max_iter=2000, return_vectors=False, init=None, seed=0
        )
    ref = np.linalg.svd(G, compute_uv=False)[:, 0] * [1.0, 2.0**e]
    assert res.value.numpy() == pytest.approx(ref, rel=1e-8)
    assert bool(res.converged.all())


@pytest.mark.parametrize("how", [{"method": "lanczos", "certify": "none"}, {"method": "svd"}, {}])
def test_cuda_branch_norm_beyond_float64_is_refused(how, monkeypatch):
    _as_if_cuda(monkeypatch)
    G = np.random.default_rng(5).standard_normal((2, 12, 15))
    ok = torch.from_numpy(np.ldexp(G, 1018))  # norm about 2^1021: in range once scaled back
    res = spectral_norm(ok, tol=1e-6, **how)
    ref = np.linalg.svd(G, compute_uv=False)[:, 0]
    assert np.ldexp(res.value.numpy(), -1018) == pytest.approx(ref, rel=2e-6)
    big = torch.from_numpy(np.ldexp(G, 1022))  # finite entries, norm beyond float64
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        spectral_norm(big, tol=1e-6, **how)


def test_cuda_branch_scaling_leaves_in_range_matrices_alone():
    from infotheory.lipschitz._dense import _scale_entries

    W = torch.randn(3, 5, 4, dtype=torch.float64)
    W[1] *= 2.0**95  # its largest entry stays below 2^100
    same, e = _scale_entries(W)
    assert same is W and e is None  # no copy, no change
    W[2] *= 2.0**-250
    scaled, e = _scale_entries(W)
    assert e.tolist()[0] == 0 and e.tolist()[1] == 0 and e.tolist()[2] < -200
    assert torch.equal(scaled[:2], W[:2])
    assert torch.equal(scaled[2], torch.ldexp(W[2], -e[2]))  # exact
    assert 0.5 <= float(scaled[2].abs().max()) < 1.0


@pytest.mark.parametrize("how", [{"method": "lanczos", "certify": "none"}, {"method": "power"}, {}])
def test_norm_beyond_float64_is_refused(how):
    G = np.random.default_rng(5).standard_normal((12, 15))
    ref = np.linalg.svd(G, compute_uv=False)[0]
    res = spectral_norm(np.ldexp(G, 1018), tol=1e-6, **how)  # about 2^1021: scaled back fine
    assert np.ldexp(res.value, -1018) == pytest.approx(ref, rel=2e-6)
    with pytest.raises(ValueError, match="exceeds the float64 range"):  # finite entries
        spectral_norm(np.ldexp(G, 1022), tol=1e-6, **how)


def test_import_does_not_import_torch(tmp_path):
    code = (
        "import sys, numpy as np; import infotheory.lipschitz as L; "
        "L.spectral_norm(np.eye(3)); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=120)


def test_no_warning_on_success():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spectral_norm(np.random.default_rng(12).standard_normal((20, 20)))


@pytest.mark.cuda
@pytest.mark.parametrize("method", ["power", "lanczos", "auto"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_matches_torch_matrix_norm(method, dtype):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    W = torch.randn(5, 70, 40, generator=g, dtype=getattr(torch, dtype)).cuda()
    tol = 1e-6 if dtype == "float64" else 1e-4
    res = spectral_norm(W, method=method, tol=tol, return_vectors=True)
    ref = torch.linalg.matrix_norm(W.double(), ord=2)
    assert res.value.device.type == "cuda" and res.v.device.type == "cuda"
    torch.testing.assert_close(res.value.double(), ref, rtol=2 * tol, atol=0)
    assert bool((res.lower.double() <= ref * (1 + 1e-6)).all())


def test_cuda_power_wrapper_against_a_torch_model_of_the_kernel(monkeypatch):
    """Runs the CUDA wrapper's Python logic on the CPU with a torch model of the kernel's contract
    (csrc/cuda/spectral_launch.hpp), so the bracket and scale bookkeeping are tested without a GPU."""
    torch = pytest.importorskip("torch")
    from infotheory import _arrays
    from infotheory.lipschitz import _cuda

    def model(W, v, Av, sigma, resid, scale, iters, stream):
        for _ in range(iters):
            u = v.double() * scale.unsqueeze(-1)
            Av.copy_((W.double() @ u.unsqueeze(-1)).squeeze(-1))
            w = (W.double().mT @ Av.double().unsqueeze(-1)).squeeze(-1)
            theta = (Av.double() ** 2).sum(-1)
            ww = (w * w).sum(-1)
            sigma.copy_(theta.sqrt())
            resid.copy_((ww - theta * theta).clamp_min(0).sqrt())
            scale.copy_(1.0 / ww.sqrt())
            v.copy_(w)

    monkeypatch.setattr(_cuda._core, "spectral_power_cuda", model, raising=False)
    monkeypatch.setattr(_arrays, "cuda_stream", lambda t: 0)
    monkeypatch.setattr(_arrays, "dlpack", lambda t, s: t)
    W = torch.from_numpy(np.random.default_rng(13).standard_normal((4, 30, 20)))
    res = _cuda.spectral_norm_cuda_power(
        W, tol=1e-6, max_iter=None, return_vectors=True, init=None, seed=0
    )
    ref = torch.linalg.matrix_norm(W, ord=2)
    torch.testing.assert_close(res.value, ref, rtol=2e-6, atol=0)
    assert bool((res.lower <= ref * (1 + 1e-12)).all() and (res.upper >= ref * (1 - 1e-12)).all())
    assert bool(res.converged.all()) and res.iterations.min() >= 8
    torch.testing.assert_close(res.v.norm(dim=-1), torch.ones(4, dtype=W.dtype))
    one = _cuda.spectral_norm_cuda_power(
        W[0], tol=1e-6, max_iter=None, return_vectors=False, init=res.v[0], seed=0
    )
    assert one.value == pytest.approx(float(ref[0]), rel=2e-6) and one.iterations == 8


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(1, 30),
    n=st.integers(1, 30),
    b=st.integers(1, 4),
    seed=st.integers(0, 2**31),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_cholesky_certificate_kernel_decides_mu_against_eigvalsh(m, n, b, seed, dtype):
    from infotheory import _core

    X = np.random.default_rng(seed).standard_normal((b, m, n)).astype(dtype)
    X64 = X.astype(np.float64)
    lam = np.linalg.eigvalsh(np.swapaxes(X64, -1, -2) @ X64)[:, -1]
    fro2 = np.empty(b)
    for factor, want in ((1.0 + 1e-6, 1), (1.0 - 1e-6, 0)):
        ok = np.full(b, -1, np.int32)
        _core.spectral_certify(X, np.ascontiguousarray(lam * factor), ok, fro2)
        np.testing.assert_array_equal(ok, want)
    np.testing.assert_allclose(fro2, (X64**2).sum(axis=(1, 2)), rtol=1e-12)


def _clustered_batch(b, m, n, seed, dtype):
    # top singular values clustered (exactly repeated, 1e-9, 1e-7, 1e-5 apart) over a tail
    rng = np.random.default_rng(seed)
    k = min(m, n)
    out = np.empty((b, m, n), dtype)
    for p in range(b):
        U, _ = np.linalg.qr(rng.standard_normal((m, m)))
        V, _ = np.linalg.qr(rng.standard_normal((n, n)))
        s = np.geomspace(0.5, 0.5 / 10 ** (p % 7), k)
        top = min(1 + p % 4, k)
        s[:top] = 1.0 - [0.0, 1e-9, 1e-7, 1e-5][p % 4] * np.arange(top)
        out[p] = (U[:, :k] * s) @ V[:, :k].T
    return out


@pytest.mark.parametrize("m,n", [(64, 64), (40, 24), (24, 40), (9, 1), (1, 9)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_gram_kernel_equals_the_two_kernel_path_and_bounds_hold(monkeypatch, m, n, dtype, seed):
    """The certified small-matrix kernel (Lanczos on the float64 Gram matrix, Cholesky of the
    same one) against the previous path (Lanczos on W, then the separate certificate kernel):
    same values within tol, both certified, upper >= numpy's sigma_max on clustered spectra."""
    from infotheory import _core
    from infotheory.lipschitz import _dense

    A = _clustered_batch(12, m, n, seed, dtype)
    want = _ref(A)
    tol = 1e-6
    new = spectral_norm(A, tol=tol, return_vectors=True)
    monkeypatch.setattr(_dense, "_GRAM_MAX", 0)
    old = spectral_norm(A, tol=tol, return_vectors=True)
    monkeypatch.undo()
    for res in (new, old):
        assert res.certified.all() and res.converged.all()
        assert np.all(res.upper >= want * (1 - 1e-15))
        assert np.all(res.lower <= want * (1 + 1e-12))
        assert np.all(res.upper - res.lower <= tol * res.lower)
    assert np.abs(new.value - old.value) == pytest.approx(0.0, abs=2 * tol * want.max())
    # the vectors satisfy W v = sigma u (u from W v, as before)
    Wv = np.einsum("bij,bj->bi", A.astype(np.float64), new.v.astype(np.float64))
    assert np.abs(Wv - new.value[:, None] * new.u).max() <= 1e-5 * want.max()

    # and the default certified call goes through the Gram kernel alone
    def fail(*args, **kwargs):
        raise AssertionError("the two-kernel path ran")

    monkeypatch.setattr(_core, "spectral_top", fail)
    monkeypatch.setattr(_core, "spectral_certify", fail)
    again = spectral_norm(A, tol=tol)
    assert np.array_equal(again.value, new.value)


def test_gram_kernel_falls_back_to_svd_when_blind():
    # wide matrix, start vector mapped to W init: blind to the top direction, the certificate
    # fails and the SVD decides
    W = np.zeros((3, 5))
    W[0, 0], W[1, 1], W[2, 2] = 3.0, 2.0, 1.0
    res = spectral_norm(W, init=[0.0, 1.0, 0.0, 0.0, 0.0])
    assert res.certified and res.value == pytest.approx(3.0, rel=1e-14)
    assert res.lower <= 3.0 <= res.upper and res.converged
    blind = spectral_norm(W, init=[0.0, 1.0, 0.0, 0.0, 0.0], certify="none")
    assert blind.upper == pytest.approx(2.0)


# ---- mutation audit: behaviour no test above pinned down (each names the mutant it kills) ----

_UNIT = 2.0**-53


def _gamma(j: int) -> float:
    return j * _UNIT / (1.0 - j * _UNIT)


@pytest.mark.parametrize(
    ("m", "n", "backend"),
    [
        (2000, 4, "cpu"),
        (4, 2000, "cpu"),
        (200, 200, "cpu"),
        (300, 257, "cpu"),  # beyond the Gram kernel: the separate certificate
        (2000, 4, "torch"),  # certify_torch, the CUDA branch's certificate
        (4, 2000, "torch"),
    ],
)
def test_certified_upper_carries_the_rounding_margin(m, n, backend, monkeypatch):
    # The certificate is sound for every matrix only with the worst case of two roundings added:
    # of G = W^T W (gamma_max(m,n) ||W||_F^2, Higham 2002 Lemma 3.5/eq. 3.13) and of the Cholesky
    # factorisation of mu I - G (Demmel 1989: gamma_(k+1) tr(mu I - G)). The matrices are exact
    # (orthonormal columns, sigma = 1), so the margin is what separates upper^2 from lower^2.
    # Killed: the margin dropped (upper^2 - lower^2 was 0.5 tol = 5e-15) or the Gram product's
    # gamma_max(m,n) left out (g = 2 (k + 2) u: 3e-14 against 8.9e-13 needed at 2000 x 4).
    if backend == "torch":
        _as_if_cuda(monkeypatch)
        W = torch.eye(m, n, dtype=torch.float64)
    else:
        W = np.eye(m, n)
    k = min(m, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tol is below the margin: unconverged
        res = spectral_norm(W, tol=1e-14, certify="cholesky")
    assert bool(res.certified)
    assert abs(res.lower - 1.0) <= 4 * _UNIT
    gap = res.upper**2 - res.lower**2
    floor = _gamma(max(m, n)) * k + _gamma(k + 1) * (k * res.lower**2 - k)
    assert gap >= floor
    assert gap <= 64 * floor  # and not so loose that tol=1e-10 becomes unreachable


@pytest.mark.parametrize(("m", "n"), [(200, 200), (300, 257)])
def test_converged_means_the_certified_bracket_meets_tol(m, n):
    # Bug (fixed): the certified paths kept the iteration's status, so a tol below the
    # certificate's rounding margin reported converged=True with upper - lower = 5e-11 (5000 tol)
    # and no warning. The CUDA branch (certify_torch) already judged the certified bracket.
    W = np.eye(m, n)
    with pytest.warns(RuntimeWarning, match="did not reach tol=1e-14"):
        res = spectral_norm(W, tol=1e-14, certify="cholesky")
    assert res.certified and not res.converged
    assert res.lower <= 1.0 <= res.upper and res.upper - res.lower > 1e-14
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = spectral_norm(W, tol=1e-8, certify="cholesky")
    assert ok.converged and ok.upper - ok.lower <= 1e-8 * ok.lower
    batch = np.stack([W, 2.0 * W])
    with pytest.warns(RuntimeWarning, match="2 of 2 matrices"):
        res = spectral_norm(batch, tol=1e-14, certify="cholesky")
    assert not res.converged.any()


@pytest.mark.parametrize(
    ("m", "n", "certified"),
    [(300, 10, True), (10, 300, True), (256, 400, True), (400, 256, True), (300, 257, False)],
)
def test_certify_auto_goes_by_the_smaller_dimension(m, n, certified):
    # Killed: max(m, n) instead of min(m, n) (no certificate for tall or wide matrices), and a
    # limit of 255 instead of the documented "at most 256".
    W = np.random.default_rng(3).standard_normal((m, n))
    res = spectral_norm(W, tol=1e-6)
    assert bool(res.certified) is certified
    ref = _ref(W)
    assert res.lower <= ref * (1 + 1e-12) and res.upper >= ref * (1 - 1e-12)


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "auto"])
def test_tol_zero_is_refused_by_every_method(method):
    # Killed: 0.0 <= tol accepted (only the kernels' own check refused it; method="svd" never
    # reaches a kernel and took tol=0)
    with pytest.raises(ValueError, match="tol"):
        spectral_norm(np.eye(3), method=method, tol=0.0)


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_non_finite_init_is_refused(method):
    # Killed: the check removed (the kernels silently replaced the NaN start by a random one)
    with pytest.raises(ValueError, match="init must be finite"):
        spectral_norm(np.eye(3), method=method, init=[np.nan, 1.0, 0.0])
    with pytest.raises(ValueError, match="init must be finite"):
        spectral_norm(np.eye(3), method=method, init=[np.inf, 1.0, 0.0], certify="none")


def test_power_default_cap_is_20000():
    # ratio 0.998 between the top two: power iteration needs about 3000 steps to tol=1e-8, past
    # Lanczos's default cap of 2000 (killed: the two defaults swapped)
    res = spectral_norm(np.diag([1.0, 0.998]), method="power", tol=1e-8, certify="none")
    assert res.converged and 2000 < res.iterations < 20000
    assert res.lower <= 1.0 <= res.upper <= 1.0 + 1e-8


@pytest.mark.parametrize("e", [-300, -120, 120, 300])
def test_cuda_branch_single_matrix_any_power_of_two_scale(e, monkeypatch):
    # a single matrix comes back as Python floats, scaled back by math.ldexp (the batch test above
    # covers the tensor path only; killed: the exponent's sign flipped there)
    _as_if_cuda(monkeypatch)
    G = np.random.default_rng(5).standard_normal((12, 15))
    ref = np.linalg.svd(G, compute_uv=False)[0]
    for how in ({"method": "lanczos", "certify": "none"}, {}):
        res = spectral_norm(torch.from_numpy(np.ldexp(G, e)), tol=1e-8, **how)
        assert isinstance(res.value, float)
        lo, val, hi = (math.ldexp(x, -e) for x in (res.lower, res.value, res.upper))
        assert val == pytest.approx(ref, rel=1e-8)
        assert lo <= ref * (1 + 1e-12) and hi >= ref * (1 - 1e-12)


def test_torch_certificate_svd_fallback_brackets_lapack_error():
    # where the torch certificate falls back to a full SVD, the bracket must cover LAPACK's
    # error (a few max(m, n) 2^-53 sigma): killed, lower = upper = the SVD value
    from infotheory.lipschitz._torch_iter import certify_torch, spectral_norm_torch

    D = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    blind = spectral_norm_torch(
        D, method="lanczos", tol=1e-6, max_iter=None, return_vectors=False,
        init=[0.0, 1.0, 0.0], seed=0,
    )  # fmt: skip
    fixed = certify_torch(D, blind, 1e-6)
    assert fixed.value == 3.0
    assert fixed.lower <= 3.0 * (1 - 3 * _UNIT) and fixed.upper >= 3.0 * (1 + 3 * _UNIT)
    assert fixed.upper - fixed.lower <= 1e-6 * fixed.lower
