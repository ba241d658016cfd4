"""infotheory.attacks: closed forms on linear models, ball/box invariants, success on a trained
model, DeepFool's exact one-step distance, CW's binary search, no parameter gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _blobs import trained_blobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from infotheory.attacks import BIM, CW, FGSM, PGD, AttackResult, DeepFool, Normalize, evaluate
from infotheory.attacks._base import loss_grad
from infotheory.attacks._step import random_start_


def linear(w: torch.Tensor, b: torch.Tensor) -> nn.Linear:
    lin = nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
    return lin


@pytest.fixture(scope="module")
def blobs() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small MLP trained to 100% on four separable blobs in [0, 1]^20."""
    return trained_blobs(n=256, d=20, k=4, noise=0.08, width=64, steps=200)


# ---------------------------------------------------------------- closed forms on linear models


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_fgsm_linear_binary_closed_form(loss):
    """For logits W x + b with two classes the loss rises fastest along w_other - w_y: FGSM's L-inf
    step is exactly eps * sign(w_other - w_y), its L2 step eps * (w_o - w_y) / ||w_o - w_y||."""
    g = torch.Generator().manual_seed(1)
    d, n, eps = 7, 16, 0.3
    w = torch.randn(2, d, generator=g, dtype=torch.float64)
    b = torch.randn(2, generator=g, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (n,), generator=g)
    model = linear(w, b)
    dw = w[1 - y] - w[y]
    res = FGSM(eps, loss=loss, clip=None)(model, x, y)
    torch.testing.assert_close(res.x_adv, x + eps * dw.sign(), rtol=0, atol=1e-15)
    torch.testing.assert_close(res.norms, torch.full((n,), eps, dtype=torch.float64))
    res2 = FGSM(eps, norm="2", loss=loss, clip=None)(model, x, y)
    want = x + eps * dw / dw.norm(dim=1, keepdim=True)
    torch.testing.assert_close(res2.x_adv, want, rtol=0, atol=1e-14)
    torch.testing.assert_close(res2.l2, torch.full((n,), eps, dtype=torch.float64))


def test_fgsm_linear_margin_multiclass_closed_form():
    """Margin loss on a linear model: the gradient is w_j* - w_y with j* the runner-up class."""
    g = torch.Generator().manual_seed(2)
    d, k, n, eps = 9, 5, 32, 0.05
    w = torch.randn(k, d, generator=g, dtype=torch.float64)
    b = torch.randn(k, generator=g, dtype=torch.float64)
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    model = linear(w, b)
    z = model(x).detach()
    y = z.argmax(1)
    runner = z.scatter(1, y[:, None], -np.inf).argmax(1)
    want = (x + eps * (w[runner] - w[y]).sign()).clamp(0, 1)
    res = FGSM(eps, loss="margin")(model, x, y)
    torch.testing.assert_close(res.x_adv, want, rtol=0, atol=1e-15)


