"""infotheory.ib.Trainer on small data: history, warm-up, adversarial training, checkpoints, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from infotheory.ib import VIB, CEClassifier, History, Trainer

pytest.importorskip("sklearn")

KEYS = {"epoch", "loss", "ce", "kl", "ixt", "iyt", "ixt_adv", "train_acc", "test_acc", "seconds"}


@pytest.fixture(scope="module")
def digits():
    from infotheory.data import load

    d = load("digits")
    return (d.x_train[:600], d.y_train[:600]), (d.x_test[:200], d.y_test[:200])


def _vib(seed: int = 0, **kw) -> VIB:
    torch.manual_seed(seed)
    return VIB.mlp(64, 10, K=kw.pop("K", 8), widths=kw.pop("widths", (64, 32)), samples=4, **kw)


def test_fit_records_and_files(digits, tmp_path: Path) -> None:
    tr, te = digits
    t = Trainer(_vib(), beta=1e-3, lr=3e-3, batch_size=25, quiet=True, out=tmp_path)
    h = t.fit(tr, te, epochs=3)
    assert isinstance(h, History) and len(h) == 3 and h.column("epoch") == [1, 2, 3]
    for r in h.records:
        assert KEYS <= r.keys()
        assert r["ixt"] == r["kl"] > 0 and r["ixt_bits"] == pytest.approx(r["ixt"] / math.log(2))
        assert r["iyt"] == pytest.approx(
            math.log(10) - r["ce"], abs=0.02
        )  # H(Y) of near-balanced labels
        assert r["loss"] == pytest.approx(r["ce"] + 1e-3 * r["kl"])
        assert r["ixt_adv"] is None and r["seconds"] > 0
    assert h.last["test_acc"] > 0.6 and h.last["train_acc"] > 0.5  # chance is 0.1
    assert h.last["ce"] < h.records[0]["ce"]
    rows = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["test_acc"] == h.last["test_acc"]
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,loss,ce,kl,ixt")
    assert (tmp_path / "checkpoint.pt").is_file()


def test_ce_model_and_plain_module(digits) -> None:
    tr, te = digits
    torch.manual_seed(0)
    t = Trainer(CEClassifier.mlp(64, 10, K=8, widths=(32,)), lr=3e-3, batch_size=25, quiet=True)
    h = t.fit(tr, te, 2)
    assert h.last["kl"] is None and h.last["ixt"] is None and h.last["test_acc"] > 0.5
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    h = Trainer(net, lr=1e-2, batch_size=25, quiet=True).fit(tr, None, 2)
    assert h.last["test_acc"] is None and h.last["train_acc"] > 0.5


def test_beta_warmup_schedule() -> None:
    t = Trainer(_vib(), beta=0.1, beta_warmup_epochs=2, quiet=True)
    assert [t._beta_at(s, 10) for s in (0, 9, 19, 25)] == pytest.approx([0.005, 0.05, 0.1, 0.1])
    assert Trainer(_vib(), beta=0.1, quiet=True).beta_warmup_epochs == 1.0  # default at large beta
    assert Trainer(_vib(), beta=1e-3, quiet=True)._beta_at(0, 10) == 1e-3
    g = Trainer(_vib(), beta=0.1, beta_warmup_epochs=2, warmup_shape="geometric", quiet=True)
    assert [g._beta_at(s, 10) for s in (0, 9, 19, 25)] == pytest.approx(
        [0.1 * 1e-4 ** (1 - 1 / 20), 0.1 * 1e-4**0.5, 0.1, 0.1]
    )
    with pytest.raises(ValueError, match="warmup_shape"):
        Trainer(_vib(), warmup_shape="cosine")


@pytest.mark.parametrize(
    ("kw", "exc", "word"),
    [
        ({"beta": -1.0}, ValueError, "beta"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"adv_ratio": 1.5}, ValueError, "adv_ratio"),
        ({"adversary": 3}, TypeError, "adversary"),
        ({"ema": 1.0}, ValueError, "ema"),
        ({"beta_warmup_epochs": -1}, ValueError, "beta_warmup_epochs"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_trainer_arguments(kw: dict, exc: type, word: str) -> None:
    with pytest.raises(exc, match=word):
        Trainer(_vib(), **kw)


def test_bad_fit_arguments(digits) -> None:
    (x, y), _ = digits
    t = Trainer(_vib(), quiet=True)
    with pytest.raises(TypeError, match="model"):
        Trainer("net")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same non-zero length"):
        t.fit((x, y[:-1]), None, 1)
    with pytest.raises(TypeError, match="int64"):
        t.fit((x, y.float()), None, 1)
    with pytest.raises(TypeError, match="pair"):
        t.fit(x, None, 1)
    with pytest.raises(ValueError, match="epochs"):
        t.fit((x, y), None, -1)


# ------------------------------------------------------------------------------ adversarial training
class _Result:
    def __init__(self, x_adv: torch.Tensor) -> None:
        self.x_adv = x_adv


class TinyFGSM:
    """FGSM written against the infotheory.attacks API: ``atk(model, x, y).x_adv``; mode restored."""

    def __init__(self, eps: float) -> None:
        self.eps = eps
        self.sizes: list[int] = []

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> _Result:
        was = model.training
        model.eval()
        x = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), x)
        model.train(was)
        self.sizes.append(len(x))
        return _Result((x + self.eps * g.sign()).clamp(0, 1).detach())


def test_adversarial_training_mixes_ratio_and_tracks_adv_mi(digits) -> None:
    tr, te = digits
    atk = TinyFGSM(0.3)
    t = Trainer(
        _vib(), beta=1e-3, lr=3e-3, batch_size=40, adversary=atk, adv_ratio=0.25, quiet=True
    )
    h = t.fit(tr, te, 2)
    assert atk.sizes == [10] * 30  # 600 / 40 batches, a quarter of each adversarial
    r = h.last
    assert r["ixt_adv"] is not None and r["ixt_adv"] > 0 and r["iyt_adv"] is not None
    # adversarial inputs are harder: lower I(Y;T') than the clean I(Y;T)
    assert r["iyt_adv"] < r["iyt"]
    # no parameter gradient leaks from the attack into the step: zero ratio equals no adversary
    a = Trainer(_vib(1), lr=3e-3, adversary=TinyFGSM(0.3), adv_ratio=0.0, quiet=True)
    b = Trainer(_vib(1), lr=3e-3, quiet=True)
    a.fit(tr, None, 1)
    b.fit(tr, None, 1)
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


# ------------------------------------------------------------------------------ checkpoints, resume
def _trainer(out: Path, seed: int = 0) -> Trainer:
    return Trainer(
        _vib(seed), beta=1e-2, lr=3e-3, batch_size=50, adversary=TinyFGSM(0.2), ema=0.99,
        beta_warmup_epochs=2, lr_decay=0.9, out=out, quiet=True,
    )  # fmt: skip


def _strip(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_resume_is_bit_for_bit(digits, tmp_path: Path) -> None:
    tr, te = digits
    full = _trainer(tmp_path / "full")
    full.fit(tr, te, 3)
    part = _trainer(tmp_path / "part")
    part.fit(tr, te, 2)
    resumed = _trainer(
        tmp_path / "part", seed=123
    )  # different initial weights, replaced by the checkpoint
    h = resumed.fit(tr, te, 3, resume=True)
    for (k, v), (k2, v2) in zip(
        full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(v, v2), k
    for k, v in full.eval_model.state_dict().items():
        assert torch.equal(v, resumed.eval_model.state_dict()[k]), k
    assert _strip(h.records) == _strip(full.history.records)
    # resume=True with no checkpoint yet starts from scratch; resuming a finished run does nothing more
    fresh = _trainer(tmp_path / "fresh")
    assert len(fresh.fit(tr, te, 1, resume=True)) == 1
    assert len(_trainer(tmp_path / "full").fit(tr, te, 3, resume=True)) == 3


def test_corrupt_checkpoints_give_clear_errors(digits, tmp_path: Path, monkeypatch) -> None:
    from infotheory.ib import _state, load_checkpoint

    tr, _ = digits
    t = _trainer(tmp_path)
    t.fit(tr, None, 1)
    ck = tmp_path / "checkpoint.pt"
    good = ck.read_bytes()

    # a crash while writing the next checkpoint leaves the previous one intact
    def broken_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04partial")
        raise OSError("disk full")

    monkeypatch.setattr(_state.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        t.fit(tr, None, 2)
    monkeypatch.undo()
    assert ck.read_bytes() == good and load_checkpoint(tmp_path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "history.csv",
        "history.json",
    ]

    ck.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(ck)
    with pytest.raises(ValueError, match=r"checkpoint\.pt"):
        _trainer(tmp_path).fit(tr, None, 2, resume=True)
    torch.save({"weights": torch.ones(2)}, ck)
    with pytest.raises(ValueError, match="not an infotheory"):
        load_checkpoint(ck)
    torch.save({"evil": TinyFGSM(0.1)}, ck)  # an arbitrary object: refused by weights_only loading
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(ck)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_load_model_uses_averaged_weights(digits, tmp_path: Path) -> None:
    from infotheory.ib import load_model

    tr, te = digits
    t = Trainer(_vib(), lr=3e-3, ema=0.9, out=tmp_path, quiet=True)
    t.fit(tr, te, 1)
    m = load_model(tmp_path)
    assert not m.training and isinstance(m, VIB)
    x = te[0][:8]
    eps = torch.randn(4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(m(x, eps=eps), t.eval_model.eval()(x, eps=eps))
        raw = load_model(tmp_path, ema=False)
        torch.testing.assert_close(raw(x, eps=eps), t.model.eval()(x, eps=eps))


def test_custom_optimizer_and_lr_decay(digits) -> None:
    tr, _ = digits
    t = Trainer(_vib(), optimizer=lambda p: torch.optim.SGD(p, lr=0.5), lr_decay=0.5, quiet=True)
    assert isinstance(t.optimizer, torch.optim.SGD)
    h = t.fit((tr[0][:100], tr[1][:100]), None, 3)
    assert h.column("lr") == [0.5, 0.25, 0.125]


def test_adversarial_training_with_infotheory_attacks(digits) -> None:
    attacks = pytest.importorskip("infotheory.attacks")
    from infotheory.ib import estimate_mi

    tr, te = digits
    t = Trainer(_vib(), lr=3e-3, batch_size=50, adversary=attacks.FGSM(eps=0.3), quiet=True)
    r = t.fit(tr, te, 1).last
    assert r["ixt_adv"] > 0 and r["iyt_adv"] is not None and t.model.training
    est = estimate_mi(t.eval_model, *te, adversary=attacks.PGD(eps=0.2, steps=3, seed=0))
    assert est["acc_adv"] <= est["acc"] and est["ixt_adv"] > 0


# ------------------------------------------------------------------- mutation audit: open behaviour
def test_epoch_accounting_against_a_frozen_model() -> None:
    """With a frozen model (SGD at lr 0) and an identity "attack", every number of an epoch's record
    is recomputed from the trainer's documented draws: the permutation, then eps per step, from
    Generator(seed); round(adv_ratio * batch) adversarial rows first in each batch."""
    from infotheory.ib import gaussian_kl, label_entropy

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(110, 64, generator=g), torch.randint(0, 10, (110,), generator=g)
    xt, yt = torch.rand(23, 64, generator=g), torch.randint(0, 10, (23,), generator=g)
    sizes: list[int] = []

    def identity(model, xb, yb):
        sizes.append(len(xb))
        return xb.clone()

    beta, seed, bs = 0.05, 4, 25
    t = Trainer(
        _vib(), beta=beta, batch_size=bs, adversary=identity, adv_ratio=0.3, seed=seed,
        beta_warmup_epochs=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.0), quiet=True,
        eval_batch_size=7,
    )  # fmt: skip
    rec = t.fit((x, y), (xt, yt), 1).last
    assert sizes == [8, 8, 8, 8, 3]  # round(0.3 * 25) = round(7.5) = 8; round(0.3 * 10) = 3
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(110, generator=gen)
    sums = torch.zeros(7, dtype=torch.float64)  # clean ce, kl, hits, count; adv ce, kl, count
    m = t.model.train()
    with torch.no_grad():
        for i in range(5):
            idx = perm[i * bs : (i + 1) * bs]
            eps = torch.randn((len(idx), m.K), generator=gen)
            logits, mu, sigma = m(x[idx], eps=eps, with_stats=True)
            ce = torch.nn.functional.cross_entropy(logits, y[idx], reduction="none")
            kl = gaussian_kl(mu, sigma)
            a = sizes[i]
            hit = (logits[a:].argmax(1) == y[idx][a:]).sum()
            sums += torch.stack([ce[a:].sum(), kl[a:].sum(), hit, hit.new_tensor(len(idx) - a),
                                 ce[:a].sum(), kl[:a].sum(), hit.new_tensor(a)]).double()  # fmt: skip
    s = sums.tolist()
    h_y = label_entropy(y)
    beta_last = beta * 5 / (3 * 5)  # linear warm-up at step 5 of 3 epochs of 5 steps
    assert rec["beta"] == pytest.approx(beta_last, rel=1e-15)
    assert rec["ce"] == pytest.approx(s[0] / s[3], rel=1e-12)
    assert rec["kl"] == rec["ixt"] == pytest.approx(s[1] / s[3], rel=1e-12)
    assert rec["train_acc"] == pytest.approx(s[2] / s[3], rel=1e-12)
    assert rec["ixt_adv"] == pytest.approx(s[5] / s[6], rel=1e-12)
    assert rec["iyt_adv"] == pytest.approx(h_y - s[4] / s[6], rel=1e-12)
    assert rec["iyt"] == pytest.approx(h_y - s[0] / s[3], rel=1e-12)
    assert rec["loss"] == pytest.approx(s[0] / s[3] + beta_last * s[1] / s[3], rel=1e-12)
    assert rec["ixt_bits"] == pytest.approx(rec["ixt"] / math.log(2), rel=1e-12)
    # test metrics: the model evaluated with the epoch's seed, H(Y) of the training labels
    ev = t.evaluate(xt, yt, seed=seed + 7919)
    assert rec["test_acc"] == ev["acc"] and rec["test_ixt"] == ev["kl"]
    assert rec["test_iyt"] == pytest.approx(h_y - ev["ce"], rel=1e-12)
    with torch.no_grad():
        mu, sigma = t.model.encode(xt)
        assert ev["kl"] == pytest.approx(float(gaussian_kl(mu, sigma).double().mean()), rel=1e-6)


def test_default_warmup_threshold() -> None:
    # None: no warm-up below beta = 1e-2, one epoch from 1e-2 on
    assert Trainer(_vib(), beta=1e-2, quiet=True).beta_warmup_epochs == 1.0
    assert Trainer(_vib(), beta=0.0099, quiet=True).beta_warmup_epochs == 0.0
