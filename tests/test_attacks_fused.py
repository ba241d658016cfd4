"""The fused CW and DeepFool updates (family attack_step) against their torch versions, Adam's
closed-form first step, torch.optim.Adam on the unfused loss, and the attacks with and without
the kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from infotheory import _core
from infotheory.attacks import CW, DeepFool
from infotheory.attacks import _fused as fused
from infotheory.attacks._fused import (
    CwAdam,
    cw_adam_step_torch_,
    deepfool_step_,
    deepfool_step_torch_,
    to_x,
)

TOL = {torch.float64: 1e-12, torch.float32: 2e-5}


def cw_state(shape, dtype, seed, clip):
    gen = torch.Generator().manual_seed(seed)
    lo, hi = clip if clip is not None else (-2.0, 2.0)
    x = (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)).to(dtype)
    w = torch.randn(shape, generator=gen, dtype=torch.float64).mul(1.5).to(dtype)
    m = torch.randn(shape, generator=gen, dtype=torch.float64).mul(0.1).to(dtype)
    v = torch.rand(shape, generator=gen, dtype=torch.float64).mul(0.01).to(dtype)
    g = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
    return w, m, v, to_x(w, clip), x, g


@settings(max_examples=40, deadline=None)
@given(
    shape=st.sampled_from([(1, 1), (3, 7), (2, 3, 5, 5), (4, 130)]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    clip=st.sampled_from([(0.0, 1.0), (-1.0, 2.0), None]),
    t=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_cw_kernel_matches_torch(shape, dtype, clip, t, seed):
    w, m, v, xa, x, g = cw_state(shape, dtype, seed, clip)
    ref = [a.clone() for a in (w, m, v, xa)]
    lo, hi = clip if clip is not None else (0.0, 1.0)
    step_size, bc2 = 0.01 / (1 - 0.9**t), math.sqrt(1 - 0.999**t)
    l2 = np.empty(shape[0], dtype=w.numpy().dtype)
    _core.cw_adam_step(
        *(a.numpy() for a in (w, m, v, xa, x, g)),
        step_size,
        bc2,
        0.9,
        0.999,
        1e-8,
        lo,
        hi,
        clip is not None,
        l2,
    )
    want_l2 = cw_adam_step_torch_(*ref, x, g, step_size, bc2, 0.9, 0.999, 1e-8, clip)
    tol = TOL[dtype]
    for got, want in zip((w, m, v, xa), ref, strict=True):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    torch.testing.assert_close(torch.from_numpy(l2), want_l2, rtol=tol * 10, atol=tol)
    if clip is not None:  # the iterate stays in the box
        assert float(xa.min()) >= clip[0] and float(xa.max()) <= clip[1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cw_first_step_closed_form(dtype):
    """Adam's first step from zero moments moves w by lr * g / (|g| + eps) (bias-corrected), and
    without a box x' = w; the gradient includes the distance's 2 (x' - x)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(5, 9, generator=gen, dtype=dtype)
    w0 = x + 0.1 * torch.randn(5, 9, generator=gen, dtype=dtype)
    gm = torch.randn(5, 9, generator=gen, dtype=dtype)
    opt = CwAdam(w0, x, lr=0.05, clip=None)
    l2 = opt.step(gm)
    g = (gm + 2 * (w0 - x)).double()
    want = w0.double() - 0.05 * g / (g.abs() + 1e-8)
    tol = TOL[dtype]
    torch.testing.assert_close(opt.w.double(), want, rtol=tol, atol=tol)
    torch.testing.assert_close(opt.xa, opt.w, rtol=0, atol=0)
    torch.testing.assert_close(l2.double(), (want - x.double()).square().sum(1), rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_cw_adam_equals_torch_optim_on_the_unfused_loss(dtype, clip):
    """CwAdam (gradient of the model's part at x', the rest fused) follows torch.optim.Adam run on
    the whole loss through x'(w) by autograd, step for step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)
    x = torch.rand(6, 12, dtype=dtype) * 0.8 + 0.1
    c = torch.linspace(0.1, 2.0, 6, dtype=dtype)
    w0 = torch.atanh(2 * x - 1) if clip is not None else x.clone()
    opt = CwAdam(w0, x, lr=0.02, clip=clip)
    w = w0.clone().requires_grad_(True)
    ref = torch.optim.Adam([w], lr=0.02)
    for _ in range(15):
        xr = opt.xa.detach().requires_grad_(True)
        (g,) = torch.autograd.grad((c * model(xr)[:, 0].tanh()).sum(), xr)
        opt.step(g)
        xw = to_x(w, clip) if clip is None else 0.5 * (torch.tanh(w) + 1.0)
        loss = (xw - x).square().sum() + (c * model(xw)[:, 0].tanh()).sum()
        ref.zero_grad()
        loss.backward()
        ref.step()
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    torch.testing.assert_close(opt.w, w.detach(), rtol=tol, atol=tol)
    torch.testing.assert_close(opt.xa, to_x(w.detach(), clip), rtol=tol, atol=tol)


def deepfool_problem(dtype, seed, k=4, a=7, n=10, shape=(3, 11)):
    gen = torch.Generator().manual_seed(seed)
    grads = [torch.randn((a, *shape), generator=gen, dtype=dtype) for _ in range(k)]
    sel = torch.tensor([0, 2, 3, 6])
    rows = torch.tensor([9, 1, 4, 5])
    f = torch.randn(len(sel), k - 1, generator=gen, dtype=dtype)
    x = torch.rand((n, *shape), generator=gen, dtype=dtype)
    r_tot = 0.1 * torch.randn((n, *shape), generator=gen, dtype=dtype)
    x_adv = (x + r_tot).clamp(0, 1)
    return grads, f, sel, rows, r_tot, x, x_adv


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_deepfool_kernel_matches_torch(dtype, clip):
    for seed in range(5):
        grads, f, sel, rows, r_tot, x, x_adv = deepfool_problem(dtype, seed)
        if seed == 0:  # a tie between two candidates: both pick the first
            grads[2] = grads[1].clone()
            f[:, 1] = f[:, 0]
        r2, a2 = r_tot.clone(), x_adv.clone()
        deepfool_step_(grads, f, sel, rows, r_tot, x, x_adv, 0.02, clip)
        deepfool_step_torch_(grads, f, sel, rows, r2, x, a2, 0.02, clip)
        tol = TOL[dtype]
        torch.testing.assert_close(r_tot, r2, rtol=tol, atol=tol)
        torch.testing.assert_close(x_adv, a2, rtol=tol, atol=tol)
        untouched = torch.ones(x.shape[0], dtype=torch.bool)
        untouched[rows] = False
        assert torch.equal(x_adv[untouched], deepfool_problem(dtype, seed)[6][untouched])


def _same_nan_then_close(got, want, tol, what):
    assert torch.equal(torch.isnan(got), torch.isnan(want)), what
    ok = ~torch.isnan(want)
    torch.testing.assert_close(got[ok], want[ok], rtol=tol, atol=tol, msg=what)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_cw_non_finite_gradients_give_nan_where_torch_does(dtype, clip):
    # before: CW's vector exp clamped NaN to exp(-87) and the clips dropped NaN, so NaN gradients
    # came out as finite iterates; DeepFool floored a NaN norm at the smallest normal number and
    # skipped that candidate
    tol = TOL[dtype]
    w, m, v, xa, x, g = cw_state((4, 37), dtype, 1, clip)
    g[1, 5] = float("nan")
    g[2, 30] = float("inf")
    ref = [a.clone() for a in (w, m, v, xa)]
    lo, hi = clip if clip is not None else (0.0, 1.0)
    l2 = np.empty(4, dtype=w.numpy().dtype)
    args = (0.01 / 0.1, math.sqrt(1 - 0.999), 0.9, 0.999, 1e-8, lo, hi, clip is not None)
    _core.cw_adam_step(*(a.numpy() for a in (w, m, v, xa, x, g)), *args, l2)
    want_l2 = cw_adam_step_torch_(*ref, x, g, *args[:5], clip)
    for name, got, want in zip("w m v xa".split(), (w, m, v, xa), ref, strict=True):
        _same_nan_then_close(got, want, tol, name)
    _same_nan_then_close(torch.from_numpy(l2), want_l2, 10 * tol, "l2sq")
    assert torch.isnan(xa[1, 5]) and not torch.isnan(xa[0]).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_deepfool_non_finite_gradients_give_nan_where_torch_does(dtype, clip):
    tol = TOL[dtype]
    for seed in range(4):
        grads, f, sel, rows, r_tot, x, x_adv = deepfool_problem(dtype, seed)
        grads[2][sel[1], 0, seed] = float("nan")  # one candidate of sample 1
        grads[0][sel[3], 1, 2] = float("nan")  # the true class of sample 3: every candidate
        r2, a2 = r_tot.clone(), x_adv.clone()
        deepfool_step_(grads, f, sel, rows, r_tot, x, x_adv, 0.02, clip)
        deepfool_step_torch_(grads, f, sel, rows, r2, x, a2, 0.02, clip)
        _same_nan_then_close(r_tot, r2, tol, f"r_tot, seed {seed}")
        _same_nan_then_close(x_adv, a2, tol, f"x_adv, seed {seed}")
        assert torch.isnan(x_adv[rows[3]]).any() and not torch.isnan(x_adv[rows[0]]).any()


def test_deepfool_kernel_closed_form_one_candidate():
    """Two classes: r = (|f| / ||w|| + 1e-4) w / ||w||, w = g_1 - g_0."""
    g0 = torch.tensor([[1.0, 0.0, 2.0]], dtype=torch.float64)
    g1 = torch.tensor([[4.0, 4.0, 2.0]], dtype=torch.float64)  # w = (3, 4, 0), ||w|| = 5
    f = torch.tensor([[-2.0]], dtype=torch.float64)
    r_tot = torch.zeros(1, 3, dtype=torch.float64)
    x = torch.full((1, 3), 0.5, dtype=torch.float64)
    x_adv = x.clone()
    deepfool_step_([g0, g1], f, torch.tensor([0]), torch.tensor([0]), r_tot, x, x_adv, 0.0, None)
    want = (2.0 / 5.0 + 1e-4) / 5.0 * torch.tensor([[3.0, 4.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(r_tot, want, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(x_adv, x + want, rtol=1e-14, atol=1e-15)


def test_kernel_bad_input():
    grads, f, sel, rows, r_tot, x, x_adv = deepfool_problem(torch.float64, 0)
    args = [g.numpy() for g in grads], f.numpy(), sel.numpy(), rows.numpy()
    tail = (r_tot.numpy(), x.numpy(), x_adv.numpy(), 0.02, 0.0, 1.0)
    with pytest.raises(ValueError, match="rows has a repeated entry"):
        _core.deepfool_step(*args[:3], np.array([1, 1, 2, 3]), *tail)
    with pytest.raises(ValueError, match="sel has an entry outside"):
        _core.deepfool_step(args[0], args[1], np.array([0, 1, 2, 7]), args[3], *tail)
    with pytest.raises(ValueError, match="f must have shape"):
        _core.deepfool_step(args[0], args[1][:, :2].copy(), *args[2:], *tail)
    with pytest.raises(ValueError, match="grads must hold at least 2"):
        _core.deepfool_step(args[0][:1], args[1], *args[2:], *tail)
    with pytest.raises(ValueError, match=r"grads\[j\] must have shape"):
        _core.deepfool_step([args[0][0], args[0][1][:, :2].copy()], *args[1:], *tail)
    w, m, v, xa, x, g = (a.numpy() for a in cw_state((3, 4), torch.float64, 0, (0.0, 1.0)))
    l2 = np.empty(3)
    with pytest.raises(ValueError, match="grad must have shape"):
        _core.cw_adam_step(w, m, v, xa, x, g[:2], 0.1, 1.0, 0.9, 0.999, 1e-8, 0, 1, True, l2)
    with pytest.raises(ValueError, match="l2sq must have shape"):
        _core.cw_adam_step(w, m, v, xa, x, g, 0.1, 1.0, 0.9, 0.999, 1e-8, 0, 1, True, l2[:2])
    with pytest.raises(ValueError, match="clip must satisfy"):
        _core.cw_adam_step(w, m, v, xa, x, g, 0.1, 1.0, 0.9, 0.999, 1e-8, 1, 0, True, l2)
    with pytest.raises(TypeError):
        _core.cw_adam_step(w, m, v, xa, x, g.astype(np.float32), 0.1, 1, 0.9, 0.999, 0, 0, 1, 1, l2)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5)).double()
    x = torch.rand(24, 20, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize(
    "attack",
    [
        lambda: DeepFool(steps=20, overshoot=0.02, candidates=4),
        lambda: CW(c=1.0, steps=30, lr=0.05, search_steps=2),
        lambda: CW(c=1.0, steps=20, lr=0.05, clip=None),
    ],
    ids=["deepfool", "cw", "cw-nobox"],
)
def test_attacks_same_with_kernels_and_torch(small_model, attack, monkeypatch):
    model, x, y = small_model
    a = attack()(model, x, y)
    monkeypatch.setattr(fused, "_cpu_kernel_ok", lambda *ts: False)
    b = attack()(model, x, y)
    monkeypatch.undo()
    assert a.success.any()
    torch.testing.assert_close(a.x_adv, b.x_adv, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(a.iterations, b.iterations)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_kernels_match_cpu(dtype):
    assert fused._cuda_kernel_ok(torch.zeros(1, device="cuda", dtype=dtype))
    w, _, _, _, x, g = cw_state((5, 3, 40), dtype, 1, (0.0, 1.0))
    cpu, gpu = CwAdam(w, x, 0.05, (0.0, 1.0)), CwAdam(w.cuda(), x.cuda(), 0.05, (0.0, 1.0))
    for s in range(4):
        lc, lg = cpu.step(g * (s + 1)), gpu.step(g.cuda() * (s + 1))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(gpu.xa.cpu(), cpu.xa, rtol=tol, atol=tol)
    torch.testing.assert_close(gpu.w.cpu(), cpu.w, rtol=tol, atol=tol)
    torch.testing.assert_close(lg.cpu(), lc, rtol=tol * 10, atol=tol)
    grads, f, sel, rows, r_tot, x, x_adv = deepfool_problem(dtype, 2)
    dev = [t.cuda() for t in (f, sel, rows, r_tot, x, x_adv)]
    deepfool_step_([q.cuda() for q in grads], *dev, 0.02, (0.0, 1.0))
    deepfool_step_(grads, f, sel, rows, r_tot, x, x_adv, 0.02, (0.0, 1.0))
    torch.testing.assert_close(dev[3].cpu(), r_tot, rtol=tol, atol=tol)
    torch.testing.assert_close(dev[5].cpu(), x_adv, rtol=tol, atol=tol)
