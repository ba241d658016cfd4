"""``infotheory train`` and ``infotheory attack`` on tiny runs (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infotheory.cli import main

pytest.importorskip("sklearn")

TINY = ["--data", "digits", "--K", "4", "--widths", "16", "--batch-size", "50", "--quiet"]


def test_train_writes_run_folder_and_resumes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out), "--beta", "0.01"]) == 0
    assert {p.name for p in out.iterdir()} >= {
        "checkpoint.pt",
        "history.json",
        "history.csv",
        "run.json",
    }
    run = json.loads((out / "run.json").read_text())
    assert run["data_name"] == "digits" and run["model_config"]["K"] == 4 and run["arch"] == "mlp"
    assert main(["train", *TINY, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2]
    assert "epoch 2, test accuracy" in capsys.readouterr().out


def test_train_bad_arguments(tmp_path: Path, capsys) -> None:
    assert main(["train", "--data", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "name must be" in capsys.readouterr().err
    assert main(["train", *TINY, "--beta", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "beta must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--widths", "8,x"])
    with pytest.raises(SystemExit):
        main(["attack", "--checkpoint", "x", "--attack", "nuke"])


def test_attack_prints_table(tmp_path: Path, capsys) -> None:
    pytest.importorskip("infotheory.attacks")
    out = tmp_path / "run"
    assert (
        main(["train", *TINY, "--model", "ce", "--epochs", "1", "--out", str(out), "--adv", "fgsm"])
        == 0
    )
    capsys.readouterr()
    js = tmp_path / "acc.json"
    rc = main(["attack", "--checkpoint", str(out), "--attack", "fgsm,pgd", "--eps", "0.1",
               "--steps", "3", "--n", "40", "--json", str(js)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "| fgsm | 0.1 |" in text and "| pgd | 0.1 |" in text and "| clean |" in text
    rows = {r["attack"]: r["accuracy"] for r in json.loads(js.read_text())}
    assert rows["pgd"] <= rows["clean"] and 0.0 <= rows["fgsm"] <= 1.0
    assert main(["attack", "--checkpoint", str(tmp_path / "missing")]) == 2
