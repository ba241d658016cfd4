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


# ---- mutation audit: the portable (non-AVX2) certificate and complex pass ----
# On an AVX2 machine the extension never runs small_gram_generic, cholesky_shifted_generic or
# gram_apply_complex_generic: they serve CPUs without AVX2/FMA and every non-x86 build (ARM). A
# mutant in them survived every test, so a small program runs them here against numpy.

_GENERIC_SRC = r"""
int main() {
  for (;;) {
    double head;
    if (std::scanf("%la", &head) != 1) return 0;
    const long m = static_cast<long>(head), n = static_cast<long>(rd());
    const long nmu = static_cast<long>(rd());
    std::vector<double> A(m * n), mus(nmu);
    for (auto& a : A) a = rd();
    for (auto& u : mus) u = rd();
    const long k = m < n ? m : n;
    std::vector<double> G(k * k), buf;
    double fro2 = 0.0;
    small_gram_generic(A.data(), m, n, G.data(), &fro2, buf);
    std::printf("%a\n", fro2);
    for (long i = 0; i < k; ++i)
      for (long j = 0; j <= i; ++j) std::printf("%a\n", G[i * k + j]);
    for (double mu : mus) {
      std::vector<double> H(G);
      std::printf("%d\n", cholesky_shifted_generic(H.data(), k, mu) ? 1 : 0);
    }
    std::vector<double> v(n), w(n), v12(2 * n);
    for (long j = 0; j < n; ++j) v[j] = 1.0 / (j + 1.0);
    gram_apply_complex_generic(A.data(), m, n / 2, v.data(), w.data(), v12.data());
    for (long j = 0; j < n; ++j) std::printf("%a\n", w[j]);
  }
}
"""


@pytest.fixture(scope="module")
def generic_program(tmp_path_factory):
    from _cxx import compile_program, run_program

    exe = compile_program(tmp_path_factory, "generic", _GENERIC_SRC, "spectral.hpp")

    def run(cases):
        text = []
        for A, mus in cases:
            m, n = A.shape
            vals = [float(m), float(n), float(len(mus)), *A.ravel().tolist(), *mus]
            text.append(" ".join(float(x).hex() for x in vals))
        out = run_program(exe, text)
        res, pos = [], 0
        for A, mus in cases:
            m, n = A.shape
            k = min(m, n)
            fro2 = float.fromhex(out[pos])
            pos += 1
            G = np.zeros((k, k))
            for i in range(k):
                for j in range(i + 1):
                    G[i, j] = G[j, i] = float.fromhex(out[pos])
                    pos += 1
            ok = [int(out[pos + i]) for i in range(len(mus))]
            pos += len(mus)
            w = np.array([float.fromhex(x) for x in out[pos : pos + n]])
            pos += n
            res.append((fro2, G, ok, w))
        return res

    return run


def test_portable_gram_cholesky_and_complex_pass_against_numpy(generic_program):
    # Killed in the portable code: a Gram matrix or trace that misses a row or column, a
    # Cholesky that accepts a zero pivot or skips an update, a sign of the complex pass.
    rng = np.random.default_rng(11)
    shapes = [(9, 6), (4, 8), (8, 8), (7, 10), (1, 6), (12, 2)]  # even n: n / 2 complex columns
    cases = []
    for m, n in shapes:
        A = rng.standard_normal((m, n))
        G = A.T @ A if n <= m else A @ A.T
        lam = float(np.linalg.eigvalsh(G)[-1])
        cases.append((A, [lam * (1 + 1e-6), lam * (1 - 1e-6), 2 * lam, 0.5 * lam]))
    # exactly representable: G = diag(0.25, 1), so mu I - G is singular at mu = 1 with the zero
    # pivot last (a zero pivot is not positive: killed, d >= 0 accepted)
    E = np.array([[0.5, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    cases.append((E, [1.0, float(np.nextafter(1.0, 2.0))]))
    for (A, mus), (fro2, G, ok, w) in zip(cases, generic_program(cases), strict=True):
        m, n = A.shape
        Gref = A.T @ A if n <= m else A @ A.T
        np.testing.assert_allclose(G, Gref, rtol=1e-13, atol=1e-13 * np.abs(Gref).max())
        assert fro2 == pytest.approx(float((A * A).sum()), rel=1e-13)
        lam = float(np.linalg.eigvalsh(Gref)[-1])
        assert ok == [int(mu > lam) for mu in mus]
        # the complex pass: rows of A as m complex numbers (re, im interleaved), B = C^H C
        C = A[:, 0::2] + 1j * A[:, 1::2]
        v = 1.0 / np.arange(1.0, n + 1)
        y = C.conj().T @ (C @ (v[0::2] + 1j * v[1::2]))
        want = np.empty(n)
        want[0::2], want[1::2] = y.real, y.imag
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
