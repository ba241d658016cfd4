"""``infotheory reproduce`` targets of the first paper: registration, and a ``--quick`` smoke run
of each (on the embedded data) checking its files and documented JSON keys."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from infotheory.experiments import reproduce
from infotheory.experiments.repro_paper1 import TARGETS

NAMES = ["table1", "table2", "table3", "fig1", "fig2", "fig3", "fig4"]
COMMON_KEYS = ["target", "settings", "data", "plots", "seconds"]
KEYS = {
    "table1": ["rows", "paper"],
    "table2": ["robustness", "paper", "comparison", "disagreements", "norms", "attacks"],
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


def _needs_stack():
    for mod in ("attacks", "ib", "data", "lipschitz", "estimators", "bounds"):
        pytest.importorskip(f"infotheory.{mod}")


def _run_quick(name: str, out: Path, **kw) -> dict:
    _needs_stack()
    opts = reproduce.Options(out=out, quick=True, epochs=kw.pop("epochs", 2), **kw)
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
