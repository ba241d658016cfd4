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
