"""``infotheory demo``: the report machinery (pure formatting and measurements) and, end to end,
``infotheory demo --quick``."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import pytest

from infotheory.experiments import paper1_report as R
from infotheory.experiments.paper1_numbers import TABLE1, TABLE2, TABLE2_COLUMNS, TABLE3

# The paper's Table 2 row for IB and Table 3's for CE+adv, copied independently of the package.
IB_ROW = [98.64, 85.88, 62.94, 40.63, 34.53, 53.30, 58.41, 51.79]
CIFAR_CE_ADV_ROW = [61.67, 29.4, 57.04, 48.44, 21.79, 11.65, 19.69, 19.78]

SECTIONS = [
    "# infotheory demo",
    "## Setup",
    "## Robustness (Table 2 of the paper)",
    "## Lipschitz bound and information per model",
    "## Honesty: where we disagree with the paper",
    "### Gradient-masking evidence",
    "### Known errata of the papers that matter here",
    "## Reverse water-filling (math.md §A3.3)",
    "## Files and timing",
]
JSON_KEYS = [
    "setup",
    "robustness",
    "paper_table2",
    "comparison",
    "disagreements",
    "norms",
    "information",
    "masking",
    "history",
    "errata",
    "worked_example",
    "plots",
    "stage_seconds",
    "seconds",
]
MODELS = ["IB", "CE", "IB+adv", "CE+adv"]


def test_paper_numbers_are_the_papers():
    assert list(TABLE2) == MODELS and list(TABLE3) == MODELS
    assert list(TABLE2["IB"].values()) == IB_ROW
    assert list(TABLE3["CE+adv"].values()) == CIFAR_CE_ADV_ROW
    assert TABLE1[1e-1]["IB"]["fgsm"] == (90.56, 70.96)
    assert TABLE1[1e-3]["IB+adv"]["pgd"] == (18.42, 89.88)


def test_comparison_cells_put_ours_beside_the_paper():
    ours = {m: {k: 50.0 for k in TABLE2_COLUMNS} for m in MODELS}
    ours["IB"]["fgsm_0.3"] = 0.0
    rows = R.comparison_rows(ours, TABLE2)
    ib = next(r for r in rows if r["setting"] == "IB")
    assert ib["FGSM .3"] == "0.0 / 62.94"
    assert ib["Benign"] == "50.0 / 98.64"
    table = R.comparison_table(ours, TABLE2)
    assert table.splitlines()[0].startswith("| setting | Benign | FGSM .1")
    assert len(table.splitlines()) == 2 + len(MODELS)


def test_disagreements_lists_only_large_gaps_worst_first():
    ours = {"IB": dict(TABLE2["IB"]), "CE": dict(TABLE2["CE"])}
    ours["IB"]["fgsm_0.3"] -= 62.94  # 0.0: 62.94 points below
    ours["CE"]["cw"] += 11.0
    ours["CE"]["clean"] -= 9.9  # under the threshold
    recs = R.comparison_records(ours, TABLE2)
    assert len(recs) == 2 * len(TABLE2_COLUMNS)
    found = R.disagreements(recs, threshold=10.0)
    assert len(found) == 2
    assert found[0].startswith("IB, FGSM .3: ours 0.0% vs paper 62.94%")
    assert "+11.0 points" in found[1]


def test_missing_cells_print_as_dashes():
    rows = R.comparison_rows({"IB": {"clean": 90.0}}, {})
    assert rows[0]["Benign"] == "90.0 / -" and rows[0]["CW c=.1"] == "- / -"
    assert R.disagreements(R.comparison_records({"IB": {"clean": 1.0}}, {})) == []


def test_masking_section_reports_findings():
    probe = {
        "rows": [
            {"attack": "FGSM 0.3", "loss": "ce", "eot": 1, "acc": 60.0},
            {"attack": "FGSM 0.3", "loss": "margin", "eot": 8, "acc": 5.0},
        ],
        "plain_fgsm": 60.0,
        "strongest_fgsm": 5.0,
        "findings": ["margin beats CE"],
    }
    clean = dict(probe, findings=[], strongest_fgsm=59.0)
    text = "\n".join(R.masking_section({"IB": probe, "CE": clean}))
    assert "**IB: gradient masking suspected**: margin beats CE" in text
    assert "CE: no sign of gradient masking (plain FGSM 60.0%" in text
    assert "| IB | FGSM 0.3 | margin | 8 | 5.0 |" in text


def test_paper_claims_hold_on_the_papers_numbers():
    checked = R.claims(TABLE2)
    assert len(checked) == 6 and all(c["holds"] for c in checked)
    worse = {m: dict(r) for m, r in TABLE2.items()}
    worse["IB"]["fgsm_0.1"] = 50.0  # below CE's 63.39
    assert R.claims(worse)[0]["holds"] is False


def test_honesty_notes_cite_the_evidence():
    ours = {m: dict(r) for m, r in TABLE2.items()}
    ours["IB"]["fgsm_0.3"] = 0.5
    probe = {
        "rows": [
            {"attack": "FGSM 0.3", "loss": "ce", "eot": 1, "acc": 0.5},
            {"attack": "PGD 0.3", "loss": "margin", "eot": 8, "acc": 0.25},
        ],
        "strongest_fgsm": 0.5,
        "findings": [],
    }
    norms = {"IB": {"deepfool": {"l2_median": 0.9}}}
    notes = R.honesty_notes(ours, norms, {"IB": probe}, TABLE2)
    ib = next(n for n in notes if n.startswith("IB under FGSM eps 0.3"))
    assert (
        "ours 0.5%, the paper 62.94%" in ib and "PGD eps 0.3, margin loss) brings it to 0.2%" in ib
    )
    # the paper's own CE+adv row is more accurate at FGSM 0.3 than at 0.1: label leaking
    leak = next(n for n in notes if n.startswith("CE+adv is more accurate under FGSM at eps 0.3"))
    assert "(89.7%) than at eps 0.1 (79.0%)" in leak and "paper's own Table 2" in leak
    assert any("DeepFool leaves IB at 34.5%" in n and "median L2 0.90" in n for n in notes)
    assert not any(n.startswith("CW-L2") for n in notes)  # the paper's CW does move its models


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    ours = {m: {k: 40.0 + i for i, k in enumerate(TABLE2_COLUMNS)} for m in MODELS}
    assert R.plot_robustness(tmp_path / "r.png", ours, TABLE2).stat().st_size > 1000
    hist = {"IB": [{"epoch": 1, "test_acc": 0.9, "ixt": 30.0}, {"epoch": 2, "test_acc": 0.95}]}
    assert R.plot_histories(tmp_path / "h.png", hist).stat().st_size > 1000


# ---- measurements on plain torch modules (no other infotheory package needed)


def test_kl_rate_matches_math_md_example():
    import torch

    from infotheory.experiments import _pipeline as P

    class Enc(torch.nn.Module):
        stochastic = True

        def encode(self, x):
            n = len(x)
            mu = torch.tensor([0.5, -1.0]).expand(n, 2)
            return mu, torch.tensor([0.8, 1.2]).expand(n, 2)

    # math.md §B3.2: KL = 0.705822 nats = 1.018286 bits
    assert P.kl_rate_bits(Enc(), torch.zeros(7, 3)) == pytest.approx(1.018286, abs=1e-6)
    assert P.kl_rate_bits(torch.nn.Linear(3, 2), torch.zeros(7, 3)) is None


def test_last_hidden_accuracy_and_norms():
    import torch

    from infotheory.experiments import _pipeline as P

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    x = torch.randn(11, 4)
    assert torch.allclose(P.last_hidden(net, x), torch.relu(net[0](x)))
    y = net(x).argmax(-1)
    assert P.accuracy(net, x, y) == 100.0
    assert P.accuracy(net, x, (y + 1) % 3) == 0.0
    d = torch.zeros_like(x)
    d[:, 0] = 0.3
    n = P.perturbation_norms(x, x + d, torch.tensor([True] * 5 + [False] * 6))
    assert n["l2_median"] == pytest.approx(0.3) and n["fooled"] == 5
    assert math.isnan(P.perturbation_norms(x, x, torch.zeros(11, dtype=torch.bool))["l2_median"])
    assert P.iyt_bits(net, x, y, 3) <= math.log2(3)


def _linear_problem(scale: float):
    """Two well-separated classes in [0, 1]^16 and a linear classifier; ``scale`` multiplies its
    logits (a huge scale saturates the softmax, so the CE gradient underflows to zero)."""
    import torch

    g = torch.Generator().manual_seed(0)
    w = torch.zeros(16)
    w[:8] = 1.0
    y = torch.arange(40) % 2
    x = 0.5 + 0.1 * (2.0 * y[:, None] - 1.0) * w + 0.02 * torch.randn(40, 16, generator=g)
    net = torch.nn.Linear(16, 2)
    with torch.no_grad():
        net.weight.copy_(scale * torch.stack([-w, w]))
        net.bias.copy_(scale * torch.tensor([4.0, -4.0]))  # boundary at w.x = 4 (x = 0.5)
    return net, x.clamp(0.0, 1.0), y


def test_masking_probe_flags_a_saturated_softmax_only():
    from infotheory.experiments._pipeline import Settings
    from infotheory.experiments.paper1_masking import masking_probe

    s = Settings(steps=5, eot=2)
    honest, x, y = _linear_problem(1.0)
    clean = masking_probe(honest, x, y, s, source=honest)
    assert clean["findings"] == [] and not clean["masking_suspected"]
    assert clean["plain_fgsm"] == 0.0  # eps 0.3 crosses the boundary at distance 0.1
    masked, x, y = _linear_problem(1e4)
    probe = masking_probe(masked, x, y, s)
    rows = {(r["attack"], r["loss"]): r["acc"] for r in probe["rows"]}
    assert rows[("FGSM 0.3", "ce")] == 100.0  # the CE gradient is exactly zero in float32
    assert rows[("FGSM 0.3", "margin")] == 0.0
    assert probe["masking_suspected"] and "margin loss" in probe["findings"][0]


# ---- end to end


@pytest.fixture(scope="module")
def quick_demo():
    """``infotheory demo --quick`` through the command's entry point, in this process (a
    subprocess would pay for importing torch again)."""
    from infotheory.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            rc = main(["demo", "--quick", "--device", "cpu", "--out", str(out)])
        assert rc == 0
        yield (
            stdout.getvalue(),
            (out / "report.md").read_text(),
            json.loads((out / "results.json").read_text()),
            sorted(p.name for p in out.iterdir()),
        )


def test_quick_demo_report_has_every_section(quick_demo):
    stdout, report, _doc, files = quick_demo
    for section in SECTIONS:
        assert f"\n{section}\n" in f"\n{report}\n", section
    assert "| IB | " in report and "62.94" in report  # the paper's number beside ours
    assert "Robust accuracy %, ours / paper" in stdout and "report.md" in stdout
    assert {"report.md", "results.json", "results.csv"} <= set(files)


def test_quick_demo_json_keys_and_values(quick_demo):
    _stdout, _report, doc, files = quick_demo
    for key in JSON_KEYS:
        assert key in doc, key
    assert list(doc["robustness"]) == MODELS
    for m in MODELS:
        assert set(doc["robustness"][m]) == set(TABLE2_COLUMNS)
        assert all(0.0 <= v <= 100.0 for v in doc["robustness"][m].values())
        info = doc["information"][m]
        assert float(info["lipschitz"]["value"]) > 0.0
        assert info["feature_entropy_bits"]["mle"] >= 0.0
        assert (info["ixt_bits"] is not None) == m.startswith("IB")
        assert doc["masking"][m]["rows"]
    assert doc["information"]["IB"]["ixt_bits"] > 0.0
    assert set(doc["plots"]) <= set(files)
    assert doc["setup"]["settings"]["epochs"] >= 1
    assert doc["setup"]["settings"]["device"] == "cpu"
    assert doc["setup"]["beta_warmup"] == {"beta_warmup_epochs": 0.0}  # beta = 1e-3


def test_quick_demo_setup_states_warmup_and_device(quick_demo):
    _stdout, report, _doc, _files = quick_demo
    setup = report.split("## Setup", 1)[1].split("\n## ", 1)[0]
    assert "no beta warm-up" in setup and "device cpu" in setup


def test_quick_demo_qualitative_claims(quick_demo):
    """The claims robust at quick sizes: models learn; large-eps PGD breaks every model; FGSM
    adversarial training helps against FGSM at the training eps."""
    _stdout, _report, doc, _files = quick_demo
    rob = doc["robustness"]
    for m in MODELS:
        assert rob[m]["clean"] > 50.0, (m, rob[m])
        big = next(r for r in doc["masking"][m]["rows"] if r["attack"].startswith("PGD 1.0"))
        assert big["acc"] < 10.0
    assert rob["CE+adv"]["fgsm_0.3"] > rob["CE"]["fgsm_0.3"]


def test_demo_device_flag_without_cuda(monkeypatch, tmp_path):
    import torch

    from infotheory.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--device cuda: CUDA is not available"):
        main(["demo", "--quick", "--device", "cuda", "--out", str(tmp_path / "d")])
    from infotheory.experiments.demo import settings

    assert settings(True, 0, device="auto").device == "cpu"
