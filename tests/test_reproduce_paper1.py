"""``infotheory reproduce`` targets of the first paper: registration, and a ``--quick`` smoke run
of each (on the embedded data) checking its files and documented JSON keys."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from infotheory.experiments import reproduce
from infotheory.experiments.repro_paper1 import TARGETS

NAMES = ["table1", "table2", "table3", "fig1", "fig2", "fig3", "fig4"]
COMMON_KEYS = ["target", "settings", "data", "plots", "seconds"]
KEYS = {
    "table1": ["rows", "paper"],
    "table2": ["robustness", "paper", "comparison", "disagreements", "claims", "norms", "attacks"],
    "table3": ["robustness", "paper", "comparison", "disagreements", "claims", "norms", "attacks"],
    "fig1": ["rows", "choices"],
    "fig2": ["rows", "choices", "pearson"],
    "fig3": ["rows", "choices", "pearson", "paper_pearson"],
    "fig4": ["rows", "choices", "pearson"],
}
ROW_KEYS = {
    "table1": ["beta", "method", "attack", "ixt_adv_bits", "adv_acc", "paper_adv_acc"],
    "fig1": ["beta", "ixt_bits", "iyt_bits", "train_acc", "test_acc", "adv_acc", "gap"],
    "fig2": ["beta", "epoch", "oblivious_vulnerability", "lipschitz", "ixt_bits"],
    "fig3": ["widths", "beta", "L", "tau", "delta", "delta_prime", "gap"],
    "fig4": ["adv_ratio", "entropy_mle_bits", "entropy_jvhw_bits", "fgsm_0.3_acc"],
}


def test_targets_are_registered():
    for name in NAMES:
        assert name in reproduce.TARGETS and reproduce.TARGETS[name] == TARGETS[name]
        assert callable(reproduce.resolve(name))


def test_table3_without_cifar_says_what_it_needs(tmp_path):
    opts = reproduce.Options(out=tmp_path, quick=True)
    with pytest.raises(SystemExit, match=r"--data cifar10:PATH"):
        reproduce.resolve("table3")(opts)
    with pytest.raises(SystemExit, match="cifar-10-batches-py"):
        reproduce.resolve("table3")(reproduce.Options(out=tmp_path, data="mnist-sample"))


def _run_quick(name: str, out: Path, data: str = "digits", epochs: int = 2) -> dict:
    # 8x8 digits keep the smoke runs to seconds; the embedded MNIST sample runs in test_demo
    opts = reproduce.Options(out=out, quick=True, epochs=epochs, data=data)
    reproduce.resolve(name)(opts)
    for ext in ("json", "csv", "md"):
        assert (out / f"{name}.{ext}").stat().st_size > 0
    doc = json.loads((out / f"{name}.json").read_text())
    for key in COMMON_KEYS + KEYS.get(name, []):
        assert key in doc, (name, key)
    for row in doc.get("rows", []):
        for key in ROW_KEYS.get(name, []):
            assert key in row, (name, key)
    for plot in doc["plots"]:
        assert (out / plot).stat().st_size > 1000
    return doc


@pytest.mark.parametrize("name", ["table1", "table2", "fig1", "fig2", "fig3", "fig4"])
def test_quick_target(name, tmp_path):
    doc = _run_quick(name, tmp_path)
    assert doc["target"] == name
    if name == "table1":
        assert len(doc["rows"]) == 3 * 2 * 3  # betas x {IB, IB+adv} x {FGSM, BIM, PGD}
        assert all(r["ixt_adv_bits"] > 0 for r in doc["rows"])
    if name == "table2":
        assert list(doc["robustness"]) == ["IB", "CE", "IB+adv", "CE+adv"]
        assert doc["paper"]["IB"]["fgsm_0.3"] == 62.94
    if name == "fig2":
        assert [r["epoch"] for r in doc["rows"]] == [1, 2]
        assert all(r["lipschitz"] > 0 for r in doc["rows"])
    if name == "fig3":
        assert len(doc["rows"]) == 3
        for r in doc["rows"]:
            assert 0.0 <= r["delta"] <= 1.0 and 0.0 <= r["tau"] <= 1.0
            # Theorem 4: delta' <= delta + 4 tau + |T| L eps, |T| L read as the encoder bound
            bound = r["delta"] + 4 * r["tau"] + r["L"] * 0.1
            assert r["theorem4_delta_prime_bound"] == pytest.approx(bound)
    if name == "fig4":
        assert [r["adv_ratio"] for r in doc["rows"]] == [0.0, 0.5, 1.0]
        assert all(not math.isnan(r["entropy_jvhw_bits"]) for r in doc["rows"])


def test_quick_table3_on_a_synthetic_cifar_folder(tmp_path):
    """table3 with --data cifar10:PATH: a CIFAR-10-format folder of random images, 20 per batch."""
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [int(v) for v in rng.permutation(np.arange(20) % 10)]
        data = rng.integers(0, 256, size=(20, 3072), dtype=np.uint8)
        with (root / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    doc = _run_quick("table3", tmp_path / "out", data=f"cifar10:{root}", epochs=1)
    assert doc["data"]["shape"] == [3, 32, 32] and doc["data"]["n_train"] == 100
    assert doc["paper"]["IB"]["clean"] == 67.06
    assert set(doc["robustness"]["CE+adv"]) == set(doc["paper"]["CE+adv"])


def test_device_flag(monkeypatch):
    """--device: auto is CPU without CUDA; asking for CUDA without it names the flag."""
    import torch

    from infotheory.experiments import _pipeline as P
    from infotheory.experiments.paper1_tables import target_settings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert P.resolve_device("auto") == "cpu" and P.resolve_device(None) == "cpu"
    assert P.resolve_device("CPU") == "cpu"
    for bad in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match=f"--device {bad}: CUDA is not available"):
            P.resolve_device(bad)
    with pytest.raises(ValueError, match="--device must be one of"):
        P.resolve_device("tpu")
    with pytest.raises(SystemExit, match="--device cuda"):
        P.device_or_exit("cuda")
    opts = reproduce.Options(out=Path("unused"), quick=True)
    assert target_settings(opts).device == "cpu"  # Options without a device field: auto
    with pytest.raises(SystemExit, match="--device cuda"):
        target_settings(type("O", (), {**opts.__dict__, "device": "cuda"})())


def test_large_betas_warm_up_geometrically():
    """beta >= 1e-2 trains with a geometric warm-up over half the epochs (>= 1); smaller betas
    with none (at beta = 0.1 the Trainer's 1-epoch linear warm-up collapses VIB training)."""
    from infotheory.experiments import _pipeline as P
    from infotheory.ib import VIB

    assert P.beta_warmup(1e-3, 8) == {"beta_warmup_epochs": 0.0}
    assert P.beta_warmup(1e-2, 8) == {"beta_warmup_epochs": 4.0, "warmup_shape": "geometric"}
    assert P.beta_warmup(1e-1, 1)["beta_warmup_epochs"] == 1.0
    s = P.Settings(epochs=6)
    t = P.make_trainer(VIB.mlp(4, 2, K=2, widths=(4,)), s, beta=0.1)
    assert (t.beta_warmup_epochs, t.warmup_shape) == (3.0, "geometric")
    t = P.make_trainer(VIB.mlp(4, 2, K=2, widths=(4,)), s, beta=1e-3, epochs=2)
    assert t.beta_warmup_epochs == 0.0
    assert "first 3 of 6 epochs" in P.warmup_note(s)


@pytest.mark.cuda
def test_quick_fig1_on_cuda(tmp_path):
    opts = reproduce.Options(out=tmp_path, quick=True, epochs=1, data="digits")
    opts = type("O", (), {**opts.__dict__, "device": "cuda"})()
    reproduce.resolve("fig1")(opts)
    doc = json.loads((tmp_path / "fig1.json").read_text())
    assert doc["settings"]["device"] == "cuda" and len(doc["rows"]) == 2
