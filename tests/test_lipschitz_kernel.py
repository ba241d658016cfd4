"""The fused pass w = W^T (W v) of the spectral family: the pipelined AVX2 kernels and the
float32-arithmetic kernel against the scalar loop and numpy in float64, on sizes that are not
multiples of the block (4 rows) or of the vector width (4 or 8 columns)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infotheory import _core

SIZES = [(1, 1), (3, 2), (4, 4), (5, 3), (7, 13), (8, 9), (9, 8), (13, 31), (33, 65), (64, 63)]
SIZES += [(130, 257), (257, 130), (600, 1030)]
# row strides that are multiples of 4 KB (the pipelined passes shift their axpys by 2 KB)
SIZES += [(23, 1024), (10, 2048), (9, 4096)]


def _reference(A: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    A64 = A.astype(np.float64)
    Av = A64 @ v
    return A64.T @ Av, Av


def _apply(A: np.ndarray, v: np.ndarray, kernel: int, with_av: bool = True):
    m, n = A.shape
    w = np.full(n, np.nan)
    Av = np.full(m, np.nan) if with_av else None
    _core.spectral_gram_apply(A, v, w, Av, kernel)
    return w, Av


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("m", "n"), SIZES)
def test_fused_pass_matches_float64_reference(m, n, dtype):
    rng = np.random.default_rng(m * 1000 + n)
    A = rng.standard_normal((m, n)).astype(dtype)
    v = rng.standard_normal(n)
    want_w, want_av = _reference(A, v)
    # rounding of a length-n dot and a length-m sum of products: scale by |A|^T |A| |v|
    absA = np.abs(A.astype(np.float64))
    scale_w = absA.T @ (absA @ np.abs(v))
    scale_av = absA @ np.abs(v)
    for kernel in (0, 1):
        w, Av = _apply(A, v, kernel)
        assert np.all(np.abs(w - want_w) <= 4 * (m + n) * 2.0**-53 * scale_w + 1e-300)
        assert np.all(np.abs(Av - want_av) <= 4 * n * 2.0**-53 * scale_av + 1e-300)
    w0, _ = _apply(A, v, 0)
    w1, _ = _apply(A, v, 1, with_av=False)
    np.testing.assert_allclose(w1, w0, rtol=0, atol=1e-12 * float(scale_w.max()))
    if dtype == np.float32:
        # float32 products, sums in float32 over chunks of 512 columns and 64 rows: relative
        # error about 1e-7 of the scale per application
        w2, _ = _apply(A, v, 2, with_av=False)
        assert np.all(np.abs(w2 - want_w) <= 2e-6 * scale_w)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(5, 24),
    n=st.integers(480, 1100) | st.sampled_from([512, 520, 1016, 1024, 1032, 2048]),
    seed=st.integers(0, 2**32 - 1),
)
def test_pipelined_passes_cover_every_column_once(m, n, seed):
    """The pipelined passes run their axpys a column shift ahead of their dots (wrapping at the
    last multiple of 4 or 8 columns): every column of w must get each row block exactly once,
    so all three kernels agree with the float64 reference on every column, for row lengths
    around the shift's thresholds (rows of 2 KB, and 1024 floats where it reaches 512)."""
    rng = np.random.default_rng(seed)
    for dtype in (np.float32, np.float64):
        A = rng.standard_normal((m, n)).astype(dtype)
        v = rng.standard_normal(n)
        want, _ = _reference(A, v)
        absA = np.abs(A.astype(np.float64))
        scale = absA.T @ (absA @ np.abs(v))
        w1, _ = _apply(A, v, 1, with_av=False)
        assert np.all(np.abs(w1 - want) <= 4 * (m + n) * 2.0**-53 * scale)
        if dtype == np.float32:
            w2, _ = _apply(A, v, 2, with_av=False)
            assert np.all(np.abs(w2 - want) <= 2e-6 * scale)


def _at_offset(M: np.ndarray, offset: int) -> np.ndarray:
    """A C-contiguous copy of M whose data starts `offset` elements past a 64-byte boundary."""
    buf = np.empty(M.size + 64 // M.itemsize + offset, M.dtype)
    start = (-buf.ctypes.data % 64) // M.itemsize + offset
    out = buf[start : start + M.size].reshape(M.shape)
    out[...] = M
    assert out.ctypes.data % 64 == offset * M.itemsize
    return out


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 13),
    n=st.integers(1, 40) | st.sampled_from([64, 100, 512, 1000, 1024, 1031]),
    offset=st.integers(0, 15),
    seed=st.integers(0, 2**32 - 1),
)
def test_float32_pass_at_every_alignment(m, n, offset, seed):
    """The float32 pass peels the columns before row 0's first 32-byte boundary (when n % 8 == 0
    every row then starts aligned) and runs them, with the columns after the last whole vector,
    in double: every column must still get every row, wherever the buffer starts."""
    rng = np.random.default_rng(seed)
    A = _at_offset(rng.standard_normal((m, n)).astype(np.float32), offset)
    v = rng.standard_normal(n)
    want, _ = _reference(A, v)
    absA = np.abs(A.astype(np.float64))
    scale = absA.T @ (absA @ np.abs(v))
    w2, _ = _apply(A, v, 2, with_av=False)
    assert np.all(np.abs(w2 - want) <= 2e-6 * scale)


def test_fused_pass_rejects_bad_arguments():
    A = np.ones((3, 4))
    v = np.ones(4)
    with pytest.raises(ValueError, match="kernel"):
        _core.spectral_gram_apply(A, v, np.empty(4), None, 3)
    with pytest.raises(ValueError, match="v"):
        _core.spectral_gram_apply(A, np.ones(3), np.empty(4), None, 1)
    with pytest.raises(ValueError, match="Av"):
        _core.spectral_gram_apply(A, v, np.empty(4), np.empty(2), 1)
    with pytest.raises(ValueError, match="Av"):
        _core.spectral_gram_apply(A.astype(np.float32), v, np.empty(4), np.empty(3), 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("m", "n"), [(8, 8), (9, 12), (12, 9), (33, 100), (100, 33), (64, 64), (70, 67), (67, 70)]
)
def test_blocked_cholesky_certificate_decides_mu(m, n, dtype):
    """The Gram matrix (4 x 8 blocks, mirrored by 4 x 4 transposes; X X^T for wide X) and the
    rank-4 blocked Cholesky of mu I - G: mu just above the top eigenvalue factors, just below
    does not, on sizes beyond the 4-row blocks and the 8-column padding."""
    rng = np.random.default_rng(m * 100 + n)
    X = rng.standard_normal((3, m, n)).astype(dtype)
    X64 = X.astype(np.float64)
    G = X64 @ np.swapaxes(X64, -1, -2) if m < n else np.swapaxes(X64, -1, -2) @ X64
    lam = np.linalg.eigvalsh(G)[:, -1]
    fro2 = np.empty(3)
    for factor, want in ((1.0 + 1e-9, 1), (1.0 - 1e-9, 0)):
        ok = np.full(3, -1, np.int32)
        _core.spectral_certify(X, np.ascontiguousarray(lam * factor), ok, fro2)
        np.testing.assert_array_equal(ok, want)
    np.testing.assert_allclose(fro2, (X64**2).sum(axis=(1, 2)), rtol=1e-12)
