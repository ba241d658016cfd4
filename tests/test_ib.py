"""infotheory.ib models and losses: closed-form KL (math.md §B3.2), sampling shapes, the EMA, arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from infotheory.ib import EMA, VIB, CEClassifier, build_model, gaussian_kl, label_entropy, vib_loss


def test_kl_reference_value() -> None:
    # math.md §B3.2: mu = (.5, -1), sigma = (.8, 1.2) -> 0.705822 nats = 1.018286 bits
    kl = gaussian_kl(
        torch.tensor([0.5, -1.0], dtype=torch.float64),
        torch.tensor([0.8, 1.2], dtype=torch.float64),
    )
    assert float(kl) == pytest.approx(0.705822, abs=1e-6)
    assert float(kl) / math.log(2) == pytest.approx(1.018286, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.floats(-3, 3),
    st.floats(0.05, 3),
    st.integers(0, 2**31 - 1),
)
def test_kl_matches_torch_distributions(n: int, k: int, m: float, s: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    mu = m + torch.randn(n, k, generator=g, dtype=torch.float64)
    sigma = s * torch.exp(0.5 * torch.randn(n, k, generator=g, dtype=torch.float64))
    p = torch.distributions.Normal(mu, sigma)
    q = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(sigma))
    ref = torch.distributions.kl_divergence(p, q).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, sigma), ref, rtol=1e-10, atol=1e-12)


def test_kl_monte_carlo() -> None:
    g = torch.Generator().manual_seed(0)
    mu, sigma = (
        torch.tensor([0.5, -1.0], dtype=torch.float64),
        torch.tensor([0.8, 1.2], dtype=torch.float64),
    )
    t = mu + sigma * torch.randn(400_000, 2, generator=g, dtype=torch.float64)
    logp = torch.distributions.Normal(mu, sigma).log_prob(t).sum(-1)
    logr = torch.distributions.Normal(0.0, 1.0).log_prob(t).sum(-1)
    assert float((logp - logr).mean()) == pytest.approx(0.705822, abs=0.01)


def test_vib_loss_is_ce_plus_beta_kl() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0])
    mu = torch.randn(5, 4, generator=g, dtype=torch.float64)
    sigma = torch.rand(5, 4, generator=g, dtype=torch.float64) + 0.1
    loss, ce, kl = vib_loss(logits, y, mu, sigma, beta=0.01)
    ce_ref = -np.mean([torch.log_softmax(logits[i], 0)[y[i]].item() for i in range(5)])
    kl_ref = np.mean(
        [
            0.5 * np.sum(s**2 + m**2 - 1 - np.log(s**2))
            for m, s in zip(mu.numpy(), sigma.numpy(), strict=True)
        ]
    )
    assert float(ce) == pytest.approx(ce_ref, rel=1e-12)
    assert float(kl) == pytest.approx(kl_ref, rel=1e-12)
    assert float(loss) == pytest.approx(ce_ref + 0.01 * kl_ref, rel=1e-12)
    loss0, _, kl0 = vib_loss(logits, y, None, None, beta=0.5)
    assert float(kl0) == 0.0 and float(loss0) == pytest.approx(ce_ref, rel=1e-12)
    with pytest.raises(ValueError, match="beta"):
        vib_loss(logits, y, mu, sigma, beta=-1.0)
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(mu, sigma[:, :2])


def test_label_entropy() -> None:
    assert label_entropy(torch.arange(10).repeat(7)) == pytest.approx(math.log(10))
    assert label_entropy(torch.tensor([0, 0, 0, 1])) == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    )


def test_vib_mlp_structure_and_std_head() -> None:
    m = VIB.mlp(20, 4, K=3, widths=(8, 8, 6))
    assert isinstance(m.encoder, nn.Sequential)
    linears = [x for x in m.encoder if isinstance(x, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (20, 8),
        (8, 8),
        (8, 6),
        (6, 6),
    ]
    assert not any(isinstance(x, (nn.BatchNorm1d, nn.Dropout)) for x in m.modules())
    assert (m.decoder.in_features, m.decoder.out_features) == (3, 4)
    # rho = 0 gives sigma = softplus(-5) = 0.006715 (math.md §B3.2)
    with torch.no_grad():
        linears[-1].weight.zero_()
        linears[-1].bias.zero_()
    mu, sigma = m.encode(torch.randn(2, 20))
    assert mu.shape == sigma.shape == (2, 3)
    torch.testing.assert_close(sigma, torch.full((2, 3), 0.006715), atol=1e-6, rtol=0)
    assert m.encoder(torch.randn(2, 20)).shape == (2, 6)


def test_vib_sampling_shapes_and_eval_average() -> None:
    torch.manual_seed(0)
    m = VIB.mlp(12, 5, K=4, widths=(16,), samples=7)
    x = torch.rand(3, 1, 3, 4)  # images are flattened
    m.train()
    logits, mu, sigma = m(x, with_stats=True)
    assert logits.shape == (3, 5) and mu.shape == sigma.shape == (3, 4)
    eps = torch.randn(3, 4)
    torch.testing.assert_close(m(x, eps=eps), m.decoder(mu + sigma * eps))
    assert not torch.equal(m(x), m(x))  # a fresh draw each call
    m.eval()
    eps = torch.randn(7, 3, 4)
    out = m(x, eps=eps)
    probs = torch.softmax(m.decoder(mu + sigma * eps), -1).mean(0)
    torch.testing.assert_close(out, probs.log())
    assert m(x).shape == (3, 5)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3))


def test_ce_classifier_and_cnn_models() -> None:
    m = CEClassifier.mlp(784, 10, K=8, widths=(16, 16))
    x = torch.rand(2, 1, 28, 28)
    assert m(x).shape == (2, 10) and m.encode(x).shape == (2, 8)
    torch.testing.assert_close(m(x), m(x))
    logits, mu, sigma = m(x, with_stats=True)
    assert mu is None and sigma is None and logits.shape == (2, 10)
    v = VIB.cnn_mlp((3, 32, 32), 10, K=6, widths=(32,), channels=(4, 8))
    assert v(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert isinstance(v.encoder[0], nn.Conv2d) and v.encoder(torch.rand(2, 3, 32, 32)).shape == (
        2,
        12,
    )
    c = CEClassifier.cnn_mlp((1, 28, 28), 10, K=6, widths=(32,), channels=(4, 8))
    assert c(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_build_model_round_trip() -> None:
    for m in (
        VIB.mlp(10, 3, K=2, widths=(5,), samples=4),
        CEClassifier.cnn_mlp((1, 8, 8), 3, K=2, widths=(5,), channels=(2,)),
    ):
        fresh = build_model(m.config)
        assert type(fresh) is type(m)
        fresh.load_state_dict(m.state_dict())
        assert fresh.config == m.config
    assert build_model(VIB.mlp(10, 3, K=2, widths=(5,), samples=4).config).samples == 4
    with pytest.raises(ValueError, match="config"):
        build_model({"model": "gan"})


@pytest.mark.parametrize(
    ("call", "exc", "word"),
    [
        (lambda: VIB.mlp(0, 10), ValueError, "in_features"),
        (lambda: VIB.mlp(10, 1), ValueError, "n_classes"),
        (lambda: VIB.mlp(10, 10, K="8"), TypeError, "K"),
        (lambda: VIB.mlp(10, 10, widths=(8, 0)), ValueError, "widths"),
        (lambda: VIB.mlp(10, 10, samples=0), ValueError, "samples"),
        (lambda: CEClassifier.cnn_mlp((3, 32), 10), ValueError, "in_shape"),
        (lambda: CEClassifier.cnn_mlp((1, 2, 2), 10), ValueError, "too small"),
    ],
)
def test_bad_model_arguments(call, exc: type, word: str) -> None:
    with pytest.raises(exc, match=word):
        call()


# ---------------------------------------------------------------------------------------------- EMA
def _lin(v: float) -> nn.Linear:
    m = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(v)
    return m


def test_ema_bias_corrected_ramped() -> None:
    m = _lin(3.0)
    ema = EMA(m, 0.999)
    for _ in range(5):
        ema.update(m)
    # a constant sequence averages to itself exactly (bias correction), not to (1 - 0.999^5) * 3
    assert float(ema.averaged()["weight"]) == pytest.approx(3.0, rel=1e-6)
    # hand-computed: values 1, 2, 3, 4 with decays d_n = min(0.999, (1+n)/(10+n))
    ema, vals = EMA(_lin(0.0), 0.999), [1.0, 2.0, 3.0, 4.0]
    s, prod = 0.0, 1.0
    for n, v in enumerate(vals, start=1):
        d = min(0.999, (1 + n) / (10 + n))
        assert ema.step_decay() == pytest.approx(d)
        s, prod = d * s + (1 - d) * v, prod * d
        ema.update(_lin(v))
    assert float(ema.averaged()["weight"]) == pytest.approx(s / (1 - prod), rel=1e-6)
    # the ramp keeps recent iterates weighty early on: far from the plain mean 2.5, near the last value
    assert float(ema.averaged()["weight"]) > 3.0
    # decay 0 follows the model
    e0 = EMA(_lin(0.0), 0.0)
    e0.update(_lin(5.0))
    e0.update(_lin(7.0))
    assert float(e0.averaged()["weight"]) == 7.0
    target = _lin(0.0)
    e0.copy_to(target)
    assert float(target.weight.detach()) == 7.0
    state = e0.state_dict()
    e1 = EMA(_lin(0.0), 0.5)
    e1.load_state_dict(state)
    assert float(e1.averaged()["weight"]) == 7.0 and e1.decay == 0.0


def test_ema_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ema"):
        EMA(_lin(0.0), 1.0)
    with pytest.raises(ValueError, match="no updates"):
        EMA(_lin(0.0), 0.9).averaged()


# ------------------------------------------------------------------------------------ MI estimates
def test_estimate_mi_matches_manual_bounds() -> None:
    from infotheory.ib import estimate_mi

    torch.manual_seed(0)
    m = VIB.mlp(6, 3, K=2, widths=(8,), samples=5)
    x, y = torch.rand(7, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    r = estimate_mi(m, x, y, batch_size=100, seed=3)
    mu, sigma = (t.detach() for t in m.encode(x))
    eps = torch.randn((5, 7, 2), generator=torch.Generator().manual_seed(3))
    logp = torch.log_softmax(m.decoder(mu + sigma * eps), -1)
    ce = -logp.detach()[
        :, torch.arange(7), y
    ].mean()  # E_t[-ln q(y|t)], the bound's term (math.md §B3.3)
    h = -sum(p * math.log(p) for p in (3 / 7, 2 / 7, 2 / 7))
    assert r["ixt"] == pytest.approx(float(gaussian_kl(mu, sigma).mean()), rel=1e-5)
    assert r["iyt"] == pytest.approx(h - float(ce), rel=1e-5, abs=1e-6)
    assert r["ixt_bits"] == pytest.approx(r["ixt"] / math.log(2))
    assert r["acc"] == pytest.approx(float((logp.logsumexp(0).argmax(-1) == y).double().mean()))
    assert m.training  # mode restored
    # batching does not change the result (same draws, in order)
    r2 = estimate_mi(m, x, y, batch_size=7, seed=3)
    assert r2["ixt"] == pytest.approx(r["ixt"], rel=1e-6)

    def shift(model, xb, yb):  # an "attack" that moves every input
        return (xb + 0.5).clamp(0, 1)

    ra = estimate_mi(m, x, y, adversary=shift, seed=3)
    mu_a, sigma_a = (t.detach() for t in m.encode((x + 0.5).clamp(0, 1)))
    assert ra["ixt_adv"] == pytest.approx(float(gaussian_kl(mu_a, sigma_a).mean()), rel=1e-5)
    assert ra["ixt"] == pytest.approx(r["ixt"], rel=1e-6) and "acc_adv" in ra
    rc = estimate_mi(CEClassifier.mlp(6, 3, K=2, widths=(4,)), x, y)
    assert rc["ixt"] is None and rc["iyt"] <= h
    with pytest.raises(ValueError, match="same non-zero length"):
        estimate_mi(m, x, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        estimate_mi(m, x, y, batch_size=0)


# ------------------------------------------------------------------- mutation audit: open behaviour
def _noisy_vib() -> VIB:
    """1-d bottleneck, 2 classes: mu = x - 1.5, sigma = softplus(8 - 5), logit difference = t."""
    m = VIB.mlp(1, 2, K=1, widths=(1,), samples=12)
    lin1, lin2 = (x for x in m.encoder if isinstance(x, nn.Linear))
    with torch.no_grad():
        lin1.weight.fill_(1.0)
        lin1.bias.zero_()
        lin2.weight.copy_(torch.tensor([[1.0], [0.0]]))
        lin2.bias.copy_(torch.tensor([-1.5, 8.0]))
        m.decoder.weight.copy_(torch.tensor([[0.0], [1.0]]))
        m.decoder.bias.zero_()
    return m


def test_estimate_mi_predicts_with_the_averaged_softmax_and_uses_h_y() -> None:
    from infotheory.ib import estimate_mi

    m = _noisy_vib()
    x = torch.linspace(0.0, 3.0, 300).reshape(-1, 1)
    mu, sigma = (t.detach() for t in m.encode(x))
    torch.testing.assert_close(sigma, torch.full_like(sigma, math.log1p(math.exp(3.0))))
    eps = torch.randn((12, 300, 1), generator=torch.Generator().manual_seed(5))
    t = mu + sigma * eps
    p_avg = torch.sigmoid(t[..., 0]).mean(0)  # the averaged softmax's class-1 probability
    y = (p_avg > 0.5).long()
    # the rule matters here: the mean log-probability (sign of the mean t) disagrees on some inputs
    assert int(((t[..., 0].mean(0) > 0).long() != y).sum()) >= 3
    r = estimate_mi(m, x, y, seed=5)
    assert r["acc"] == 1.0
    # the model's eval forward predicts the same way
    m.eval()
    assert torch.equal(m(x, eps=eps).argmax(-1), y)
    # I(Y;T) >= H(Y) - E[CE]: H(Y) is the given h_y when there is one, else the labels' entropy
    with torch.no_grad():
        ce = float(-torch.log_softmax(m.decoder(t), -1)[:, torch.arange(300), y].double().mean())
    assert r["h_y"] == pytest.approx(label_entropy(y), rel=1e-12)
    assert r["iyt"] == pytest.approx(r["h_y"] - ce, abs=1e-6)
    r2 = estimate_mi(m, x, y, seed=5, h_y=2.0)
    assert r2["h_y"] == 2.0 and r2["iyt"] == pytest.approx(2.0 - ce, abs=1e-6)
    assert r2["iyt_bits"] == pytest.approx(r2["iyt"] / math.log(2), rel=1e-12)


def test_vib_eval_average_over_any_number_of_draws() -> None:
    torch.manual_seed(3)
    m = VIB.mlp(5, 4, K=3, widths=(8,), samples=7).eval()
    x = torch.rand(6, 5)
    mu, sigma = m.encode(x)
    for s in (1, 3, 20):  # eps fixes the draws, however many (not model.samples)
        eps = torch.randn(s, 6, 3)
        probs = torch.softmax(m.decoder(mu + sigma * eps), -1).mean(0)
        torch.testing.assert_close(m(x, eps=eps), probs.log())
