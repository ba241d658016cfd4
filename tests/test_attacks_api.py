"""infotheory.attacks public API: bound-model call style, aliases (adv, eot_samples,
binary_search_steps) and evaluate's RobustnessReport (mapping, statistics, early_stop, data forms,
progress bar, errors)."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping

import pytest
import torch
from _blobs import trained_blobs
from torch import nn

from infotheory.attacks import (
    BIM,
    CW,
    FGSM,
    PGD,
    AttackStats,
    DeepFool,
    RobustnessReport,
    evaluate,
)


@pytest.fixture(scope="module")
def blobs() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small MLP trained to 100% on four separable blobs in [0, 1]^12."""
    return trained_blobs(n=128, d=12, k=4, noise=0.06, width=32, steps=150)


def other_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(12, 4))


# ------------------------------------------------------------------------------ bound call style


def _make(cls, model=None, **extra):
    kw = {
        FGSM: {"eps": 0.2},
        BIM: {"eps": 0.2, "steps": 5},
        PGD: {"eps": 0.2, "steps": 5, "seed": 4},
        DeepFool: {"steps": 10},
        CW: {"steps": 20, "lr": 0.05},
    }[cls]
    kw.update(extra)
    return cls(**kw) if model is None else cls(model, **kw)


@pytest.mark.parametrize("cls", [FGSM, BIM, PGD, DeepFool, CW])
def test_bound_equals_unbound(blobs, cls):
    model, x, y = blobs
    bound = _make(cls, model)
    assert bound.model is model
    model.train()
    a = bound(x, y)
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    b = _make(cls)(model, x, y)
    torch.testing.assert_close(a.x_adv, b.x_adv, rtol=0, atol=0)
    assert torch.equal(a.success, b.success)
    assert bool(a.success.any())
    # the bound attack also accepts its own model explicitly, and keyword arguments
    c = bound(model, x, y)
    torch.testing.assert_close(c.x_adv, a.x_adv, rtol=0, atol=0)
    d = _make(cls, model=model)(x=x, y=y)
    torch.testing.assert_close(d.x_adv, a.x_adv, rtol=0, atol=0)


def test_bound_positional_budget_and_model(blobs):
    """``PGD(model, 0.2)``: a module first, the budget second (positional style kept)."""
    model, x, y = blobs
    a = PGD(model, 0.2, steps=5, seed=1)(x, y)
    b = PGD(0.2, steps=5, seed=1)(model, x, y)
    torch.testing.assert_close(a.x_adv, b.x_adv, rtol=0, atol=0)
    assert FGSM(model, 0.1).eps == 0.1 and FGSM(0.1).model is None


def test_bound_targeted(blobs):
    model, x, y = blobs
    target = (y + 1) % 4
    res = PGD(model, eps=0.5, steps=30, seed=0)(x, y, target=target)
    assert float(res.success.float().mean()) > 0.9
    assert bool((res.adv_labels[res.success] == target[res.success]).all())
    res2 = PGD(model, eps=0.5, steps=30, seed=0)(x, y, target)
    assert torch.equal(res.x_adv, res2.x_adv)


def test_signature_and_repr_keep_parameters():
    assert "eps" in inspect.signature(PGD).parameters
    assert "search_steps" in inspect.signature(CW).parameters
    r = repr(PGD(nn.Linear(2, 2), eps=0.1))
    assert "model=Linear" in r and "eps=0.1" in r


def test_call_errors(blobs):
    model, x, y = blobs
    with pytest.raises(TypeError, match="no model"):
        PGD(eps=0.1)(x, y)
    with pytest.raises(TypeError, match="bound to a model"):
        PGD(model, eps=0.1)(other_model(), x, y)
    with pytest.raises(TypeError, match="both positionally"):
        PGD(eps=0.1)(model, x, y, model=model)
    with pytest.raises(TypeError, match="positional"):
        PGD(model, eps=0.1)(x, y, y, y)
    with pytest.raises(TypeError, match="needs both x and y"):
        PGD(model, eps=0.1)(x)
    with pytest.raises(TypeError, match="unexpected keyword"):
        PGD(model, eps=0.1)(x, y, labels=y)
    with pytest.raises(TypeError, match="x both"):
        PGD(model, eps=0.1)(x, y, x=x)
    with pytest.raises(TypeError, match="model both"):
        PGD(model, model=model, eps=0.1)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        PGD(model="net", eps=0.1)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        PGD(model, eps=0.1)([0.5], y)
    with pytest.raises(ValueError, match="untargeted"):
        DeepFool(model)(x, y, target=y)


# ---------------------------------------------------------------------------------------- aliases


def test_adv_alias(blobs):
    model, x, y = blobs
    res = FGSM(model, eps=0.1)(x, y)
    assert res.adv is res.x_adv