def test_deepfool_affine_binary_one_step_exact():
    """On an affine binary classifier DeepFool reaches the boundary in one step, at distance
    |f| / ||w|| (plus the paper's 1e-4 push), scaled by 1 + overshoot."""
    g = torch.Generator().manual_seed(3)
    d, n, over = 12, 40, 0.02
    w = torch.randn(2, d, generator=g, dtype=torch.float64)
    b = torch.randn(2, generator=g, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    model = linear(w, b)
    y = model(x).argmax(1).detach()
    res = DeepFool(steps=50, overshoot=over, clip=None)(model, x, y)
    f = (model(x)[:, 1] - model(x)[:, 0]).detach().abs()
    dist = f / (w[1] - w[0]).norm()
    assert bool(res.success.all())
    assert bool((res.iterations == 1).all())
    torch.testing.assert_close(res.l2 / (1 + over) - 1e-4, dist, rtol=1e-12, atol=1e-12)
    # the direction is the normal of the boundary
    cos = nn.functional.cosine_similarity(res.x_adv - x, (w[1 - y] - w[y]), dim=1)
    torch.testing.assert_close(cos, torch.ones(n, dtype=torch.float64))


def test_deepfool_affine_multiclass_minimal_distance():
    """For a linear multi-class classifier the distance to the nearest other class's half-space is
    min_k |f_k| / ||w_k - w_y|| (float64 numpy reference); DeepFool gets it in one step."""
    rng = np.random.default_rng(4)
    d, k, n = 6, 5, 50
    w, b = rng.normal(size=(k, d)), rng.normal(size=k)
    x = rng.normal(size=(n, d))
    z = x @ w.T + b
    y = z.argmax(1)
    ref = np.array(
        [
            min(
                abs(z[i, j] - z[i, y[i]]) / np.linalg.norm(w[j] - w[y[i]])
                for j in range(k)
                if j != y[i]
            )
            for i in range(n)
        ]
    )
    model = linear(torch.from_numpy(w), torch.from_numpy(b))
    res = DeepFool(overshoot=0.0, clip=None)(model, torch.from_numpy(x), torch.from_numpy(y))
    assert bool((res.iterations == 1).all())
    np.testing.assert_allclose(res.l2.numpy() - 1e-4, ref, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- invariants (hypothesis)


class _Flat(nn.Module):
    def __init__(self, d: int, k: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(d, k, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x.flatten(1) @ self.w) * 3


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from([(5, 3), (4, 2, 3, 3), (3, 7), (6, 1, 4)]),
    norm=st.sampled_from(["inf", "2"]),
    eps=st.floats(0.0, 2.0),
    per_sample_eps=st.booleans(),
    random_start=st.booleans(),
    box=st.sampled_from([(0.0, 1.0), (-1.0, 2.0), None]),
    seed=st.integers(0, 1000),
)
def test_pgd_stays_in_ball_and_box(shape, norm, eps, per_sample_eps, random_start, box, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    n = shape[0]
    d = int(np.prod(shape[1:]))
    model = _Flat(d, 3, seed)
    y = torch.randint(0, 3, (n,), generator=g)
    e = torch.rand(n, generator=g, dtype=torch.float64) * eps if per_sample_eps else eps
    res = PGD(e, steps=5, norm=norm, random_start=random_start, clip=box, seed=seed)(model, x, y)
    bound = torch.as_tensor(e, dtype=torch.float64).expand(n)
    nrm = res.linf if norm == "inf" else res.l2
    assert bool((nrm <= bound * (1 + 1e-12) + 1e-12).all())
    if box is not None:
        assert float(res.x_adv.min()) >= box[0] and float(res.x_adv.max()) <= box[1]
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype


def test_l2_random_start_uniform_in_ball():
    """Radii of a uniform point in the d-ball: (r / eps)^d ~ U(0, 1); directions isotropic."""
    n, d, eps = 4000, 5, 0.7
    x0 = torch.zeros(n, d, dtype=torch.float64)
    x = torch.empty_like(x0)
    random_start_(
        x,
        x0,
        torch.full((n,), eps, dtype=torch.float64),
        "2",
        None,
        torch.Generator().manual_seed(5),
    )
    r = x.norm(dim=1)
    assert float(r.max()) <= eps * (1 + 1e-12)
    assert stats.kstest((r / eps).numpy() ** d, "uniform").pvalue > 1e-3
    # on the sphere each coordinate's mean is 0 with sd sqrt(E r^2 / d) / sqrt(n)
    assert float(x.mean(0).abs().max()) < 5 * eps / np.sqrt(d * n)
    # a sphere sampler would put every radius at eps: the test above would catch it
    assert float((r < 0.5 * eps).double().mean()) == pytest.approx(0.5**d, abs=0.02)


# ---------------------------------------------------------------- trained model


@pytest.mark.parametrize(
    "atk",
    [
        FGSM(0.3),
        BIM(0.2, steps=10),
        PGD(0.2, steps=20, seed=0),
        PGD(1.0, norm="2", steps=20, seed=0),
        PGD(0.2, steps=20, loss="margin", seed=0),
        DeepFool(),
        CW(c=1.0, steps=100, lr=0.05),
    ],
    ids=lambda a: repr(a)[:40],
)
def test_attacks_fool_trained_model(blobs, atk):
    model, x, y = blobs
    res = atk(model, x, y)
    assert isinstance(res, AttackResult)
    assert res.success_rate > 0.5
    # success flags agree with the model at x_adv
    torch.testing.assert_close(res.success, model(res.x_adv).argmax(1) != y)
    torch.testing.assert_close(res.adv_labels, model(res.x_adv).argmax(1))
    assert float(res.x_adv.min()) >= 0 and float(res.x_adv.max()) <= 1
    d = res.to_dict()
    assert d["n"] == x.shape[0] and 0.5 < d["success_rate"] <= 1


@pytest.mark.parametrize("cls", [FGSM, BIM, PGD])
def test_eps_zero_changes_nothing(blobs, cls):
    model, x, y = blobs
    res = cls(0.0)(model, x, y)
    torch.testing.assert_close(res.x_adv, x, rtol=0, atol=0)
    assert not bool(res.success.any())


def test_stronger_attacks_are_stronger(blobs):
    model, x, y = blobs
    acc = evaluate(
        model,
        x,
        y,
        {"fgsm": FGSM(0.15), "bim": BIM(0.15, steps=20), "pgd": PGD(0.15, steps=20, seed=0)},
        batch_size=100,
    )
    assert acc["clean"] == 1.0
    assert acc["bim"] <= acc["fgsm"] and acc["pgd"] <= acc["fgsm"]
    assert acc["pgd"] < 1.0


def test_evaluate_matches_manual(blobs):
    model, x, y = blobs
    atk = PGD(0.1, steps=10, seed=3)
    got = evaluate(model, x, y, {"pgd": atk}, batch_size=64)
    manual = [
        float((~atk(model, x[s : s + 64], y[s : s + 64]).success).sum()) for s in range(0, 256, 64)
    ]
    assert got["pgd"] == pytest.approx(sum(manual) / 256)
    assert got["clean"] == 1.0


def test_targeted_pgd_reaches_target(blobs):
    model, x, y = blobs
    target = (y + 1) % 4
    res = PGD(0.5, steps=40, seed=0)(model, x, y, target=target)
    assert res.success_rate > 0.9
    torch.testing.assert_close(res.success, res.adv_labels == target)


def test_cw_binary_search_beats_single_c(blobs):
    """From a c too small to succeed, the per-sample search fools every sample, with a median L2
    below that of every single c on the grid (the search's first run is the single-c run, so a
    sample's best can only improve on it)."""
    model, x, y = blobs
    xs, ys = x[:64], y[:64]
    search = CW(c=0.01, steps=60, lr=0.05, search_steps=6)(model, xs, ys)
    assert bool(search.success.all())
    med = float(search.l2.median())
    for c in (0.01, 0.1, 1.0, 10.0):
        single = CW(c=c, steps=60, lr=0.05)(model, xs, ys)
        if c == 0.01:
            assert single.success_rate < 0.5
            continue
        assert med < 0.97 * float(single.l2[single.success].median())
    again = CW(c=1.0, steps=60, lr=0.05, search_steps=3)(model, xs, ys)
    first = CW(c=1.0, steps=60, lr=0.05)(model, xs, ys)
    assert bool((again.l2 <= first.l2 + 1e-6)[first.success].all())


def test_margin_loss_sees_through_saturated_softmax():
    """A confident float32 model (logits x 1e4): the cross-entropy gradient underflows to zero and
    FGSM-CE does not move (false robustness); the margin loss still finds the boundary."""
    g = torch.Generator().manual_seed(6)
    w = torch.randn(3, 10, generator=g)
    model = nn.Sequential(linear(w * 1e4, torch.zeros(3)))
    x = torch.rand(64, 10, generator=g)
    y = model(x).argmax(1).detach()
    ce = FGSM(0.5, loss="ce")(model, x, y)
    mg = FGSM(0.5, loss="margin")(model, x, y)
    assert ce.success_rate < 0.1
    assert mg.success_rate > 0.5


def test_eot_averages_gradients():
    """eot=k is the mean of k independent gradients of a stochastic model (same random stream)."""

    class Noisy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x * (1 + torch.randn_like(x)))

    torch.manual_seed(0)
    model = Noisy()
    x, y = torch.rand(8, 4), torch.randint(0, 3, (8,))
    torch.manual_seed(1)
    g3, _ = loss_grad(model, x, y, "ce", 3)
    torch.manual_seed(1)
    gs = [loss_grad(model, x, y, "ce", 1)[0] for _ in range(3)]
    torch.testing.assert_close(g3, sum(gs) / 3)


# ---------------------------------------------------------------- hygiene and errors


def test_no_parameter_grads_and_modes_restored(blobs):
    model, x, y = blobs
    model.train()
    model[1].eval()  # a mixed state must come back exactly
    for atk in (FGSM(0.1), PGD(0.1, steps=3), DeepFool(steps=3), CW(steps=3)):
        atk(model, x[:16], y[:16])
        assert all(p.grad is None for p in model.parameters())
        assert model.training and model[0].training and not model[1].training
    model.eval()


def test_4d_inputs_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x, y = torch.rand(5, 1, 8, 8), torch.randint(0, 3, (5,))
    for atk in (FGSM(0.1), PGD(0.1, steps=3, norm="2"), DeepFool(steps=3), CW(steps=3)):
        res = atk(model, x, y)
        assert res.x_adv.shape == x.shape


def test_bad_input_raises(blobs):
    model, x, y = blobs
    with pytest.raises(ValueError, match="eps"):
        PGD(-0.1)
    with pytest.raises(ValueError, match="eps"):
        PGD(torch.tensor([0.1, -0.2]))
    with pytest.raises(ValueError, match="norm"):
        PGD(0.1, norm="l1")
    with pytest.raises(ValueError, match="loss"):
        FGSM(0.1, loss="hinge")
    with pytest.raises(ValueError, match="steps"):
        BIM(0.1, steps=0)
    with pytest.raises(ValueError, match="eot"):
        PGD(0.1, eot=0)
    with pytest.raises(ValueError, match="clip"):
        FGSM(0.1, clip=(1.0, 0.0))
    with pytest.raises(ValueError, match="y must be < 4"):
        FGSM(0.1)(model, x, torch.full_like(y, 7))
    with pytest.raises(ValueError, match="y must have shape"):
        FGSM(0.1)(model, x, y[:-1])
    with pytest.raises(ValueError, match="x must lie in the box"):
        FGSM(0.1)(model, x + 2, y)
    with pytest.raises(TypeError, match="y must hold integer"):
        FGSM(0.1)(model, x, y.float())
    with pytest.raises(TypeError, match="model"):
        FGSM(0.1)(lambda t: t, x, y)
    with pytest.raises(ValueError, match="eps has 3 entries"):
        PGD(torch.tensor([0.1, 0.2, 0.3]))(model, x, y)
    with pytest.raises(TypeError, match="steps must be an int"):
        PGD(0.1, steps=2.5)
    with pytest.raises(TypeError, match="eps must be a number"):
        FGSM("0.1")
    assert PGD(np.float32(0.1), steps=np.int64(3)).steps == 3  # numpy scalars are numbers
    with pytest.raises(ValueError, match="untargeted"):
        DeepFool()(model, x, y, target=y)


def test_normalize_wrapper_attacks_in_pixel_space():
    """A linear model behind per-channel normalisation: the input gradient is W / std, whose sign
    is W's (std > 0), so FGSM in pixel space is still x + eps * sign(w_other - w_y)."""
    g = torch.Generator().manual_seed(7)
    c, h = 3, 2
    w = torch.randn(2, c * h * h, generator=g, dtype=torch.float64)
    inner = nn.Sequential(nn.Flatten(), linear(w, torch.zeros(2, dtype=torch.float64)))
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    model = Normalize(inner, mean, std)
    x = torch.rand(10, c, h, h, generator=g, dtype=torch.float64) * 0.5 + 0.25
    m = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
    torch.testing.assert_close(model(x), inner((x - m) / s))
    y = model(x).argmax(1).detach()
    res = FGSM(0.1)(model, x, y)
    want = x + 0.1 * (w[1 - y] - w[y]).sign().view(10, c, h, h)
    torch.testing.assert_close(res.x_adv, want, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="std must be finite and positive"):
        Normalize(inner, 0.5, [0.1, 0.0, 0.2])
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(2, 4, 2, 2, dtype=torch.float64))


def test_eot_plumbing_on_deterministic_model(blobs):
    """Averaging identical passes changes nothing: eot=3 equals eot=1 on a deterministic model."""
    model, x, y = blobs
    xs, ys = x[:32], y[:32]
    for a, b in [
        (DeepFool(steps=10), DeepFool(steps=10, eot=3)),
        (CW(steps=20, lr=0.05), CW(steps=20, lr=0.05, eot=3)),
        (PGD(0.1, steps=5, seed=1), PGD(0.1, steps=5, seed=1, eot=3)),
    ]:
        ra, rb = a(model, xs, ys), b(model, xs, ys)
        torch.testing.assert_close(ra.x_adv, rb.x_adv, rtol=1e-5, atol=1e-6)


def test_cw_targeted(blobs):
    model, x, y = blobs
    target = (y[:64] + 2) % 4
    res = CW(c=1.0, steps=100, lr=0.05, search_steps=3)(model, x[:64], y[:64], target=target)
    assert res.success_rate > 0.9
    torch.testing.assert_close(res.success, res.adv_labels == target)


def test_eot_defeats_randomised_gradients():
    """A model whose output is a fixed linear map but whose input gradient carries a large random
    term (s * V, s ~ N(0, 10^2) per sample and pass): one-pass FGSM follows noise and mostly fails
    (the false robustness of gradient masking); averaging 500 passes recovers W's gradient."""

    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            g = torch.Generator().manual_seed(8)
            self.w = nn.Parameter(torch.randn(20, 3, generator=g))
            self.v = nn.Parameter(torch.randn(20, 3, generator=g))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = 10.0 * torch.randn(x.shape[0], 1)
            return x @ self.w + s * (x @ self.v - (x @ self.v).detach())

    torch.manual_seed(0)
    model = Masked()
    x = torch.rand(200, 20) * 0.6 + 0.2
    y = model(x).argmax(1).detach()
    one = FGSM(0.15, eot=1)(model, x, y)
    many = FGSM(0.15, eot=500)(model, x, y)
    assert one.success_rate < 0.25 and many.success_rate > 0.5


def test_restarts_keep_a_success_found_by_the_last_step():
    """A sample fooled only by the last step's iterate of a restart is fooled by that restart: a
    later restart must not replace it. Before the fix this batch lost one such sample, so PGD
    with restarts=3 fooled 2 samples where restarts=1 (the same first restart) fooled 3."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(10, 16, dtype=torch.float64), nn.Tanh(), nn.Linear(16, 3, dtype=torch.float64)
    ).requires_grad_(False)
    x = torch.rand(48, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = model(x).argmax(1)
    one = PGD(0.2, steps=6, norm="2", seed=5)(model, x, y)
    three = PGD(0.2, steps=6, norm="2", seed=5, restarts=3)(model, x, y)
    assert int(one.success.sum()) == 3
    assert bool(three.success[one.success].all())
    torch.testing.assert_close(three.x_adv[one.success], one.x_adv[one.success], rtol=0, atol=0)
    last_step = one.success & (one.iterations == 6)  # fooled by the final iterate only
    assert bool(last_step.any())


def test_eot_with_a_broadcast_input_gradient():
    """A model that reads x only through x.sum(): autograd returns its input gradient as a
    broadcast view. eot=2 summed the passes in place into that view and raised RuntimeError
    ("more than one element of the written-to tensor refers to a single memory location");
    now it equals eot=1 on this deterministic model."""
    lin = linear(
        torch.tensor([[1.0], [-1.0]], dtype=torch.float64),
        torch.tensor([0.0, 4.5], dtype=torch.float64),
    )

    class SumModel(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return lin(x.sum(1, keepdim=True))

    x = torch.full((4, 5), 0.5, dtype=torch.float64)
    y = torch.zeros(4, dtype=torch.int64)
    a = PGD(0.1, steps=3, seed=0)(SumModel(), x, y)
    b = PGD(0.1, steps=3, seed=0, eot=2)(SumModel(), x, y)
    torch.testing.assert_close(b.x_adv, a.x_adv, rtol=0, atol=1e-15)
    assert bool(b.success.all())
