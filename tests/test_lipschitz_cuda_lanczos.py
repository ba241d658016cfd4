"""The batched Lanczos kernel for small matrices (family spectral_lanczos).

Without a GPU the kernel's algorithm (csrc/core/spectral_lanczos.hpp) still runs: the CPU binding
``spectral_lanczos_emulate`` drives the same code with std::threads standing in for the thread
block, and the CUDA glue (``_cuda_lanczos``) is exercised end to end with that emulation in place
of the launch. The ``cuda``-marked tests run the real kernel where a GPU is present.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from infotheory import _arrays, _core
from infotheory.lipschitz import _cuda, _cuda_lanczos, _dense, spectral_norm

U53 = 2.0**-53


def emulate(A, *, tol=1e-8, team=1, group=1, certify=True, init=None, vectors=False,
            max_iter=2000, max_basis=128, seed=0, gap_cap=None):  # fmt: skip
    """The kernel's code on the CPU: `team` threads for the block, in groups of `group` (warps)."""
    b, m, n = A.shape
    v = np.zeros((b, n)) if init is None else np.array(init, dtype=np.float64)
    u = np.zeros((b, m)) if vectors else None
    out = {k: np.empty(b) for k in ("sigma", "lower", "upper", "mu", "fro2")}
    out.update({k: np.empty(b, np.int32) for k in ("iterations", "status", "ok")})
    if gap_cap is None:
        gap_cap = np.inf if certify else 0.0
    _core.spectral_lanczos_emulate(
        A, v, u, out["sigma"], out["lower"], out["upper"], out["iterations"], out["status"],
        out["mu"], out["ok"], out["fro2"], tol, max_iter, max_basis, gap_cap, seed, certify, team,
        group,
    )  # fmt: skip
    out["v"], out["u"] = v, u
    return out


def top(A):
    return np.linalg.svd(np.asarray(A, np.float64), compute_uv=False)[..., 0]


def certified_upper(out, m, n):
    return _dense._margin_upper(out["mu"], out["fro2"], m, n)


def hard(rng, b, m, n, gap=1e-7):
    """Top two singular values 1 and 1 - gap, the rest spread below 0.9."""
    k = min(m, n)
    out = np.empty((b, m, n))
    for i in range(b):
        U, _ = np.linalg.qr(rng.standard_normal((m, k)))
        V, _ = np.linalg.qr(rng.standard_normal((n, k)))
        s = np.sort(rng.uniform(0.1, 0.9, k))[::-1]
        s[0] = 1.0
        if k > 1:
            s[1] = 1.0 - gap
        out[i] = (U * s) @ V.T
    return out


# ---------------------------------------------------------------------------------------------
# The emulated kernel algorithm (CPU).


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 40),
    b=st.integers(1, 3),
    seed=st.integers(0, 2**31),
    dtype=st.sampled_from([np.float64, np.float32]),
    team=st.sampled_from([(1, 1), (3, 1), (4, 2)]),
)
# found by hypothesis: the start vector's top component is tiny, so after n = 5 steps the Ritz value
# is still 1.8e-8 low and the residual bound 1e-8 below sigma_max; the certificate fails (ok = 0)
@example(m=34, n=5, b=1, seed=2**31, dtype=np.float64, team=(1, 1))
def test_emulated_kernel_brackets_svd(m, n, b, seed, dtype, team):
    """A passed certificate (ok = 1) brackets the SVD value; a failed one is an allowed outcome,
    after which the caller decides by SVD, so spectral_norm must still be right there."""
    A = np.random.default_rng(seed).standard_normal((b, m, n)).astype(dtype)
    ref = top(A)
    tol = 1e-8
    out = emulate(A, tol=tol, team=team[0], group=team[1], vectors=True)
    assert (out["status"] == 0).all()
    np.testing.assert_allclose(out["fro2"], (A.astype(np.float64) ** 2).sum((1, 2)), rtol=1e-13)
    good = out["ok"] == 1
    if not good.all():
        res = spectral_norm(A[~good], method="lanczos", tol=tol)
        np.testing.assert_allclose(res.value, ref[~good], rtol=2 * tol)
        assert res.certified.all() and (res.lower <= ref[~good] * (1 + 1e-13)).all()
        assert (res.upper >= ref[~good] * (1 - 1e-15)).all()
    out = {k: v[good] for k, v in out.items()}
    ref = ref[good]
    assert np.all(out["lower"] <= ref * (1 + 1e-13))
    assert np.all(certified_upper(out, m, n) >= ref * (1 - 1e-15))
    np.testing.assert_allclose(out["sigma"], ref, rtol=2 * tol)
    # unit vectors with W v = sigma u
    np.testing.assert_allclose(np.linalg.norm(out["v"], axis=1), 1.0, rtol=1e-12)
    Av = np.einsum("bmn,bn->bm", A[good].astype(np.float64), out["v"])
    np.testing.assert_allclose(Av, out["sigma"][:, None] * out["u"], atol=1e-6 * ref.max(initial=0))


