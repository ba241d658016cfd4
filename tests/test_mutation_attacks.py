"""Attacks against hand-written eager torch references (torchattacks semantics): PGD/BIM with random
start, restarts and first-success bookkeeping; CW-L2 with torch.optim.Adam, its binary search and
best-so-far; DeepFool's candidate set; evaluate's counting; the AttackResult summary. Written by a
mutation audit: each test here failed with a plausible bug that every earlier test let through."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from infotheory.attacks import BIM, CW, FGSM, PGD, AttackResult, DeepFool, evaluate
from infotheory.attacks._step import random_start_

F64 = torch.float64


def small_model(d: int, k: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(d, 16, dtype=F64), nn.Tanh(), nn.Linear(16, k, dtype=F64)
    ).requires_grad_(False)


def margin_of(z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """max_{j != label} z_j - z_label, written without the library's helper."""
    zl = z[torch.arange(len(z)), label]
    mask = torch.nn.functional.one_hot(label, z.shape[1]).bool()
    return z.masked_fill(mask, -math.inf).max(1).values - zl


# ---------------------------------------------------------------- PGD / BIM reference


def ref_pgd(model, x, y, eps, alpha, steps, norm, random_start, restarts, seed, clip, loss, target):
    """PGD as torchattacks writes it (eager torch), with the library's documented additions: each
    sample keeps the first iterate at which it was fooled (checked before each step) and, over
    restarts, the first restart that fooled it (its final iterate included). Random start: L-inf uniform in the cube; L2 a
    Gaussian direction at radius eps * U^(1/d). Draw order: the start of restart 0, then 1, ..."""
    n, d = x.shape[0], x[0].numel()
    view = (n,) + (1,) * (x.dim() - 1)
    e = torch.as_tensor(eps, dtype=x.dtype).expand(n).reshape(view)
    a = torch.as_tensor(alpha, dtype=x.dtype).expand(n).reshape(view)
    gen = torch.Generator().manual_seed(seed)
    best, best_found = x.clone(), torch.zeros(n, dtype=torch.bool)
    best_iter = torch.full((n,), steps)
    for r in range(restarts):
        xa = x.clone()
        if random_start:
            if norm == "inf":
                u = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * e
            else:
                z = torch.randn(x.shape, generator=gen, dtype=x.dtype)
                rad = torch.rand(n, generator=gen, dtype=x.dtype) ** (1.0 / d)
                u = z / z.flatten(1).norm(dim=1).reshape(view) * e * rad.reshape(view)
            xa = x + u
            if clip is not None:
                xa = xa.clamp(*clip)
        found, keep, iters = torch.zeros(n, dtype=torch.bool), xa.clone(), torch.full((n,), steps)
        for t in range(steps):
            xr = xa.clone().requires_grad_(True)
            z = model(xr)
            pred = z.detach().argmax(1)
            ok = pred != y if target is None else pred == target
            new = ok & ~found
            keep[new], iters[new] = xa[new], t
            found |= new
            if target is None:
                lo = nn.functional.cross_entropy(z, y, reduction="sum") if loss == "ce" else None
                lo = margin_of(z, y).sum() if loss == "margin" else lo
            else:
                lo = -nn.functional.cross_entropy(z, target, reduction="sum")
                lo = -margin_of(z, target).sum() if loss == "margin" else lo
            (g,) = torch.autograd.grad(lo, xr)
            if norm == "inf":
                xa = x + torch.clamp(xa + a * g.sign() - x, -e, e)
            else:
                gn = g.flatten(1).norm(dim=1).reshape(view)
                xa = xa + a * torch.where(gn > 0, g / gn, torch.zeros_like(g))
                delta = xa - x
                dn = delta.flatten(1).norm(dim=1).reshape(view)
                xa = x + delta * torch.where(dn > e, e / dn, torch.ones_like(dn))
            if clip is not None:
                xa = xa.clamp(*clip)
        xa = torch.where(found.reshape(view), keep, xa)
        if r < restarts - 1:  # the final iterate counts as this restart's success too
            pred = model(xa).argmax(1)
            found |= pred != y if target is None else pred == target
        take = ~best_found
        best[take], best_iter[take] = xa[take], iters[take]
        best_found |= found
        if bool(best_found.all()):
            break
    return best, best_iter