@pytest.mark.parametrize("cls", [FGSM, BIM, PGD, DeepFool, CW])
def test_eot_samples_alias(cls):
    assert cls(eot_samples=3).eot == 3
    assert cls(nn.Linear(2, 2), eot_samples=2).eot == 2
    with pytest.raises(TypeError, match="both eot= and its alias eot_samples="):
        cls(eot=2, eot_samples=2)
    with pytest.raises(ValueError, match="eot"):
        cls(eot_samples=0)


def test_binary_search_steps_alias(blobs):
    model, x, y = blobs
    assert CW(binary_search_steps=4).search_steps == 4
    with pytest.raises(TypeError, match="both search_steps= and its alias"):
        CW(search_steps=1, binary_search_steps=2)
    with pytest.raises(TypeError, match="unexpected keyword binary_search_steps="):
        PGD(binary_search_steps=2)
    a = CW(model, steps=15, lr=0.05, binary_search_steps=2)(x[:16], y[:16])
    b = CW(steps=15, lr=0.05, search_steps=2)(model, x[:16], y[:16])
    torch.testing.assert_close(a.adv, b.adv, rtol=0, atol=0)


# --------------------------------------------------------------------------------------- evaluate


def test_report_is_mapping_and_legacy_calls_agree(blobs):
    model, x, y = blobs
    atk = {"fgsm": FGSM(0.15), "pgd": PGD(0.15, steps=10, seed=0)}
    legacy = evaluate(model, x, y, atk, batch_size=50, progress=False)
    legacy_pos = evaluate(model, x, y, atk, 50, progress=False)
    pair = evaluate(model, (x, y), atk, batch_size=50, progress=False)
    loader = [(x[s : s + 50], y[s : s + 50]) for s in range(0, 128, 50)]
    batched = evaluate(model, loader, atk, progress=False)
    assert isinstance(legacy, RobustnessReport) and isinstance(legacy, Mapping)
    assert list(legacy) == ["clean", "fgsm", "pgd"]
    for r in (legacy_pos, pair, batched):
        assert dict(r) == dict(legacy)
    assert legacy["clean"] == 1.0 and legacy.clean == 1.0
    assert legacy["fgsm"] < 1.0 and legacy["pgd"] < 1.0
    assert json.loads(json.dumps(legacy)) == dict(legacy)
    # statistics: success counts match accuracies, medians are those of the fooled samples
    res = atk["fgsm"](model, x, y)
    st = pair.stats["fgsm"]
    assert isinstance(st, AttackStats)
    assert st.attacked == 128 and st.success == int(res.success.sum())
    assert pair["fgsm"] == pytest.approx(1 - st.success / 128)
    assert st.median_linf == pytest.approx(float(res.linf[res.success].double().median()))
    assert st.median_l2 == pytest.approx(float(res.l2[res.success].double().median()))
    assert st.median_linf <= 0.15 + 1e-6 and st.seconds >= 0
    assert pair.n == 128 and not pair.early_stop and pair.seconds >= st.seconds


def test_report_with_dataloader(blobs):
    model, x, y = blobs
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=40)
    rep = evaluate(model, loader, {"bim": BIM(0.15, steps=5)}, progress=False)
    want = evaluate(model, x, y, {"bim": BIM(0.15, steps=5)}, progress=False)
    assert dict(rep) == dict(want) and rep.n == 128


def test_early_stop(blobs):
    """early_stop: later attacks only see samples every earlier attack failed on, so the last
    accuracy is the all-attacks-robust fraction, and accuracies never increase down the list."""
    model, x, y = blobs
    atk = {"fgsm": FGSM(0.12), "bim": BIM(0.12, steps=10), "pgd": PGD(0.12, steps=10, seed=2)}
    full = evaluate(model, x, y, atk, progress=False)
    es = evaluate(model, x, y, atk, progress=False, early_stop=True)
    assert es.early_stop and "early_stop" in es.table()
    assert es["fgsm"] == full["fgsm"]
    assert es["fgsm"] >= es["bim"] >= es["pgd"]
    robust_all = torch.ones(128, dtype=torch.bool)
    for a in atk.values():
        alive = robust_all.nonzero()[:, 0]
        robust_all[alive[a(model, x[alive], y[alive]).success]] = False
    assert es["pgd"] == pytest.approx(float(robust_all.float().mean()))
    assert es.stats["bim"].attacked == es.stats["fgsm"].attacked - es.stats["fgsm"].success
    assert es["pgd"] <= min(full["fgsm"], full["bim"], full["pgd"])


def test_early_stop_drops_clean_mistakes():
    """A model that is wrong on every sample: nothing is attacked with early_stop."""
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([0.0, 1.0]))
    x = torch.rand(10, 3)
    y = torch.zeros(10, dtype=torch.int64)
    rep = evaluate(model, (x, y), {"fgsm": FGSM(0.1)}, progress=False, early_stop=True)
    assert rep["clean"] == 0.0 and rep["fgsm"] == 0.0
    assert rep.stats["fgsm"].attacked == 0 and math.isnan(rep.stats["fgsm"].median_l2)


