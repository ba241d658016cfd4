"""The fused attack_step kernel: float64 reference, projection property, writes through to the
caller's memory, refuses to copy, agrees with the eager torch fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from infotheory.attacks import PGD
from infotheory.attacks import _step as step_mod
from infotheory.attacks._step import Stepper, attack_step, torch_step_


def reference(x, g, x0, eps, alpha, norm, clip):
    """float64 numpy reference of the documented step, written independently of the kernel."""
    x, g, x0 = (np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (x, g, x0))
    n = x.shape[0]
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), (n,))[:, None]
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n,))[:, None]
    if norm == "inf":
        delta = np.clip(x + alpha * np.sign(g) - x0, -eps, eps)
    else:
        gn = np.linalg.norm(g, axis=1, keepdims=True)
        step = np.divide(g, gn, out=np.zeros_like(g), where=gn > 0)
        delta = x + alpha * step - x0
        dn = np.linalg.norm(delta, axis=1, keepdims=True)
        delta = delta * np.minimum(1.0, np.divide(eps, dn, out=np.ones_like(dn), where=dn > 0))
    out = x0 + delta
    if clip is not None:
        out = np.clip(out, *clip)
    d = out - x0
    return out, np.linalg.norm(d, axis=1), np.abs(d).max(axis=1, initial=0.0)


def problem(shape, dtype, seed, box):
    rng = np.random.default_rng(seed)
    lo, hi = box if box is not None else (-3.0, 3.0)
    x0 = rng.uniform(lo, hi, size=shape)
    x = np.clip(x0 + rng.normal(scale=0.3, size=shape), lo, hi)
    g = rng.normal(size=shape)
    g[rng.random(size=shape) < 0.1] = 0.0  # sign(0) = 0: no step along that coordinate
    return [torch.from_numpy(np.ascontiguousarray(a, dtype=dtype)) for a in (x, g, x0)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # row lengths around the vector widths (4, 8) and the float partial-sum blocks (64, 128)
    shape=st.sampled_from(
        [(1, 1), (3, 5), (4, 3, 2, 2), (2, 1000), (7, 1, 3), (3, 9), (2, 17), (2, 129), (5, 31)]
    ),
    norm=st.sampled_from(["inf", "2"]),
    dtype=st.sampled_from([np.float64, np.float32]),
    eps=st.one_of(st.floats(0.0, 2.0), st.just(0.0)),
    per_sample=st.booleans(),
    alpha=st.floats(0.0, 1.0),
    box=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), None]),
    seed=st.integers(0, 2**16),
)
def test_kernel_matches_float64_reference(shape, norm, dtype, eps, per_sample, alpha, box, seed):
    x, g, x0 = problem(shape, dtype, seed, box)
    n = shape[0]
    if box is not None:  # x0 must lie in the box for the ball property below
        x0.clamp_(*box)
    e = torch.rand(n, dtype=x.dtype, generator=torch.Generator().manual_seed(seed)) * eps
    e = e if per_sample else eps
    want, w2, winf = reference(x.numpy(), g.numpy(), x0.numpy(), np.asarray(e), alpha, norm, box)
    l2, linf = attack_step(x, g, x0, e, alpha, norm, box)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(x.numpy().reshape(n, -1), want, rtol=tol, atol=tol * 4)
    np.testing.assert_allclose(l2.numpy(), w2, rtol=tol * 10, atol=tol * 4)
    np.testing.assert_allclose(linf.numpy(), winf, rtol=tol, atol=tol * 4)
    # projection property: in the ball around x0 and in the box
    bound = np.broadcast_to(np.asarray(e, dtype=np.float64), (n,))
    got = (linf if norm == "inf" else l2).numpy().astype(np.float64)
    assert np.all(got <= bound * (1 + 4 * tol) + 4 * tol)
    if box is not None:
        assert float(x.min()) >= box[0] and float(x.max()) <= box[1]


def check_non_finite_like_eager(dtype, norm, clip, seed):
    """NaN in x, x0 or grad and inf in grad, at random coordinates of rows whose lengths cross the
    vector widths and summation blocks: the kernel's result is NaN exactly where the eager torch
    step's is (torch.sign(NaN) is 0: no L-inf step there; for L2 grad * 0 is NaN), its norms are
    NaN for exactly the same samples, and the finite coordinates agree (bit for bit for L-inf)."""
    gen = torch.Generator().manual_seed(seed)
    nan_rows = 0
    for d in (1, 3, 8, 37, 64, 129, 300):
        n = 6
        x0 = torch.rand(n, d, generator=gen, dtype=dtype)
        x = (x0 + 0.05 * torch.randn(n, d, generator=gen, dtype=dtype)).clamp(0, 1)
        g = torch.randn(n, d, generator=gen, dtype=dtype)
        for t, p in ((x, 0.02), (g, 0.02), (x0, 0.02)):
            t[torch.rand(n, d, generator=gen) < p] = float("nan")
        g[torch.rand(n, d, generator=gen) < 0.02] = float("inf")
        x0[0] = torch.rand(d, generator=gen, dtype=dtype)  # one clean row
        x[0] = x0[0]
        g[0] = torch.randn(d, generator=gen, dtype=dtype)
        eps = torch.full((n,), 0.1, dtype=dtype)
        alpha = torch.full((n,), 0.03, dtype=dtype)
        xe = x.clone()
        e2, einf = torch_step_(xe, g, x0, eps, alpha, norm, clip)
        l2, linf = attack_step(x, g, x0, eps, alpha, norm, clip)
        for got, want in ((x, xe), (l2, e2), (linf, einf)):
            assert torch.equal(torch.isnan(got), torch.isnan(want)), (d, got, want)
        assert not torch.isnan(l2[0])
        nan_rows += int(torch.isnan(l2).sum())
        ok = ~torch.isnan(xe)
        tol = 0.0 if norm == "inf" else (1e-12 if dtype == torch.float64 else 1e-6)
        torch.testing.assert_close(x[ok], xe[ok], rtol=tol, atol=tol)
    assert nan_rows >= 10  # the case is not vacuous


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_non_finite_input_gives_nan_where_eager_torch_does(norm, dtype, clip):
    # before: the clamps dropped NaN, so NaN x or x0 came out finite (and L2 could leave the ball)
    check_non_finite_like_eager(dtype, norm, clip, seed=3)


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_agrees_with_eager_torch(norm, dtype):
    x, g, x0 = problem((16, 3, 8, 8), np.float64, 1, (0.0, 1.0))
    x, g, x0 = (t.to(dtype) for t in (x, g, x0))
    eps = torch.linspace(0.0, 0.5, 16, dtype=dtype)
    alpha = torch.full((16,), 0.05, dtype=dtype)
    xe = x.clone()
    e2, einf = torch_step_(xe, g, x0, eps, alpha, norm, (0.0, 1.0))
    l2, linf = attack_step(x, g, x0, eps, alpha, norm, (0.0, 1.0))
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    # the L-inf step does the eager step's arithmetic: same bits
    exact = 0.0 if norm == "inf" else tol
    torch.testing.assert_close(x, xe, rtol=exact, atol=exact)
    torch.testing.assert_close(l2, e2, rtol=tol, atol=tol)
    torch.testing.assert_close(linf, einf, rtol=tol, atol=tol)


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stepper_kernel_and_eager_paths_agree(norm, dtype):
    """The attacks' per-run Stepper: the kernel path and the eager path it takes for a gradient
    the kernel cannot take (wrong dtype, non-contiguous, requiring grad) give the same iterate."""
    x, g, x0 = problem((6, 2, 35), np.float64, 3, (0.0, 1.0))
    x, g, x0 = (t.to(dtype) for t in (x, g, x0))
    eps = torch.linspace(0.05, 0.5, 6, dtype=dtype)
    alpha = torch.full((6,), 0.07, dtype=dtype)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    grads = {
        "contiguous": g,
        "other dtype": g.to(torch.float32 if dtype == torch.float64 else torch.float64),
        "non-contiguous": g.transpose(1, 2).contiguous().transpose(1, 2),
        "requires grad": g.clone().requires_grad_(True),
    }
    for name, grad in grads.items():
        xs, xe = x.clone(), x.clone()
        step = Stepper(xs, x0, eps, alpha, norm, (0.0, 1.0))
        ptr = xs.data_ptr()
        with torch.no_grad():
            step(grad)
            step(grad)  # twice: the kernel's numpy views keep pointing at xs
            for _ in range(2):
                torch_step_(xe, grad.detach(), x0, eps, alpha, norm, (0.0, 1.0))
        assert xs.data_ptr() == ptr, name
        torch.testing.assert_close(xs, xe, rtol=tol, atol=tol, msg=name)
    # a run the kernel cannot serve at all (x0 not contiguous) takes the eager path throughout
    xs, xe = x.clone(), x.clone()
    x0t = x0.transpose(1, 2).contiguous().transpose(1, 2)
    Stepper(xs, x0t, eps, alpha, norm, None)(g)
    torch_step_(xe, g, x0, eps, alpha, norm, None)
    torch.testing.assert_close(xs, xe, rtol=tol, atol=tol)


def test_step_plan_binds_once_and_checks_each_gradient():
    from infotheory import _core

    x, g, x0 = problem((4, 3, 9), np.float32, 5, (0.0, 1.0))
    e = np.linspace(0.05, 0.4, 4, dtype=np.float32)
    a = np.full(4, 0.05, dtype=np.float32)
    xn = x.numpy()
    want = x.clone()
    plan = _core.AttackStepPlan(xn, x0.numpy(), e, a, 0.0, 1.0, "2")
    for _ in range(3):  # the plan keeps writing through to x
        plan(g.numpy())
        w2, winf = attack_step(want, g, x0, torch.from_numpy(e), torch.from_numpy(a), "2")
    torch.testing.assert_close(x, want, rtol=0, atol=0)
    np.testing.assert_array_equal(plan.l2, w2.numpy())
    np.testing.assert_array_equal(plan.linf, winf.numpy())
    gn = g.numpy()
    before = xn.copy()
    with pytest.raises(ValueError, match="grad must have shape"):
        plan(gn[:, :2].copy())
    with pytest.raises(TypeError, match="grad must have x's dtype"):
        plan(gn.astype(np.float64))
    with pytest.raises(ValueError, match="grad must be C-contiguous"):
        plan(np.asfortranarray(gn))
    with pytest.raises(TypeError):
        plan(gn.tolist())  # never converted (a copy would hide the caller's mistakes)
    np.testing.assert_array_equal(xn, before)  # nothing written by the refused calls
    with pytest.raises(TypeError, match="x0 must have x's dtype"):
        _core.AttackStepPlan(xn, x0.numpy().astype(np.float64), e, a, 0.0, 1.0, "2")
    with pytest.raises(ValueError, match="eps must have shape"):
        _core.AttackStepPlan(xn, x0.numpy(), e[:3].copy(), a, 0.0, 1.0, "2")
    with pytest.raises(ValueError, match="norm must be"):
        _core.AttackStepPlan(xn, x0.numpy(), e, a, 0.0, 1.0, "1")
    with pytest.raises(ValueError, match="clip must satisfy"):
        _core.AttackStepPlan(xn, x0.numpy(), e, a, 1.0, 0.0, "2")
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        _core.AttackStepPlan(xn.astype(np.float16), x0.numpy(), e, a, 0.0, 1.0, "2")
    ro = xn.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="x must be writable"):
        _core.AttackStepPlan(ro, x0.numpy(), e, a, 0.0, 1.0, "2")


def test_portable_loops_match_reference_without_avx2(tmp_path):
    """The SSE2 (float32) and portable (float64) loops that CPUs without AVX2 run: same checks
    against the float64 reference (and CW's fused step against its torch version), in a process
    where the AVX2 loops are switched off."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import numpy as np, torch, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_attacks_step import problem, reference\n"
        "from infotheory.attacks._step import attack_step\n"
        "from infotheory import _core\n"
        "assert _core.attack_step_loops() != 'avx2', _core.attack_step_loops()\n"
        "for dtype, tol in ((np.float32, 2e-6), (np.float64, 1e-12)):\n"
        "    for shape in ((3, 5), (2, 17), (4, 3, 7, 7), (2, 129)):\n"
        "        for norm in ('inf', '2'):\n"
        "            x, g, x0 = problem(shape, dtype, 7, (0.0, 1.0))\n"
        "            e = np.linspace(0.01, 0.6, shape[0])\n"
        "            want, w2, wi = reference(x.numpy(), g.numpy(), x0.numpy(), e, 0.1, norm,"
        " (0.0, 1.0))\n"
        "            l2, li = attack_step(x, g, x0, torch.tensor(e, dtype=x.dtype), 0.1, norm)\n"
        "            got = x.numpy().reshape(shape[0], -1)\n"
        "            np.testing.assert_allclose(got, want, rtol=tol, atol=4 * tol)\n"
        "            np.testing.assert_allclose(l2.numpy(), w2, rtol=10 * tol, atol=4 * tol)\n"
        "            np.testing.assert_allclose(li.numpy(), wi, rtol=tol, atol=4 * tol)\n"
        "from test_attacks_step import check_non_finite_like_eager\n"
        "for dtype in (torch.float32, torch.float64):\n"
        "    for norm in ('inf', '2'):\n"
        "        for clip in ((0.0, 1.0), None):\n"
        "            check_non_finite_like_eager(dtype, norm, clip, seed=4)\n"
        "from infotheory.attacks._fused import CwAdam\n"
        "for dtype, tol in ((torch.float32, 2e-5), (torch.float64, 1e-12)):\n"
        "    x = torch.rand(3, 37, dtype=dtype, generator=torch.Generator().manual_seed(1))\n"
        "    w0 = torch.atanh(1.8 * x - 0.9)\n"
        "    a, b = CwAdam(w0, x, 0.05, (0.0, 1.0)), CwAdam(w0, x, 0.05, (0.0, 1.0))\n"
        "    b._kernel = None\n"
        "    for s in range(5):\n"
        "        g = torch.sin(a.xa * (s + 3))\n"
        "        la, lb = a.step(g), b.step(g)\n"
        "    torch.testing.assert_close(a.xa, b.xa, rtol=tol, atol=tol)\n"
        "    torch.testing.assert_close(la, lb, rtol=10 * tol, atol=tol)\n"
        "print('ok')\n"
    )
    import infotheory

    here = Path(__file__).resolve().parent
    root = str(Path(infotheory.__file__).resolve().parents[1])  # the package this run imports
    env = dict(os.environ, INFOTHEORY_ATTACK_NO_AVX2="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    res = subprocess.run(
        [sys.executable, "-c", code, str(here)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_pgd_same_with_kernel_and_fallback(monkeypatch):
    """The attacks give the same iterates whichever step runs (the fallback serves inputs the
    kernel cannot take)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(12, 16, dtype=torch.float64), nn.Tanh(), nn.Linear(16, 3, dtype=torch.float64)
    )
    x = torch.rand(20, 12, dtype=torch.float64)
    y = torch.randint(0, 3, (20,))
    for norm in ("inf", "2"):
        a = PGD(0.3, steps=10, norm=norm, seed=4)(model, x, y)
        monkeypatch.setattr(step_mod, "kernel_takes", lambda t: False)
        b = PGD(0.3, steps=10, norm=norm, seed=4)(model, x, y)
        monkeypatch.undo()
        torch.testing.assert_close(a.x_adv, b.x_adv, rtol=1e-12, atol=1e-12)


def test_fallback_serves_half_precision():
    model = nn.Linear(6, 3).to(torch.bfloat16)
    x = torch.rand(4, 6, dtype=torch.bfloat16)
    y = torch.randint(0, 3, (4,))
    res = PGD(0.1, steps=3, seed=0)(model, x, y)
    assert res.x_adv.dtype == torch.bfloat16
    assert float(res.linf.max()) <= 0.1 + 1e-2


def test_writes_through_to_caller_memory():
    big = torch.zeros(6, 4, dtype=torch.float64)
    x = big[2:4]  # a contiguous view into the caller's storage
    ptr = x.data_ptr()
    g = torch.ones(2, 4, dtype=torch.float64)
    x0 = torch.zeros(2, 4, dtype=torch.float64)
    attack_step(x, g, x0, 0.25, 0.1, "inf", (0.0, 1.0))
    assert x.data_ptr() == ptr
    torch.testing.assert_close(big[2:4], torch.full((2, 4), 0.1, dtype=torch.float64))
    assert float(big[:2].abs().sum()) == 0.0 and float(big[4:].abs().sum()) == 0.0
    arr = np.full((3, 2), 0.5)
    l2, linf = attack_step(arr, -np.ones((3, 2)), np.full((3, 2), 0.5), 0.2, 0.3, "inf")
    np.testing.assert_allclose(arr, 0.3)
    assert isinstance(l2, np.ndarray)
    np.testing.assert_allclose(linf, 0.2)


def test_refuses_to_copy():
    x = torch.rand(4, 6, dtype=torch.float64)
    g, x0 = torch.rand_like(x), x.clone()
    with pytest.raises(ValueError, match="x must be contiguous"):
        attack_step(x.t(), g.t().contiguous(), x0.t().contiguous(), 0.1, 0.1)
    with pytest.raises(ValueError, match="grad must be contiguous"):
        attack_step(x[:, :3].contiguous(), g[:, ::2], x0[:, :3].contiguous(), 0.1, 0.1)
    with pytest.raises(TypeError, match="x must have dtype"):
        attack_step(x.half(), g.half(), x0.half(), 0.1, 0.1)
    with pytest.raises(TypeError, match="grad must have dtype float64"):
        attack_step(x, g.float(), x0, 0.1, 0.1)
    with pytest.raises(TypeError, match="x must be a numpy array or torch tensor"):
        attack_step([[0.5]], [[1.0]], [[0.5]], 0.1, 0.1)
    with pytest.raises(ValueError, match="x0 must have x's shape"):
        attack_step(x, g, x0[:2], 0.1, 0.1)
    with pytest.raises(ValueError, match="eps must be finite and non-negative"):
        attack_step(x, g, x0, -0.1, 0.1)
    with pytest.raises(ValueError, match="eps with shape"):
        attack_step(x, g, x0, np.ones(3), 0.1)
    with pytest.raises(ValueError, match="grad is a numpy array but x is a torch"):
        attack_step(x, g.numpy(), x0, 0.1, 0.1)
    with pytest.raises(ValueError, match="norm"):
        attack_step(x, g, x0, 0.1, 0.1, norm="1")
    ro = np.zeros((2, 2))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        attack_step(ro, np.zeros((2, 2)), np.zeros((2, 2)), 0.1, 0.1)
    # nothing was written by the failed calls
    torch.testing.assert_close(x, x0)


def test_fast_path_refuses_bad_budgets_before_writing():
    """Valid CPU tensors take the short path; its budgets are checked by the kernel, before
    anything is written, with the same message as the general path."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 5, dtype=torch.float64, generator=gen)
    g, x0 = torch.randn(3, 5, dtype=torch.float64, generator=gen), x.clone()
    before = x.clone()
    for bad in (
        torch.tensor([0.1, -0.2, 0.1], dtype=torch.float64),
        torch.tensor([0.1, float("nan"), 0.1], dtype=torch.float64),
        torch.tensor([0.1, float("inf"), 0.1], dtype=torch.float64),
    ):
        for kw in ({"eps": bad, "alpha": 0.1}, {"eps": 0.1, "alpha": bad}):
            name = "eps" if kw["eps"] is bad else "alpha"
            with pytest.raises(ValueError, match=f"{name} must be finite and non-negative"):
                attack_step(x, g, x0, **kw)
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    l2, linf = attack_step(x, g, x0, torch.full((3,), 0.2, dtype=torch.float64), 0.05, clip=None)
    assert isinstance(l2, torch.Tensor) and l2.dtype == torch.float64
    torch.testing.assert_close(linf, torch.full((3,), 0.05, dtype=torch.float64))


def test_empty_batch():
    x = torch.empty(0, 5)
    l2, linf = attack_step(x, torch.empty(0, 5), torch.empty(0, 5), 0.1, 0.1)
    assert l2.shape == (0,) and linf.shape == (0,)


@pytest.mark.cuda
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_cuda_kernel_matches_cpu(norm):
    x, g, x0 = problem((64, 3, 16, 16), np.float32, 2, (0.0, 1.0))
    eps = torch.linspace(0, 1, 64)
    xc, gc, x0c, ec = (t.cuda() for t in (x, g, x0, eps))
    l2c, linfc = attack_step(xc, gc, x0c, ec, 0.1, norm)
    l2, linf = attack_step(x, g, x0, eps, 0.1, norm)
    torch.testing.assert_close(xc.cpu(), x, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(l2c.cpu(), l2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(linfc.cpu(), linf, rtol=1e-6, atol=1e-6)


def test_concurrent_calls_release_the_gil():
    """Threads stepping their own arrays get exactly the sequential results."""
    from concurrent.futures import ThreadPoolExecutor

    probs = [problem((32, 300), np.float32, s, (0.0, 1.0)) for s in range(8)]
    seq = []
    for x, g, x0 in probs:
        xs = x.clone()
        seq.append((xs, *attack_step(xs, g, x0, 0.1, 0.03, "2")))

    def run(p):
        x, g, x0 = p
        return (x, *attack_step(x, g, x0, 0.1, 0.03, "2"))

    with ThreadPoolExecutor(4) as ex:
        par = list(ex.map(run, probs))
    for a, b in zip(seq, par, strict=True):
        for u, v in zip(a, b, strict=True):
            torch.testing.assert_close(u, v, rtol=0, atol=0)


@pytest.mark.cuda
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_cuda_stepper_matches_eager_steps_and_checks_budgets_once(norm):
    x, g, x0 = problem((32, 3, 8, 8), np.float64, 3, (0.0, 1.0))
    eps, alpha = torch.linspace(0, 0.5, 32), torch.full((32,), 0.07)
    xc, x0c = x.clone().cuda(), x0.cuda()
    stepper = Stepper(xc, x0c, eps.cuda(), alpha.cuda(), norm, (0.0, 1.0))
    assert stepper._call is not None  # the direct kernel path, not the eager fallback
    for s in range(3):
        stepper((g * (s - 1)).cuda())
        torch_step_(x, g * (s - 1), x0, eps, alpha, norm, (0.0, 1.0))
    torch.testing.assert_close(xc.cpu(), x, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="eps must be finite"):
        Stepper(xc, x0c, torch.full((32,), float("nan"), device="cuda"), alpha.cuda(), norm, None)


def test_attack_names_a_non_finite_gradient_as_the_cause():
    # sqrt's gradient at 0 is inf: the L2 step makes that coordinate NaN, as eager torch does, and
    # the next prediction says why instead of only "NaN logits" (the kernel used to clamp the NaN
    # into the box and carry on from a made-up point)
    class Sqrt(nn.Module):
        def forward(self, x):
            h = x.flatten(1)
            return torch.stack([torch.sqrt(h).sum(1), h.sum(1)], 1)

    x = 0.1 + 0.8 * torch.rand(4, 8, generator=torch.Generator().manual_seed(0))
    x[1, 3] = 0.0
    y = torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"input 1 of the batch holds NaN.*not finite"):
        PGD(Sqrt(), eps=0.1, steps=3, norm="2", random_start=False)(x, y)


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_that_excludes_zero_with_partial_vectors(norm, dtype):
    """A box [0.3, 0.9] (0 outside it) and rows whose length leaves a partial last vector: the
    lanes past the row's end must not enter the norms (clipped into the box, a lane would
    count 0.3 in L-inf and 0.09 in the sum of squares)."""
    box = (0.3, 0.9)
    for d in (1, 3, 5, 13, 70):
        x, g, x0 = problem((4, d), dtype, d, box)
        x0.clamp_(*box)
        e = np.array([0.0, 0.01, 0.05, 0.2])
        want, w2, winf = reference(x.numpy(), g.numpy(), x0.numpy(), e, 0.02, norm, box)
        l2, linf = attack_step(x, g, x0, torch.tensor(e, dtype=x.dtype), 0.02, norm, box)
        tol = 1e-12 if dtype == np.float64 else 2e-6
        np.testing.assert_allclose(x.numpy(), want, rtol=tol, atol=tol)
        np.testing.assert_allclose(l2.numpy(), w2, rtol=10 * tol, atol=tol)
        np.testing.assert_allclose(linf.numpy(), winf, rtol=tol, atol=tol)