@pytest.mark.parametrize(
    ("norm", "loss", "targeted", "eps", "alpha", "restarts"),
    [
        ("inf", "ce", False, 0.3, 0.03, 3),
        ("inf", "margin", True, 0.3, 0.03, 2),
        ("2", "ce", False, 0.8, None, 3),
        ("2", "margin", False, 0.8, None, 1),
    ],
)
def test_pgd_matches_eager_reference(norm, loss, targeted, eps, alpha, restarts):
    """Iterates, iteration counts and success flags of PGD (random start, restarts, default alpha
    2.5 eps / steps) equal the eager reference, on a batch where some samples are fooled in the
    first restart, some only later, some never, and some are misclassified at the start."""
    d, k, n, steps = 10, 3, 48, 4
    model = small_model(d, k, 0)
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(1), dtype=F64)
    y = model(x).argmax(1)
    y[:4] = (y[:4] + 1) % k  # misclassified at x
    target = (y + 1) % k if targeted else None
    kw = {"steps": steps, "norm": norm, "loss": loss, "seed": 5, "alpha": alpha}
    res = PGD(eps, restarts=restarts, **kw)(model, x, y, target=target)
    a = 2.5 * eps / steps if alpha is None else alpha
    want, iters = ref_pgd(model, x, y, eps, a, steps, norm, True, restarts, 5, (0, 1), loss, target)
    torch.testing.assert_close(res.x_adv, want, rtol=0, atol=1e-12)
    assert torch.equal(res.iterations, iters)
    pred = model(want).argmax(1)
    assert torch.equal(res.success, pred != y if target is None else pred == target)
    assert 0 < int(res.success.sum()) < n  # not vacuous: fooled and unfooled samples
    if restarts > 1:  # restarts that mattered; the first restart's successes kept as they were
        one = PGD(eps, **kw)(model, x, y, target=target)
        assert int(res.success.sum()) > int(one.success.sum())
        assert bool(res.success[one.success].all())
        torch.testing.assert_close(res.x_adv[one.success], one.x_adv[one.success], rtol=0, atol=0)


def test_bim_default_alpha_and_no_random_start():
    """BIM: no random start, alpha = 2.5 eps / steps by default (Madry's rule), the first iterate
    checked is x itself (a misclassified sample stays at x, iteration 0)."""
    d, k, n = 10, 3, 32
    model = small_model(d, k, 2)
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(3), dtype=F64)
    y = model(x).argmax(1)
    y[0] = (y[0] + 1) % k
    assert BIM(0.2, steps=8).alpha == pytest.approx(2.5 * 0.2 / 8, rel=1e-15)
    assert PGD(0.3, steps=10).alpha == pytest.approx(0.075, rel=1e-15)
    res = BIM(0.1, steps=8)(model, x, y)
    want, iters = ref_pgd(
        model, x, y, 0.1, 2.5 * 0.1 / 8, 8, "inf", False, 1, 0, (0, 1), "ce", None
    )
    torch.testing.assert_close(res.x_adv, want, rtol=0, atol=1e-12)
    assert torch.equal(res.iterations, iters)
    assert torch.equal(res.x_adv[0], x[0]) and int(res.iterations[0]) == 0
    assert bool((res.iterations[~res.success] == 8).all()) and not bool(res.success.all())
    # FGSM takes one step of size eps (alpha = eps), from x (no random start)
    f = FGSM(0.05)(model, x, y)
    want, _ = ref_pgd(model, x, y, 0.05, 0.05, 1, "inf", False, 1, 0, (0, 1), "ce", None)
    want[0] = torch.clamp(x[0] + 0.05 * f.x_adv[0].sub(x[0]).sign(), 0, 1)  # FGSM keeps no "first"
    torch.testing.assert_close(f.x_adv[1:], want[1:], rtol=0, atol=1e-12)
    assert float(f.linf[0]) > 0  # FGSM steps a misclassified sample too