def test_table_and_to_dict(blobs):
    model, x, y = blobs
    rep = evaluate(
        model, (x, y), {"fgsm": FGSM(0.15), "deepfool": DeepFool(steps=5)}, progress=False
    )
    lines = rep.table().splitlines()
    assert lines[0].split()[:2] == ["attack", "accuracy"]
    assert [ln.split()[0] for ln in lines[2:]] == ["clean", "fgsm", "deepfool"]
    assert len({len(ln) for ln in lines[:2]}) == 1  # header and rule aligned
    assert f"{rep['fgsm']:.4f}" in lines[3]
    d = rep.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["n"] == 128 and d["clean"] == 1.0 and d["early_stop"] is False
    assert set(d["attacks"]) == {"fgsm", "deepfool"}
    assert d["attacks"]["fgsm"]["accuracy"] == rep["fgsm"]
    assert set(d["attacks"]["fgsm"]) == {
        "accuracy",
        "attacked",
        "success",
        "median_l2",
        "median_linf",
        "seconds",
    }


def test_progress_bar(blobs, capsys):
    model, x, y = blobs
    evaluate(model, (x[:20], y[:20]), {"fgsm": FGSM(0.1)}, batch_size=10, progress=True)
    err = capsys.readouterr().err
    assert "evaluate" in err and "20/20" in err
    evaluate(model, (x[:20], y[:20]), {"fgsm": FGSM(0.1)}, batch_size=10, progress=False)
    assert capsys.readouterr().err == ""


def test_evaluate_bound_attacks(blobs):
    model, x, y = blobs
    rep = evaluate(model, (x, y), {"pgd": PGD(model, 0.1, steps=5, seed=0)}, progress=False)
    want = evaluate(model, (x, y), {"pgd": PGD(0.1, steps=5, seed=0)}, progress=False)
    assert dict(rep) == dict(want)
    with pytest.raises(TypeError, match="bound to a different model"):
        evaluate(model, (x, y), {"pgd": PGD(other_model(), 0.1)}, progress=False)


def test_evaluate_bad_input(blobs):
    model, x, y = blobs
    atk = {"fgsm": FGSM(0.1)}
    with pytest.raises(TypeError, match="model must be"):
        evaluate("net", (x, y), atk)
    with pytest.raises(TypeError, match="positional arguments"):
        evaluate(model, (x, y))
    with pytest.raises(TypeError, match="positional arguments"):
        evaluate(model, (x, y), y, atk, 10)
    with pytest.raises(TypeError, match="y \\(labels\\) is missing"):
        evaluate(model, x, atk)
    with pytest.raises(TypeError, match="separate y"):
        evaluate(model, (x, y), y, atk)
    with pytest.raises(TypeError, match="attacks must be a mapping"):
        evaluate(model, (x, y), [FGSM(0.1)])
    with pytest.raises(TypeError, match="must be an Attack"):
        evaluate(model, (x, y), {"f": "fgsm"})
    with pytest.raises(ValueError, match="'clean'"):
        evaluate(model, (x, y), {"clean": FGSM(0.1)})
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, (x, y), atk, batch_size=0)
    with pytest.raises(TypeError, match="data must be"):
        evaluate(model, 3.0, atk)
    with pytest.raises(TypeError, match="data batch 0"):
        evaluate(model, [x], atk, progress=False)
    with pytest.raises(ValueError, match="shape"):
        evaluate(model, (x, y[:5]), atk, progress=False)
    with pytest.raises(ValueError, match="no samples"):
        evaluate(model, [], atk, progress=False)


@pytest.mark.parametrize("attack", [FGSM, PGD, DeepFool, CW])
def test_integer_logits_are_named(attack):
    # before: "log_softmax_lastdim_kernel_impl not implemented for 'Long'" (PGD) or "value cannot be
    # converted to type int64_t without overflow" (DeepFool)
    class IntLogits(nn.Module):
        def forward(self, x):
            return (x[:, :2] * 10).long()

    x, y = torch.rand(4, 8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(TypeError, match="model must return floating-point logits, got dtype"):
        attack(IntLogits())(x, y)


def test_error_inside_the_model_says_which_call_raised_it():
    import sys

    net = nn.Sequential(nn.Linear(9, 2))  # x has 8 features: torch's shape error, from the model
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied") as info:
        PGD(net, eps=0.1)(torch.rand(4, 8), torch.tensor([0, 1, 0, 1]))
    if sys.version_info >= (3, 11):
        assert "raised by the model on x[:1], shape (1, 8)" in "".join(info.value.__notes__)