@pytest.mark.parametrize("shape", [(3, 30, 30), (3, 50, 20), (3, 20, 50), (2, 128, 128)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_emulated_kernel_is_the_cpu_gram_algorithm(shape, dtype):
    """Same iterations, value, mu and ok as the CPU one-call Gram path (spectral_top_gram)."""
    b, _, n = shape
    A = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    out = emulate(A, tol=1e-6)
    v = np.zeros((b, n))
    s, lo, up, mu, fro2 = (np.empty(b) for _ in range(5))
    it, st_, ok = (np.empty(b, np.int32) for _ in range(3))
    _core.spectral_top_gram(A, v, None, s, lo, up, it, st_, mu, ok, fro2, 1e-6, 2000, 128, 0)
    np.testing.assert_array_equal(out["iterations"], it)
    np.testing.assert_array_equal(out["ok"], ok)
    np.testing.assert_allclose(out["sigma"], s, rtol=1e-13)
    np.testing.assert_allclose(out["mu"], mu, rtol=1e-13)
    np.testing.assert_allclose(out["fro2"], fro2, rtol=1e-13)


@pytest.mark.parametrize("shape", [(2, 45, 37), (2, 37, 45)])
def test_emulated_team_sizes_agree(shape):
    """The work split over threads and warp-like groups (barriers, reductions, lane strides) gives
    the same answer as one thread."""
    A = np.random.default_rng(2).standard_normal(shape)
    base = emulate(A, vectors=True)
    for team, group in ((2, 1), (7, 1), (6, 3), (8, 4)):
        out = emulate(A, team=team, group=group, vectors=True)
        np.testing.assert_allclose(out["sigma"], base["sigma"], rtol=1e-12)
        sign = np.sign((out["v"] * base["v"]).sum(1, keepdims=True))  # a vector's sign is free
        np.testing.assert_allclose(sign * out["v"], base["v"], atol=1e-8)
        np.testing.assert_allclose(sign * out["u"], base["u"], atol=1e-8)
        np.testing.assert_allclose(out["mu"], base["mu"], rtol=1e-12)
        assert np.abs(out["iterations"] - base["iterations"]).max() <= 2


def test_emulated_closed_forms():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(33), rng.standard_normal(21)
    Q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    D = np.diag(np.arange(1.0, 18.0))[:, ::-1]
    cases = [
        (np.outer(x, y)[None], np.linalg.norm(x) * np.linalg.norm(y)),  # rank one
        (Q[None], 1.0),  # orthogonal
        (3.5 * Q[None, :, :17], 3.5),  # scaled orthonormal columns
        (np.ascontiguousarray(D)[None], 17.0),
        (np.full((1, 1, 1), -2.5), 2.5),
        (np.arange(1.0, 10.0).reshape(1, 1, 9), np.sqrt(285.0)),  # 1 x n
        (np.arange(1.0, 10.0).reshape(1, 9, 1), np.sqrt(285.0)),  # n x 1
    ]
    for A, want in cases:
        out = emulate(A)
        assert out["status"][0] == 0 and out["ok"][0] == 1
        assert out["sigma"][0] == pytest.approx(want, rel=1e-8)
        assert certified_upper(out, *A.shape[1:])[0] >= want * (1 - 1e-15)
    out = emulate(np.zeros((2, 5, 4)))
    assert (out["sigma"] == 0).all() and (out["fro2"] == 0).all() and (out["status"] == 0).all()


@pytest.mark.parametrize("shape", [(3, 40, 40), (2, 25, 60)])
def test_emulated_hard_spectrum_certificate_holds(shape):
    """Top two singular values 1e-7 apart: the certified bracket contains sigma_max."""
    A = hard(np.random.default_rng(4), *shape)
    out = emulate(A, tol=1e-9)
    upper = certified_upper(out, *shape[1:])
    ok = out["ok"] == 1
    assert np.all(out["lower"] <= 1 + 1e-13)
    assert np.all(upper[ok] >= 1 - 1e-15)  # where ok is 0 the caller runs an SVD


def test_emulated_warm_start_and_budget():
    A = np.random.default_rng(5).standard_normal((2, 30, 20))
    first = emulate(A)
    again = emulate(A, init=first["v"])
    assert again["iterations"].max() <= 3
    np.testing.assert_allclose(again["sigma"], first["sigma"], rtol=2e-8)
    capped = emulate(A, tol=1e-15, certify=False, max_iter=3)
    assert (capped["status"] == 4).all() and (capped["iterations"] <= 3).all()
    assert (capped["ok"] == 0).all()
    bad = A.copy()
    bad[1, 3, 4] = np.nan
    out = emulate(bad)
    assert out["status"][0] == 0 and out["status"][1] == 1


def test_emulated_kato_temple_stop_options():
    """gap_cap 0 (residual bound), 0.01 (capped, from 30 steps) and inf (uncapped): all within tol
    on Gaussian matrices, and the estimate saves steps."""
    A = np.random.default_rng(15).standard_normal((6, 120, 100))
    ref, tol = top(A), 1e-9
    its = {}
    for cap in (0.0, 0.01, np.inf):
        out = emulate(A, tol=tol, certify=False, gap_cap=cap)
        assert (out["status"] == 0).all() and (out["ok"] == 0).all()
        np.testing.assert_allclose(out["sigma"], ref, rtol=2 * tol)
        assert np.all(out["upper"] >= ref * (1 - 2 * tol))
        its[cap] = int(out["iterations"].sum())
    assert its[np.inf] <= its[0.01] <= its[0.0]
    with pytest.raises(ValueError, match="gap_cap"):
        emulate(A[:1], gap_cap=-1.0)


def test_emulate_releases_the_gil_and_runs_concurrently():
    from concurrent.futures import ThreadPoolExecutor

    A = np.random.default_rng(14).standard_normal((4, 24, 18))
    base = emulate(A)
    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(lambda t: emulate(A, team=t), [1, 2, 1]))
    for out in outs:
        np.testing.assert_allclose(out["sigma"], base["sigma"], rtol=1e-12)


def test_emulate_rejects_bad_input():
    A = np.zeros((1, 4, 4))
    f, i = np.empty(1), np.empty(1, np.int32)
    with pytest.raises(ValueError, match="3-D"):
        _core.spectral_lanczos_emulate(
            A[0], np.zeros((1, 4)), None, f, f, f, i, i, f, i, f, 1e-8, 10, 16, 0.0, 0, True, 1
        )
    with pytest.raises(ValueError, match=r"min\(m, n\) <= 256"):
        emulate(np.zeros((1, 257, 300)))
    with pytest.raises(TypeError):
        emulate(np.zeros((1, 4, 4), np.int64))
    with pytest.raises(ValueError, match="team_size"):
        emulate(A, team=0)
    with pytest.raises(ValueError, match="group_size"):
        emulate(A, team=4, group=3)
    with pytest.raises(ValueError, match="tol"):
        emulate(A, tol=0.0)
    with pytest.raises(ValueError, match="v must have shape"):
        emulate(A, init=np.zeros((1, 5)))
    with pytest.raises(ValueError, match="max_basis"):
        _core.spectral_lanczos_work_size(4, 4, 1)
    assert _core.spectral_lanczos_work_size(64, 40, 128) == 40 * 40 + 41 * 40 + 40


# ---------------------------------------------------------------------------------------------
# The CUDA glue and the dispatch, on the CPU: the launch replaced by the emulation.


def test_binding_exists_and_reports_no_cuda_cleanly():
    assert hasattr(_core, "spectral_lanczos_cuda")
    if _core.WITH_CUDA:
        assert _cuda_lanczos.available()
        with pytest.raises(TypeError):
            _core.spectral_lanczos_cuda(*([None] * 12), 1e-8, 10, 16, 0.0, 0, True, 0)
    else:
        assert not _cuda_lanczos.available()
        with pytest.raises(RuntimeError, match="without a CUDA compiler"):
            _core.spectral_lanczos_cuda(1, 2, 3)
        assert not _cuda_lanczos.use_kernel("lanczos", 8, 8)


def test_dlpack_names_the_legacy_default_stream_as_dlpack_does():
    """torch's current stream is handle 0 on the default stream, which torch's __dlpack__ refuses
    on CUDA (0 is ambiguous in DLPack); the legacy default stream is 1 there."""

    class Producer:
        def __dlpack__(self, *, stream, max_version):
            return stream

    assert _arrays.dlpack(Producer(), 0) == 1
    assert _arrays.dlpack(Producer(), 1234) == 1234


def test_use_kernel_selection(monkeypatch):
    monkeypatch.setattr(_cuda_lanczos, "available", lambda: True)
    assert _cuda_lanczos.use_kernel("lanczos", 64, 64)
    assert _cuda_lanczos.use_kernel("auto", 100000, 256)
    assert _cuda_lanczos.use_kernel("auto", 1, 5000)
    assert not _cuda_lanczos.use_kernel("lanczos", 257, 300)
    assert not _cuda_lanczos.use_kernel("power", 64, 64)
    assert not _cuda_lanczos.use_kernel("svd", 64, 64)
    monkeypatch.setattr(_cuda_lanczos, "available", lambda: False)
    assert not _cuda_lanczos.use_kernel("lanczos", 64, 64)


@pytest.fixture
def fake_cuda(monkeypatch):
    """The CUDA launch replaced by the emulation, on CPU tensors that spectral_norm sees as CUDA
    tensors. Returns the list of calls (batch sizes)."""
    torch = pytest.importorskip("torch")
    calls = []

    def launch(W, v, u, sigma, lower, upper, iters, status, mu, ok, fro2, work, tol, max_iter,
               max_basis, gap_cap, seed, certify, stream):  # fmt: skip
        b, m, n = W.shape
        assert work.shape == (b, _core.spectral_lanczos_work_size(m, n, max_basis))
        assert stream == 0 and all(t.is_contiguous() for t in (W, v, sigma, work))
        arrays = (v, u, sigma, lower, upper, iters, status, mu, ok, fro2)
        _core.spectral_lanczos_emulate(
            W.numpy(), *(None if t is None else t.numpy() for t in arrays),
            tol, max_iter, max_basis, gap_cap, seed, certify, 1,
        )  # fmt: skip
        calls.append(b)

    real_check = _dense._check_matrix

    def check(W):
        arg = real_check(W)
        return _arrays.Arg(arg.name, torch.as_tensor(arg.array), "cuda")

    monkeypatch.setattr(_core, "spectral_lanczos_cuda", launch)
    monkeypatch.setattr(_cuda_lanczos, "available", lambda: True)
    monkeypatch.setattr(_cuda, "available", lambda: False)  # the power kernel stays off
    monkeypatch.setattr(_arrays, "dlpack", lambda t, s: t)
    monkeypatch.setattr(_arrays, "cuda_stream", lambda t: 0)
    monkeypatch.setattr(_dense, "_check_matrix", check)
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_glue_matches_svdvals_and_the_cpu_path(fake_cuda, dtype):
    torch = pytest.importorskip("torch")
    W = torch.from_numpy(np.random.default_rng(6).standard_normal((2, 3, 33, 70))).to(
        getattr(torch, dtype)
    )
    tol = 1e-6
    res = spectral_norm(W, method="lanczos", tol=tol, return_vectors=True)
    assert fake_cuda == [6] and res.method == "lanczos"
    ref = torch.linalg.svdvals(W.double())[..., 0]
    torch.testing.assert_close(res.value, ref, rtol=2 * tol, atol=0)
    assert bool((res.lower <= ref * (1 + 1e-12)).all() and (res.upper >= ref * (1 - 1e-15)).all())
    assert bool(res.converged.all() and res.certified.all())
    assert res.v.shape == (2, 3, 70) and res.u.shape == (2, 3, 33) and res.v.dtype == W.dtype
    Wv = (W.double() @ res.v.double().unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(Wv, res.value.unsqueeze(-1) * res.u.double(), rtol=0, atol=1e-3)
    cpu = spectral_norm(W.numpy(), method="lanczos", tol=tol)
    np.testing.assert_allclose(res.value.numpy(), cpu.value, rtol=1e-12)
    np.testing.assert_allclose(res.upper.numpy(), cpu.upper, rtol=1e-12)
    np.testing.assert_array_equal(res.iterations.numpy(), cpu.iterations)


def test_glue_batched_equals_one_by_one_and_chunks(fake_cuda, monkeypatch):
    torch = pytest.importorskip("torch")
    W = torch.from_numpy(np.random.default_rng(7).standard_normal((5, 20, 12)))
    res = spectral_norm(W, method="auto")
    for i in range(5):
        one = spectral_norm(W[i], method="auto", seed=i)  # matrix p starts from seed + p
        assert isinstance(one.value, float) and one.certified is True
        assert one.value == pytest.approx(float(res.value[i]), rel=1e-13)
        assert one.iterations == int(res.iterations[i])
    per = _core.spectral_lanczos_work_size(20, 12, 128)
    monkeypatch.setattr(_cuda_lanczos, "_WORK_BYTES", 2 * 8 * per)
    fake_cuda.clear()
    chunked = spectral_norm(W, method="lanczos")
    assert fake_cuda == [2, 2, 1]
    torch.testing.assert_close(chunked.value, res.value, rtol=0, atol=0)


def test_glue_uncertified_warm_start_and_errors(fake_cuda):
    torch = pytest.importorskip("torch")
    W = torch.from_numpy(np.random.default_rng(8).standard_normal((3, 16, 24)))
    res = spectral_norm(W, method="lanczos", certify="none", tol=1e-8)
    assert not bool(res.certified.any()) and bool(res.converged.all())
    ref = torch.linalg.svdvals(W)[..., 0]
    torch.testing.assert_close(res.value, ref, rtol=2e-8, atol=0)
    warm = spectral_norm(W, method="lanczos", init=res.v)
    assert int(warm.iterations.max()) <= 3
    with pytest.raises(ValueError, match="init must have shape"):
        spectral_norm(W, method="lanczos", init=torch.zeros(3, 5))
    bad = W.clone()
    bad[2, 1, 1] = float("inf")
    with pytest.raises(ValueError, match=r"finite.*\(matrix \(2,\) of the batch\)"):
        spectral_norm(bad, method="lanczos")
    with pytest.warns(RuntimeWarning, match="did not reach"):
        capped = spectral_norm(W, method="lanczos", certify="none", tol=1e-15, max_iter=3)
    assert not bool(capped.converged.any())


def test_glue_svd_fallback_where_the_certificate_fails(fake_cuda, monkeypatch):
    torch = pytest.importorskip("torch")
    launch = _core.spectral_lanczos_cuda

    def failing(*args):
        launch(*args)
        args[9][1] = 0  # ok: the certificate "failed" for matrix 1

    monkeypatch.setattr(_core, "spectral_lanczos_cuda", failing)
    W = torch.from_numpy(np.random.default_rng(9).standard_normal((3, 10, 14)))
    res = spectral_norm(W, method="lanczos", return_vectors=True)
    s = torch.linalg.svdvals(W)[:, 0]
    assert float(res.value[1]) == pytest.approx(float(s[1]), rel=1e-14)
    assert float(res.lower[1]) <= float(s[1]) <= float(res.upper[1])
    assert bool(res.converged.all() and res.certified.all())


def test_dispatch_sends_other_cases_elsewhere(fake_cuda, monkeypatch):
    torch = pytest.importorskip("torch")
    W = torch.from_numpy(np.random.default_rng(10).standard_normal((2, 12, 9)))
    spectral_norm(W, method="power", certify="none", tol=1e-6)
    spectral_norm(W, method="svd")
    assert fake_cuda == []
    spectral_norm(W, method="auto", certify="cholesky")
    assert fake_cuda == [2]
    monkeypatch.setattr(_cuda_lanczos, "available", lambda: False)
    res = spectral_norm(W, method="lanczos", certify="none", tol=1e-6)
    assert fake_cuda == [2] and res.method == "lanczos"


# ---------------------------------------------------------------------------------------------
# The kernel on a GPU.


def _cases():
    """The matrices of the GPU tests (numpy float64): odd sizes, closed forms, a hard spectrum."""
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((4, 50)), rng.standard_normal((4, 37))
    return {
        "random": rng.standard_normal((7, 64, 64)),
        "tall": rng.standard_normal((3, 70, 33)),
        "wide": rng.standard_normal((3, 33, 70)),
        "rank_one": np.einsum("bi,bj->bij", x, y),
        "orthogonal": np.linalg.qr(rng.standard_normal((3, 64, 64)))[0],
        "hard": hard(rng, 3, 45, 45, gap=1e-6),
        "one_by_one": rng.standard_normal((2, 1, 1)),
        "row": rng.standard_normal((2, 1, 37)),
        "column": rng.standard_normal((2, 37, 1)),
        "side_256": rng.standard_normal((2, 300, 256)),
    }


def _check_cases(torch, dtype, device):
    """spectral_norm(method="lanczos") on every case against svdvals in float64."""
    tol = 1e-6 if dtype == "float32" else 1e-9
    for name, A in _cases().items():
        W = torch.from_numpy(A).to(getattr(torch, dtype)).to(device)
        res = spectral_norm(W, method="lanczos", tol=tol, return_vectors=True)
        ref = torch.linalg.svdvals(W.double())[..., 0]
        assert res.value.device == W.device and res.v.device == W.device, name
        torch.testing.assert_close(res.value, ref, rtol=2 * tol, atol=1e-300, msg=name)
        assert bool((res.lower <= ref * (1 + 1e-12)).all()), name
        assert bool((res.upper >= ref * (1 - 1e-12)).all()), name
        assert bool(res.converged.all() and res.certified.all()), name
        Wv = (W.double() @ res.v.double().unsqueeze(-1)).squeeze(-1)
        err = (Wv - res.value.unsqueeze(-1) * res.u.double()).abs().max()
        assert float(err) <= 1e-3 * float(ref.max()), name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_glue_on_the_gpu_test_cases(fake_cuda, dtype):
    torch = pytest.importorskip("torch")
    _check_cases(torch, dtype, "cpu")
    assert len(fake_cuda) == len(_cases())


@pytest.fixture
def spy(monkeypatch):
    calls = []
    launch = _core.spectral_lanczos_cuda

    def wrapped(*args):
        calls.append(1)
        return launch(*args)

    monkeypatch.setattr(_core, "spectral_lanczos_cuda", wrapped)
    return calls


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_kernel_matches_svdvals(spy, dtype):
    torch = pytest.importorskip("torch")
    _check_cases(torch, dtype, "cuda")
    assert len(spy) == len(_cases())  # every case ran the kernel


@pytest.mark.cuda
def test_cuda_kernel_equals_its_cpu_emulation():
    torch = pytest.importorskip("torch")
    A = np.random.default_rng(12).standard_normal((6, 48, 80))
    res = _cuda_lanczos.spectral_norm_cuda_lanczos(
        torch.from_numpy(A).cuda(), tol=1e-8, max_iter=None, return_vectors=False, init=None,
        seed=0, certify=True,
    )  # fmt: skip
    emu = emulate(A, tol=1e-8, max_basis=int(min(128, max(16, (1 << 23) // 80))))
    # the same algorithm; the reductions add in another order, which may move a stop by a step
    same = res.iterations.cpu().numpy() == emu["iterations"]
    assert (
        same.mean() >= 0.5 and np.abs(res.iterations.cpu().numpy() - emu["iterations"]).max() <= 2
    )
    np.testing.assert_allclose(res.value.cpu().numpy()[same], emu["sigma"][same], rtol=1e-11)
    np.testing.assert_allclose(res.value.cpu().numpy(), emu["sigma"], rtol=2e-8)


@pytest.mark.cuda
def test_cuda_kernel_batched_equals_one_by_one_and_many_small():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(13)
    W = torch.randn(512, 64, 64, generator=g, dtype=torch.float32).cuda()
    res = spectral_norm(W, method="auto", tol=1e-6)
    ref = torch.linalg.svdvals(W.double())[:, 0]
    torch.testing.assert_close(res.value, ref, rtol=2e-6, atol=0)
    for i in (0, 255, 511):
        one = spectral_norm(W[i], method="auto", tol=1e-6, seed=i)
        assert one.value == pytest.approx(float(res.value[i]), rel=1e-12)


@pytest.mark.cuda
def test_cuda_kernel_rejects_bad_input():
    torch = pytest.importorskip("torch")
    W = torch.randn(2, 8, 6, dtype=torch.float64, device="cuda")
    bad = W.clone()
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        spectral_norm(bad, method="lanczos")
    per = _core.spectral_lanczos_work_size(8, 6, 16)

    def call(W, v=None, work=None):
        b, _, n = W.shape
        dev = W.device
        f = [torch.empty(b, dtype=torch.float64, device=dev) for _ in range(5)]
        i = [torch.empty(b, dtype=torch.int32, device=dev) for _ in range(3)]
        v = torch.zeros(b, n, dtype=torch.float64, device=dev) if v is None else v
        work = torch.empty(b, per, dtype=torch.float64, device=dev) if work is None else work
        args = (W, v, None, f[0], f[1], f[2], i[0], i[1], f[3], i[2], f[4], work)
        caps = [None if t is None else t.__dlpack__() for t in args]  # no stream sync
        _core.spectral_lanczos_cuda(*caps, 1e-8, 100, 16, np.inf, 0, True, 0)

    call(W)
    with pytest.raises(ValueError, match="C-contiguous"):
        call(W.transpose(1, 2).contiguous().transpose(1, 2))
    with pytest.raises(TypeError, match="float32 or float64"):
        call(W.to(torch.int32))
    with pytest.raises(ValueError, match="CUDA device"):
        call(W.cpu(), v=torch.zeros(2, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="v must have shape"):
        call(W, v=torch.zeros(2, 7, dtype=torch.float64, device="cuda"))
    with pytest.raises(ValueError, match="work must have shape"):
        call(W, work=torch.empty(2, per + 1, dtype=torch.float64, device="cuda"))
    with pytest.raises(ValueError, match=r"min\(m, n\) <= 256"):
        call(torch.zeros(1, 257, 257, dtype=torch.float64, device="cuda"))