class _Band(nn.Module):
    """1-d, two classes: class 1 exactly when |x - 0.4| < 0.1 (logit 0.01 - (x - 0.4)^2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 0.01 - (x[:, :1] - 0.4) ** 2
        return torch.cat([torch.zeros_like(f), f], 1)


def test_first_success_is_kept_when_later_iterates_leave_the_region():
    """BIM with alpha 0.25 from x = 0.1 on the band model: 0.1 (class 0) -> 0.35 (class 1,
    fooled after one step) -> 0.6 (class 0 again) -> 0.35 -> 0.6. The attack returns 0.35, one
    iteration; the final iterate 0.6 would be a failure, a later success a later iteration. An
    unfooled sample reports every step as used."""
    x = torch.tensor([[0.1], [0.9]], dtype=F64)
    y = torch.zeros(2, dtype=torch.int64)
    eps = torch.tensor([1.0, 0.1], dtype=F64)  # the second sample cannot reach the band
    res = BIM(eps, alpha=0.25, steps=4)(_Band(), x, y)
    torch.testing.assert_close(res.x_adv[0], torch.tensor([0.35], dtype=F64), rtol=0, atol=1e-15)
    assert res.success.tolist() == [True, False]
    assert res.iterations.tolist() == [1, 4]


# ---------------------------------------------------------------- random start


def test_linf_random_start_is_uniform_in_the_cube_and_clipped():
    n, d, eps = 2000, 4, 0.3
    x0 = torch.full((n, d), 0.5, dtype=F64)
    x = torch.empty_like(x0)
    e = torch.full((n,), eps, dtype=F64)
    random_start_(x, x0, e, "inf", None, torch.Generator().manual_seed(0))
    u = ((x - x0) / eps).flatten()
    assert float(u.abs().max()) <= 1.0
    assert stats.kstest(u.numpy(), "uniform", args=(-1, 2)).pvalue > 1e-3
    # the box clips the start (x0 near the edge, eps beyond it)
    x0 = torch.full((n, d), 0.95, dtype=F64)
    random_start_(x, x0, e, "inf", (0.0, 1.0), torch.Generator().manual_seed(1))
    assert float(x.max()) == 1.0 and float(x.min()) >= 0.65
    assert float((x == 1.0).double().mean()) == pytest.approx(0.25 / 0.6, abs=0.03)
    random_start_(x, x0, e, "2", (0.0, 1.0), torch.Generator().manual_seed(2))
    assert float(x.max()) == 1.0


# ---------------------------------------------------------------- CW reference


def ref_cw(model, x, y, c0, steps, lr, kappa, search_steps, clip, target, abort_early=True):
    """CW-L2 as torchattacks / the paper write it: torch.optim.Adam on w with x' = lo + h (tanh w
    + 1) (x' = w without a box), loss ||x' - x||^2 + c max(kappa - m, 0) with m the attack's
    margin; every iterate (before its step) that reaches the margin and is closer than the best so
    far becomes the best; c bisects per sample (x10 while no success); early abort when the loss
    has not fallen by 1e-4 relative over a tenth of the steps. Unfooled samples: last iterate."""
    n = x.shape[0]
    view = (n,) + (1,) * (x.dim() - 1)
    if clip is not None:
        lo, hi = clip
        h = (hi - lo) / 2
        w0 = torch.atanh(((x - lo) / h - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    else:
        w0 = x.clone()

    def to_x(w):
        return lo + h * (torch.tanh(w) + 1) if clip is not None else w

    label = y if target is None else target
    c = torch.full((n,), c0, dtype=x.dtype)
    lower, upper = torch.zeros(n, dtype=x.dtype), torch.full((n,), math.inf, dtype=x.dtype)
    best_l2, best = torch.full((n,), math.inf, dtype=x.dtype), x.clone()
    iters = torch.zeros(n, dtype=torch.int64)
    last = x
    for _ in range(max(1, search_steps)):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool)
        prev, every = math.inf, max(1, steps // 10)
        for t in range(steps):
            xa = to_x(w)
            z = model(xa)
            m = margin_of(z, label) if target is None else -margin_of(z, label)
            l2 = (xa - x).flatten(1).square().sum(1)
            loss = (l2 + c * (kappa - m).clamp_min(0)).sum()
            with torch.no_grad():
                ok = m >= kappa if kappa > 0 else m > 0
                better = ok & (l2 < best_l2)
                best[better] = xa[better]
                best_l2 = torch.where(better, l2, best_l2)
                found |= ok
                iters += 1
            opt.zero_grad()
            loss.backward()
            opt.step()
            if abort_early and (t + 1) % every == 0:
                cur = float(loss.detach())
                if cur > prev * (1 - 1e-4):
                    break
                prev = cur
        last = to_x(w.detach())
        upper = torch.where(found, torch.minimum(upper, c), upper)
        lower = torch.where(found, lower, torch.maximum(lower, c))
        c = torch.where(torch.isfinite(upper), (lower + upper) / 2, c * 10)
    fooled = torch.isfinite(best_l2).reshape(view)
    return torch.where(fooled, best, last).detach(), iters


@pytest.mark.parametrize(
    ("c", "kappa", "search", "clip", "targeted", "abort"),
    [
        (0.05, 0.0, 4, (0.0, 1.0), False, True),
        (0.5, 0.3, 3, (0.0, 1.0), True, False),
        (0.05, 0.0, 3, None, False, False),
    ],
)
def test_cw_matches_eager_reference(c, kappa, search, clip, targeted, abort):
    """Iterates and iteration counts of CW-L2 (fused Adam, binary search, best-so-far) equal the
    eager reference on a batch with samples fooled at every run, at some runs only, and never."""
    d, k, n = 8, 3, 24
    model = small_model(d, k, 4)
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(6), dtype=F64) * 0.8 + 0.1
    y = model(x).argmax(1)
    y[:2] = (y[:2] + 1) % k  # fooled at x itself: best is x' = x (up to the tanh round trip)
    target = (y + 2) % k if targeted else None
    atk = CW(c=c, steps=30, lr=0.05, kappa=kappa, search_steps=search, clip=clip, abort_early=abort)
    res = atk(model, x, y, target=target)
    want, iters = ref_cw(model, x, y, c, 30, 0.05, kappa, search, clip, target, abort)
    torch.testing.assert_close(res.x_adv, want, rtol=1e-9, atol=1e-9)
    assert torch.equal(res.iterations, iters)
    assert 0 < int(res.success.sum()) < n
    if not targeted:
        assert bool(res.success[:2].all()) and float(res.l2[:2].max()) < 1e-5
    unfooled = ~res.success
    assert float((res.x_adv - x)[unfooled].abs().max()) > 1e-3  # the last iterate, not x


def test_cw_l2_is_above_the_exact_boundary_distance_on_a_linear_model():
    """Binary affine classifier: any x' with the other label is at least |f| / ||w|| from x (the
    exact distance); CW with its search gets within 2% of it, from above."""
    g = torch.Generator().manual_seed(7)
    d, n = 6, 20
    w = torch.randn(2, d, generator=g, dtype=F64)
    lin = nn.Linear(d, 2, dtype=F64).requires_grad_(False)
    lin.weight.copy_(w)
    lin.bias.copy_(torch.tensor([0.1, -0.1], dtype=F64))
    x = torch.randn(n, d, generator=g, dtype=F64) * 0.3
    z = lin(x)
    y = z.argmax(1)
    dist = (z[:, 1] - z[:, 0]).abs() / (w[1] - w[0]).norm()
    res = CW(c=0.1, steps=200, lr=0.01, search_steps=8, clip=None)(lin, x, y)
    assert bool(res.success.all())
    assert bool((res.l2 >= dist * (1 - 1e-9)).all())
    assert bool((res.l2 <= dist * 1.02).all())


# ---------------------------------------------------------------- DeepFool


def test_deepfool_candidates_limit_the_classes_considered():
    """candidates=2 on a 5-class affine model: only the runner-up class at x is linearised, so the
    one step lands at |z_r - z_y| / ||w_r - w_y|| (+1e-4) along w_r - w_y, r the runner-up."""
    rng = np.random.default_rng(8)
    d, k, n = 6, 5, 30
    w, b, x = rng.normal(size=(k, d)), rng.normal(size=k), rng.normal(size=(n, d))
    lin = nn.Linear(d, k, dtype=F64).requires_grad_(False)
    lin.weight.copy_(torch.from_numpy(w))
    lin.bias.copy_(torch.from_numpy(b))
    z = x @ w.T + b
    y = z.argmax(1)
    r = np.argsort(z, axis=1)[:, -2]
    dw = w[r] - w[y]
    dist = (z[np.arange(n), y] - z[np.arange(n), r]) / np.linalg.norm(dw, axis=1)
    want = x + ((dist + 1e-4) / np.linalg.norm(dw, axis=1))[:, None] * dw
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    res = DeepFool(steps=1, overshoot=0.0, candidates=2, clip=None)(lin, xt, yt)
    np.testing.assert_allclose(res.x_adv.numpy(), want, rtol=1e-12, atol=1e-12)
    full = DeepFool(steps=1, overshoot=0.0, clip=None)(lin, xt, yt)
    assert bool((full.l2 <= res.l2 + 1e-12).all()) and bool((full.l2 < res.l2 - 1e-6).any())


# ---------------------------------------------------------------- evaluate and the summary


def test_evaluate_without_early_stop_attacks_every_sample():
    """Without early_stop every sample is attacked, clean mistakes included; robust accuracy is
    the share still correct at x_adv over all n (checked by hand)."""
    model = small_model(5, 3, 9)
    x = torch.rand(40, 5, generator=torch.Generator().manual_seed(10), dtype=F64)
    y = model(x).argmax(1)
    y[:7] = (y[:7] + 1) % 3
    atk = FGSM(0.05)
    rep = evaluate(model, (x, y), {"fgsm": atk}, batch_size=16, progress=False)
    res = atk(model, x, y)
    st = rep.stats["fgsm"]
    assert rep["clean"] == pytest.approx(33 / 40, abs=0)
    assert st.attacked == 40 and st.success == int(res.success.sum())
    assert 0 < st.success < 40  # the medians below are over the fooled samples only
    assert st.median_l2 == float(res.l2[res.success].double().median())
    assert st.median_linf == float(res.linf[res.success].double().median())
    assert rep["fgsm"] == pytest.approx(float((~res.success).double().mean()), abs=0)
    es = evaluate(model, (x, y), {"fgsm": atk}, batch_size=16, progress=False, early_stop=True)
    assert es.stats["fgsm"].attacked == 33
    clean_ok = model(x).argmax(1) == y
    assert es["fgsm"] == pytest.approx(float(((~res.success) & clean_ok).double().mean()), abs=0)


def test_result_summary_counts_only_successes():
    ok = torch.tensor([True, False, True, True, False])
    norms = torch.tensor([0.1, 9.0, 0.3, 0.2, 8.0], dtype=F64)
    l2 = norms * 2
    res = AttackResult(
        x_adv=torch.zeros(5, 1),
        success=ok,
        norms=norms,
        l2=l2,
        linf=norms,
        adv_labels=torch.zeros(5, dtype=torch.int64),
        iterations=torch.tensor([1, 10, 2, 3, 10]),
        attack="pgd",
        norm="inf",
    )
    s = res.to_dict()
    assert s["success_rate"] == pytest.approx(0.6, rel=1e-7)
    assert s["median_norm"] == pytest.approx(0.2, abs=1e-15)
    assert s["mean_norm"] == pytest.approx(0.2, abs=1e-15)
    assert s["median_l2"] == pytest.approx(0.4, abs=1e-15)
    assert s["median_linf"] == pytest.approx(0.2, abs=1e-15)
    assert s["mean_iterations"] == pytest.approx(26 / 5, abs=1e-15)


def test_labels_outside_the_classes_are_refused():
    model = small_model(4, 3, 11)
    x = torch.rand(5, 4, dtype=F64)
    y = torch.tensor([0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="y must be < 3"):
        FGSM(0.1)(model, x, torch.tensor([0, 1, 3, 0, 1]))
    with pytest.raises(ValueError, match="target must be < 3"):
        PGD(0.1, steps=1)(model, x, y, target=torch.tensor([0, 1, 3, 0, 1]))
    with pytest.raises(ValueError, match="y must be >= 0, got -1"):
        FGSM(0.1)(model, x, torch.tensor([0, 1, -1, 0, 1]))
    with pytest.raises(ValueError, match="target must be >= 0, got -1"):
        PGD(0.1, steps=1)(model, x, y, target=torch.tensor([0, 1, -1, 0, 1]))
    with pytest.raises(ValueError, match="clip"):
        FGSM(0.1, clip=(0.5, 0.5))


class _Cycling(nn.Module):
    """A stochastic-looking model with a fixed cycle of three outputs per call: logits (100, 0),
    then (0, 5) twice. The mean softmax of any three consecutive calls favours class 1 (about 1/3
    vs 2/3); the mean logits would favour class 0 (33.3 vs 3.3)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = [[100.0, 0.0], [0.0, 5.0], [0.0, 5.0]][self.calls % 3]
        self.calls += 1
        return torch.tensor(z, dtype=x.dtype).repeat(x.shape[0], 1) + 0 * x.sum(1, keepdim=True)


def test_eot_labels_follow_the_mean_softmax():
    x = torch.full((3, 4), 0.5, dtype=F64)
    y = torch.zeros(3, dtype=torch.int64)
    res = FGSM(0.0, eot=3)(_Cycling(), x, y)
    assert res.adv_labels.tolist() == [1, 1, 1] and bool(res.success.all())


def test_cw_aborts_a_run_whose_loss_stopped_falling():
    """A model whose logits do not depend on x and no box: w = x, every gradient is 0 and the
    loss is exactly constant. With steps=20 the loss is checked every 2 steps: the first check
    (after step 2) records it, the second (after step 4) sees no fall and stops the run."""

    class Constant(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tensor([2.0, 0.0], dtype=x.dtype) + 0 * x.sum(1, keepdim=True)

    x = torch.rand(3, 4, generator=torch.Generator().manual_seed(12), dtype=F64)
    y = torch.zeros(3, dtype=torch.int64)
    res = CW(c=1.0, steps=20, clip=None, search_steps=2)(Constant(), x, y)
    assert res.iterations.tolist() == [8, 8, 8]  # 4 per run, two runs
    torch.testing.assert_close(res.x_adv, x, rtol=0, atol=0)
    assert not bool(res.success.any())
    full = CW(c=1.0, steps=20, clip=None, abort_early=False)(Constant(), x, y)
    assert full.iterations.tolist() == [20, 20, 20]
