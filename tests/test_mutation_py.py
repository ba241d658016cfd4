"""Tests from a hand-made mutation audit (session s20): each test here failed with a plausible
single-point bug (a mutant) that every earlier test let through. The mutant is named in each
docstring; the numbers are closed forms or hand computations copied into the test."""

from __future__ import annotations

import numpy as np
import pytest

# ------------------------------------------------------------------ lipschitz: torch Lanczos guard


def _top_pair_barely_seen(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Singular values 1, 0.999 and a geometric rest from 0.5 down; a start vector along the
    second singular vector with 1e-3 of the first and 0.1 of the rest."""
    rng = np.random.default_rng(seed)
    m, n = 60, 50
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.geomspace(0.5, 0.5e-6, n)
    s[0], s[1] = 1.0, 0.999
    A = (U[:, :n] * s) @ V.T
    v = V[:, 1] + 1e-3 * V[:, 0] + 0.1 * (V[:, 2:] @ rng.standard_normal(n - 2)) / np.sqrt(n)
    return A, v


@pytest.mark.parametrize("path", ["torch", "kernel"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kato_temple_waits_for_a_barely_seen_top_pair(path, seed):
    """Mutant T3 (_torch_iter._GAP_MIN_STEPS 30 -> 2): after a few Lanczos steps the top Ritz
    pair is the second singular pair (0.999) with a tiny residual, and the capped Kato-Temple
    estimate stopped there, reporting upper = 0.999 for a norm of 1. Before 30 steps only the
    residual rule may stop; it runs on until the top pair is resolved."""
    from infotheory.lipschitz import spectral_norm

    A, v = _top_pair_barely_seen(seed)
    tol = 1e-6
    if path == "torch":
        torch = pytest.importorskip("torch")
        from infotheory.lipschitz._torch_iter import spectral_norm_torch

        res = spectral_norm_torch(
            torch.from_numpy(A), method="lanczos", tol=tol, max_iter=None,
            return_vectors=False, init=torch.from_numpy(v), seed=0, stop="kato-temple",
        )  # fmt: skip
    else:
        res = spectral_norm(A, tol=tol, certify="none", stop="kato-temple", init=v)
    assert res.converged
    assert abs(res.value - 1.0) <= tol
    assert res.upper >= 1.0 - 1e-12


# ------------------------------------------------------------------ attacks: DeepFool's count


def test_deepfool_counts_every_linearisation_of_an_unfooled_sample():
    """Mutant df2 (deepfool.py: ``iters[active] = it`` after a step): a sample DeepFool never fools
    used all ``steps`` linearisations, and reported one fewer. Model: logits (x_0, -10) on the box
    [0, 1]^2, so class 0 wins everywhere in the box; the affine sample 2 (logits (x_0, 2 - x_0))
    crosses in one step."""
    import torch
    from torch import nn

    from infotheory.attacks import DeepFool

    never = nn.Linear(2, 2).double()
    with torch.no_grad():
        never.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        never.bias.copy_(torch.tensor([0.0, -10.0]))
    x = torch.tensor([[0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    y = torch.zeros(2, dtype=torch.int64)
    for steps in (1, 3):
        res = DeepFool(steps=steps, clip=(0.0, 1.0))(never, x, y)
        assert not bool(res.success.any())
        assert res.iterations.tolist() == [steps, steps]
    once = nn.Linear(2, 2).double()
    with torch.no_grad():
        once.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        once.bias.copy_(torch.tensor([0.0, 1.8]))
    x = torch.tensor([[0.95, 0.5]], dtype=torch.float64)  # logits (0.95, 0.85): class 0
    res = DeepFool(steps=3, clip=(0.0, 1.0))(once, x, torch.zeros(1, dtype=torch.int64))
    assert res.success.tolist() == [True] and res.iterations.tolist() == [1]


# ------------------------------------------------------------------ attacks: evaluate's bookkeeping


def _affine_binary():
    """logits (0, w.x) with w = (1, -1, 1, -1): class 1 iff w.x > 0; the FGSM step of size eps
    moves w.x by 4 eps toward the boundary."""
    import torch
    from torch import nn

    m = nn.Linear(4, 2).double()
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 1.0, -1.0]]))
        m.bias.zero_()
    return m


def test_evaluate_counts_the_last_sample_and_reports_both_norms():
    """Mutants ev5 (evaluate._batches: range(0, n - 1, batch_size) drops the last sample when
    n - 1 is a multiple of the batch size, and a single sample altogether) and ev6 (median L-inf
    taken from the L2 norms). FGSM at eps 0.1 without a box: every fooled sample moved by exactly
    0.1 in each coordinate, so median L-inf 0.1 and median L2 0.2 (closed form)."""
    import torch

    from infotheory.attacks import FGSM, evaluate

    model = _affine_binary()
    # w.x = 0.3, -0.3 (fooled: 4 eps = 0.4 crosses), 0.5, -0.5 (not fooled), then 0.3 again
    s = torch.tensor([0.3, -0.3, 0.5, -0.5, 0.3], dtype=torch.float64)
    x = s[:, None] * torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    y = (s > 0).long()
    rep = evaluate(model, x, y, {"fgsm": FGSM(eps=0.1, clip=None)}, batch_size=2, progress=False)
    assert rep.n == 5 and rep["clean"] == 1.0
    st = rep.stats["fgsm"]
    assert (st.attacked, st.success) == (5, 3) and rep["fgsm"] == pytest.approx(2 / 5, abs=0)
    assert st.median_linf == pytest.approx(0.1, rel=1e-12)
    assert st.median_l2 == pytest.approx(0.2, rel=1e-12)
    one = evaluate(model, x[:1], y[:1], {"fgsm": FGSM(eps=0.1, clip=None)}, progress=False)
    assert one.n == 1 and one["fgsm"] == 0.0


# ------------------------------------------------------------------ the command line


TINY = ["--data", "digits", "--K", "4", "--widths", "16", "--batch-size", "50", "--quiet"]


@pytest.fixture(scope="module")
def ce_run(tmp_path_factory):
    """A one-epoch cross-entropy run folder on digits (with the default weight EMA)."""
    pytest.importorskip("sklearn")
    from infotheory.cli import main

    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--model", "ce", "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_train_passes_every_flag_to_the_trainer(tmp_path, monkeypatch):
    """Mutants tc1/tc2/tc3/tc9/tc10 (train_cmd.py: --warmup-shape, --lr-decay, --adv-ratio,
    --adv-eps or --seed not handed to the Trainer; run.json kept the flags, so the old test saw
    them there while training ignored them)."""
    pytest.importorskip("sklearn")
    import infotheory.ib as ib
    from infotheory.attacks import PGD
    from infotheory.cli import main

    seen = {}

    class Spy(ib.Trainer):
        def __init__(self, model, **kw):
            seen.update(kw)
            super().__init__(model, **kw)

    monkeypatch.setattr(ib, "Trainer", Spy)
    flags = ["--beta", "0.02", "--lr", "0.005", "--lr-decay", "0.5", "--ema", "0", "--warmup",
             "0.5", "--warmup-shape", "geometric", "--adv", "pgd", "--adv-eps", "0.05",
             "--adv-ratio", "0.25", "--seed", "7"]  # fmt: skip
    assert main(["train", *TINY, "--epochs", "0", "--out", str(tmp_path / "r"), *flags]) == 0
    adv = seen.pop("adversary")
    assert isinstance(adv, PGD) and adv.eps == 0.05
    assert seen == {
        "beta": 0.02, "lr": 0.005, "batch_size": 50, "adv_ratio": 0.25, "beta_warmup_epochs": 0.5,
        "ema": None, "seed": 7, "out": tmp_path / "r", "quiet": True, "lr_decay": 0.5,
        "warmup_shape": "geometric",
    }  # fmt: skip


def test_train_seed_fixes_the_initial_weights_and_resume_keeps_a_finished_run(tmp_path):
    """Mutants tc4 (train_cmd.py: torch.manual_seed(--seed) dropped, so the initial weights came
    from whatever the process drew before) and tc5 (--resume not handed to fit: a finished run
    was trained again from scratch, its checkpoint rewritten)."""
    pytest.importorskip("sklearn")
    import torch

    from infotheory.cli import main

    def weights(out):
        return torch.load(out / "checkpoint.pt", weights_only=True)["model"]

    runs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        out = tmp_path / name
        assert main(["train", *TINY, "--epochs", "1", "--seed", seed, "--out", str(out)]) == 0
        runs[name] = weights(out)
        torch.rand(5)  # the global generator moves on between runs
    assert all(torch.equal(v, runs["b"][k]) for k, v in runs["a"].items())
    assert not all(torch.equal(v, runs["c"][k]) for k, v in runs["a"].items())
    ck, hist = tmp_path / "a" / "checkpoint.pt", tmp_path / "a" / "history.json"
    before = ck.read_bytes(), hist.read_bytes()
    args = ["train", *TINY, "--epochs", "1", "--seed", "3", "--out", str(tmp_path / "a")]
    assert main([*args, "--resume"]) == 0
    assert (ck.read_bytes(), hist.read_bytes()) == before


def test_train_refuses_a_zero_width(capsys):
    """Mutant tc6 (train_cmd._widths: a zero width accepted): argparse must refuse it, naming
    the widths."""
    from infotheory.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--widths", "16,0"])
    assert "widths must be positive" in capsys.readouterr().err


def test_make_attack_applies_eps_and_steps():
    """Mutants tc7/tc8 (train_cmd.make_attack: eps only for FGSM; steps only for PGD): the
    command line's --eps/--steps silently fell back to the attacks' defaults."""
    from infotheory.experiments.train_cmd import make_attack

    for name in ("bim", "pgd"):
        a = make_attack(name, eps=0.05, steps=4)
        assert (a.eps, a.steps) == (0.05, 4)
    assert make_attack("fgsm", eps=0.05, steps=4).eps == 0.05
    assert make_attack("deepfool", eps=0.05, steps=4).steps == 4
    assert make_attack("cw", steps=4).steps == 4


def test_attack_command_attacks_the_test_split_with_the_flags(ce_run, monkeypatch, capsys):
    """Mutants ac1 (--raw ignored: always the EMA weights), ac2 (the training split attacked),
    ac4 (attack names case-sensitive) and ac5 (--batch-size not handed to evaluate)."""
    import torch

    import infotheory.attacks as attacks
    import infotheory.ib as ib
    from infotheory.cli import main
    from infotheory.data import load

    seen = {}
    real_load = ib.load_model

    def spy_load(path, *, ema=True):
        seen["ema"] = ema
        return real_load(path, ema=ema)

    def spy_evaluate(model, x, y, atks, batch_size=256):
        seen.update(x=x, y=y, names=list(atks), batch_size=batch_size)
        return {"clean": 1.0, **dict.fromkeys(atks, 0.5)}

    monkeypatch.setattr(ib, "load_model", spy_load)
    monkeypatch.setattr(attacks, "evaluate", spy_evaluate)
    args = ["attack", "--checkpoint", str(ce_run), "--attack", "PGD,Fgsm", "--n", "30"]
    assert main([*args, "--batch-size", "7", "--seed", "2"]) == 0
    data = load("digits", seed=2)
    assert torch.equal(seen["x"], data.x_test[:30]) and torch.equal(seen["y"], data.y_test[:30])
    assert seen["names"] == ["pgd", "fgsm"] and seen["batch_size"] == 7 and seen["ema"] is True
    assert main([*args, "--raw"]) == 0
    assert seen["ema"] is False
    assert "| pgd | 0.2 | 0.5000 |" in capsys.readouterr().out


def test_attack_command_refuses_bad_numbers_by_name(ce_run, capsys):
    """Mutants ac3 (--n 0 accepted) and cl1 (cli.main lets a ValueError through as a traceback
    instead of a one-line error naming the argument: here the attack's eps)."""
    from infotheory.cli import main

    base = ["attack", "--checkpoint", str(ce_run), "--attack", "fgsm"]
    assert main([*base, "--n", "0"]) == 2
    assert "--n must be >= 1" in capsys.readouterr().err
    assert main([*base, "--eps", "-0.1", "--n", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("infotheory attack: error:") and "eps" in err


def test_cli_without_a_command_fails():
    """Mutant cl2 (cli.main: no command printed the help and returned 0)."""
    from infotheory.cli import main

    assert main([]) == 2


def test_reproduce_hands_its_flags_to_the_target(tmp_path, monkeypatch, capsys):
    """Mutants rp1 (--quick and --full both accepted), rp2/rp3/rp4 (reproduce.run: --seed,
    --epochs or --device not put into the target's Options)."""
    from infotheory.cli import main
    from infotheory.experiments import reproduce

    seen = []
    monkeypatch.setattr(reproduce, "resolve", lambda name: seen.append)
    out = tmp_path / "o"
    flags = ["--seed", "5", "--epochs", "3", "--device", "cpu", "--data", "digits"]
    assert main(["reproduce", "fig6", "--quick", "--out", str(out), *flags]) == 0
    assert seen == [
        reproduce.Options(out=out, seed=5, quick=True, full=False, data="digits", epochs=3,
                          device="cpu")
    ]  # fmt: skip
    with pytest.raises(SystemExit):
        main(["reproduce", "fig6", "--quick", "--full"])
    assert "not allowed with argument" in capsys.readouterr().err


# ------------------------------------------------------------------ results and output files


def test_to_dict_gives_plain_json_values():
    """Mutants re1-re5 (_result.py: private fields kept, numpy scalars / dict keys / nested
    dataclasses / tuples left unconverted): to_dict must give only lists, dicts with str keys and
    Python numbers, which json.dumps takes as they are."""
    import dataclasses
    import json

    import torch

    from infotheory._result import ResultMixin

    @dataclasses.dataclass
    class Inner:
        a: np.ndarray
        b: tuple

    @dataclasses.dataclass
    class Result(ResultMixin):
        x: np.ndarray
        n: np.int64
        f: np.float32
        d: dict
        t: tuple
        inner: Inner
        tens: torch.Tensor
        _basis: np.ndarray

    r = Result(
        x=np.array([[1.0, np.inf]]), n=np.int64(3), f=np.float32(0.5),
        d={1: np.array([2]), "k": (np.int32(4),)}, t=(1, np.array([1.5])),
        inner=Inner(np.arange(2), (np.bool_(True),)),
        tens=torch.tensor([1.0, 2.0], requires_grad=True), _basis=np.eye(2),
    )  # fmt: skip
    d = r.to_dict()
    assert d == {
        "x": [[1.0, np.inf]], "n": 3, "f": 0.5, "d": {"1": [2], "k": [4]}, "t": [1, [1.5]],
        "inner": {"a": [0, 1], "b": [True]}, "tens": [1.0, 2.0],
    }  # fmt: skip
    assert type(d["n"]) is int and type(d["f"]) is float and type(d["inner"]["b"][0]) is bool
    assert type(d["t"]) is list and type(d["d"]["k"]) is list
    assert json.loads(json.dumps(d)) == d


def test_experiment_files_are_strict_json_csv_and_markdown(tmp_path):
    """Mutants io1 (_io._jsonable: only NaN made a string, so +-inf became the non-JSON token
    Infinity), io2 (write_csv: the header from the first row only) and io3 (markdown_table
    ignoring its number format)."""
    import csv
    import json

    from infotheory.experiments._io import markdown_table, write_csv, write_json

    def refuse(token):
        raise AssertionError(f"non-JSON token {token}")

    doc = {"v": [1.0, float("inf"), -float("inf"), float("nan")], "a": np.array([0.5, 2.0])}
    text = write_json(tmp_path / "x.json", doc).read_text()
    assert json.loads(text, parse_constant=refuse) == {
        "v": [1.0, "inf", "-inf", "nan"],
        "a": [0.5, 2.0],
    }
    rows = [{"a": 1}, {"a": 2, "b": 3.5}]
    with write_csv(tmp_path / "x.csv", rows).open(newline="") as f:
        assert list(csv.reader(f)) == [["a", "b"], ["1", ""], ["2", "3.5"]]
    table = markdown_table([{"v": 1 / 3, "s": "x", "i": 7}], ["v", "s", "i"], fmt=".3f")
    assert table == "| v | s | i |\n|---|---|---|\n| 0.333 | x | 7 |"
    assert markdown_table([{"v": 2 / 3}], ["v"]).endswith("| 0.6667 |")


# ------------------------------------------------------------------ reproduce: the second paper


def _reverse_waterfill_bits(s2: np.ndarray, D: float) -> float:
    """min I(U; Y) in bits for X = H U at squared-error budget D (math.md §A3): the water level
    theta with sum min(theta, s_i) = D found by bisection, then 1/2 sum log2(s_i / min(theta, s_i))."""
    s2 = s2[s2 > 0]
    if D >= s2.sum():
        return 0.0
    lo, hi = 0.0, float(s2.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.minimum(mid, s2).sum() < D else (lo, mid)
    return float(0.5 * np.log2(s2 / np.minimum(0.5 * (lo + hi), s2)).sum())


def test_fig45_rows_against_an_independent_waterfill(tmp_path, monkeypatch):
    """Mutants p2a (the paper's erratum: budgets as fractions of sum sigma_i instead of
    sum sigma_i^2 = ||H||_F^2, math.md §A6.1) and p2e (H_ij ~ N(0, 1/m^2) instead of N(0, 1/m)):
    every row against H redrawn here and a numpy water-filling."""
    import json

    from infotheory.experiments import paper2_figures, reproduce

    monkeypatch.setattr(paper2_figures, "pyplot", lambda: None)  # no plot: cheaper
    reproduce.resolve("fig45")(reproduce.Options(out=tmp_path, quick=True, seed=3))

    rows = json.loads((tmp_path / "fig45.json").read_text())["rows"]
    assert len(rows) == 2 * 2 * 3 * 10
    spectra = {}
    for r in rows:
        m, n = r["m"], r["n"]
        assert n == max(1, round(r["n_over_m"] * m))
        if (m, n) not in spectra:
            H = np.random.default_rng(3).normal(0.0, 1.0 / np.sqrt(m), size=(n, m))
            spectra[m, n] = np.linalg.svd(H, compute_uv=False) ** 2, float((H * H).sum())
        s2, fro2 = spectra[m, n]
        assert r["sum_sigma2"] == pytest.approx(fro2, rel=1e-12)
        D = 0.1 if r["fraction"] == "abs 0.1" else r["fraction"] * r["sum_sigma2"]
        assert r["D"] == pytest.approx(D, rel=1e-14)
        assert r["mi_bits"] == pytest.approx(_reverse_waterfill_bits(s2, D), rel=1e-9, abs=1e-9)


def test_paper_grid_keeps_the_boundary_points():
    """Mutant p2b (paper_grid_rho2: strict ``< D``): the meshgrid's points on the ellipse
    x^2/a^2 + y^2/sigma^2 = D belong to the paper's feasible set. 3 x 3 grid, a^2 = sigma^2 = 1,
    D = 1/4: feasible (0, 0) and (+-1/2, 0), (0, +-1/2); rho^2 = (1 + x)^2 / (9/4 + 2x + 2y),
    smallest at (-1/2, 0): (1/4) / (5/4) = 1/5."""
    from infotheory.experiments.paper2_figures import paper_grid_rho2

    assert paper_grid_rho2(1.0, 1.0, 0.25, 3) == pytest.approx(0.2, rel=1e-15)
    # an irrational half-width sqrt(a^2 D): its square misses D by an ulp, still on the ellipse
    a2, s2, D = 0.75, 0.5, 0.1
    x = np.sqrt(a2 * D)
    want = min((a2 + X) ** 2 / (a2 * (a2 + s2 + D + 2 * X + 2 * Y))
               for X, Y in ((0, 0), (-x, 0), (x, 0), (0, -np.sqrt(s2 * D)), (0, np.sqrt(s2 * D))))  # fmt: skip
    assert paper_grid_rho2(a2, s2, D, 3) == pytest.approx(want, rel=1e-14)


# ------------------------------------------------------------------ reproduce: the first paper

# The first paper's Tables 1-3, typed from the paper (not from infotheory/experiments).
PAPER_TABLE2 = {
    "IB": [98.64, 85.88, 62.94, 40.63, 34.53, 53.30, 58.41, 51.79],
    "CE": [98.63, 63.39, 1.38, 1.04, 1.79, 18.33, 2.18, 2.12],
    "IB+adv": [98.53, 92.13, 90.43, 55.27, 43.08, 49.69, 58.97, 56.65],
    "CE+adv": [97.94, 78.95, 89.73, 50.33, 2.54, 16.81, 21.82, 21.36],
}
PAPER_TABLE3 = {
    "IB": [67.06, 34.92, 20.15, 14.73, 23.47, 21.37, 19.06, 20.04],
    "CE": [65.39, 17.33, 12.23, 10.35, 18.5, 11.63, 18.67, 18.19],
    "IB+adv": [63.14, 44.48, 58.64, 56.28, 26.64, 13.20, 21.52, 22.86],
    "CE+adv": [61.67, 29.4, 57.04, 48.44, 21.79, 11.65, 19.69, 19.78],
}
# beta -> method -> (I(X';T') FGSM, BIM, PGD), (accuracy FGSM, BIM, PGD)
PAPER_TABLE1 = {
    1e-1: {"IB": ((90.56, 17.80, 17.78), (70.96, 72.84, 74.92)),
           "IB+adv": ((5.22, 5.05, 5.04), (91.43, 87.34, 86.75))},
    1e-2: {"IB": ((62.39, 22.24, 21.78), (68.86, 66.46, 66.67)),
           "IB+adv": ((10.73, 9.23, 9.11), (91.86, 90.08, 89.78))},
    1e-3: {"IB": ((32.70, 21.91, 23.66), (59.87, 59.88, 57.97)),
           "IB+adv": ((25.88, 19.26, 18.42), (91.54, 89.59, 89.88))},
}  # fmt: skip


def test_paper_tables_are_transcribed_cell_for_cell():
    """Mutant pp16 (paper1_numbers: two cells of a row swapped; the old test read one row of
    each table): every cell against the paper."""
    from infotheory.experiments.paper1_numbers import TABLE1, TABLE2, TABLE2_COLUMNS, TABLE3

    assert list(TABLE2_COLUMNS) == ["clean", "fgsm_0.1", "fgsm_0.3", "fgsm_0.5", "deepfool",
                                    "cw", "bim_0.2", "pgd_0.2"]  # fmt: skip
    for mine, paper in ((TABLE2, PAPER_TABLE2), (TABLE3, PAPER_TABLE3)):
        assert {m: list(r.values()) for m, r in mine.items()} == paper
        assert all(list(r) == list(TABLE2_COLUMNS) for r in mine.values())
    for beta, methods in PAPER_TABLE1.items():
        for method, (ixt, acc) in methods.items():
            got = TABLE1[beta][method]
            assert [got[a] for a in ("fgsm", "bim", "pgd")] == list(zip(ixt, acc, strict=True))


def test_attack_suite_objects_match_their_description():
    """Mutants pp3 (BIM/PGD step 2.5 * 0.3 / steps at eps 0.2) and pp4 (PGD without its random
    start): the Table 2 attacks against the settings the report prints."""
    from infotheory.attacks import BIM, CW, FGSM, PGD, DeepFool
    from infotheory.experiments import _pipeline as P

    s = P.Settings(steps=20, cw_steps=7, deepfool_steps=9)
    suite = P.attack_suite(s, seed=3)
    assert list(suite) == ["fgsm_0.1", "fgsm_0.3", "fgsm_0.5", "deepfool", "cw", "bim_0.2",
                           "pgd_0.2"]  # fmt: skip
    for k, eps in (("fgsm_0.1", 0.1), ("fgsm_0.3", 0.3), ("fgsm_0.5", 0.5)):
        assert type(suite[k]) is FGSM and suite[k].eps == eps
    for k, cls in (("bim_0.2", BIM), ("pgd_0.2", PGD)):
        a = suite[k]
        assert type(a) is cls and (a.eps, a.steps) == (0.2, 20)
        assert a.alpha == pytest.approx(0.025, rel=1e-15)
    assert suite["pgd_0.2"].random_start is True and suite["bim_0.2"].random_start is False
    assert type(suite["deepfool"]) is DeepFool and suite["deepfool"].steps == 9
    assert type(suite["cw"]) is CW and suite["cw"].steps == 7
    text = P.attack_settings(s)
    assert text["bim_0.2"] == "BIM, L-inf eps 0.2, 20 steps of 0.025"
    assert text["pgd_0.2"] == "PGD, L-inf eps 0.2, 20 steps of 0.025, random start"


def test_information_in_bits_against_closed_forms():
    """Mutant pp2 (iyt_bits: the cross-entropy in nats subtracted from log2(10)). Constant logits:
    CE = ln 10 exactly, so I(Y;T) >= log2(10) - CE/ln 2 = 0; logits (a, 0, ..., 0) with label 0:
    CE = ln(e^a + 9) - a."""
    import math

    import torch
    from torch import nn

    from infotheory.experiments import _pipeline as P

    class Const(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.a = a

        def forward(self, x):
            z = torch.zeros(len(x), 10, dtype=torch.float64)
            z[:, 0] = self.a
            return z

    x, y = torch.zeros(6, 3), torch.zeros(6, dtype=torch.int64)
    assert P.iyt_bits(Const(0.0), x, y, 10) == pytest.approx(0.0, abs=1e-14)
    want = math.log2(10) - (math.log(math.exp(2.0) + 9) - 2.0) / math.log(2)
    assert P.iyt_bits(Const(2.0), x, y, 10) == pytest.approx(want, rel=1e-13)


def test_perturbation_norms_count_only_samples_turned_wrong():
    """Mutant pp5 (_pipeline.evaluate: the median norms over every wrong prediction, including
    samples the model already got wrong before the attack)."""
    import types

    import torch

    from infotheory.experiments import _pipeline as P

    model = _affine_binary()  # class 1 iff x0 - x1 + x2 - x3 > 0
    x = torch.tensor([[0.1, 0, 0, 0], [0.2, 0, 0, 0], [0.3, 0, 0, 0]], dtype=torch.float64)
    y = torch.tensor([1, 0, 1])  # sample 1 is wrong before any attack
    delta = torch.tensor([[-1.0, 0, 0, 0], [0.5, 0, 0, 0], [0.1, 0, 0, 0]], dtype=torch.float64)

    def attack(m, xb, yb):
        return types.SimpleNamespace(x_adv=xb + delta[: len(xb)])

    acc, norms, _ = P.evaluate(model, x, y, {"shift": attack}, quiet=True)
    assert acc["clean"] == pytest.approx(200 / 3) and acc["shift"] == pytest.approx(100 / 3)
    assert norms["shift"]["fooled"] == 1
    assert norms["shift"]["l2_median"] == norms["shift"]["linf_median"] == 1.0


def test_cuda_index_must_be_below_the_device_count(monkeypatch):
    """Mutant pp6 (resolve_device: cuda:N accepted for N == the device count)."""
    import torch

    from infotheory.experiments import _pipeline as P

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert P.resolve_device("cuda:1") == "cuda:1" and P.resolve_device("auto") == "cuda"
    with pytest.raises(ValueError, match="--device cuda:2: only 2 CUDA device"):
        P.resolve_device("cuda:2")


def test_full_settings_take_the_epochs_flag():
    """Mutant pp9 (paper1_tables.target_settings: --epochs ignored under --full)."""
    from pathlib import Path

    from infotheory.experiments.paper1_tables import target_settings
    from infotheory.experiments.reproduce import Options

    s = target_settings(Options(out=Path("unused"), full=True, epochs=3, seed=4, device="cpu"))
    assert (s.epochs, s.steps, s.n_attack, s.seed, s.device) == (3, 40, 10**9, 4, "cpu")
    assert target_settings(Options(out=Path("unused"), full=True, device="cpu")).epochs == 30
    quick = target_settings(Options(out=Path("unused"), quick=True, epochs=2, device="cpu"))
    assert quick.epochs == 2


def test_pearson_needs_three_points_and_claims_need_a_strict_win():
    """Mutants pp12 (_pearson with two points: r = +-1 reported for a line through two points)
    and pp13 (claims: a tie counted as the paper's claim holding)."""
    from scipy.stats import pearsonr

    from infotheory.experiments import paper1_report as R
    from infotheory.experiments.paper1_figures import _pearson

    rows = [{"y": 1.0, "a": 2.0}, {"y": 3.0, "a": 5.0}]
    assert np.isnan(_pearson(rows, "y", ("a",))["a"]["r"])
    rows.append({"y": 2.0, "a": 1.0})
    got = _pearson(rows, "y", ("a",))["a"]
    r, p = pearsonr([2.0, 5.0, 1.0], [1.0, 3.0, 2.0])
    assert (got["r"], got["p"], got["n"]) == (pytest.approx(r), pytest.approx(p), 3)
    tie = {m: {"fgsm_0.1": 50.0} for m in ("IB", "CE")}
    assert R.claims(tie) == [
        {"claim": "IB is more robust than CE under FGSM eps 0.1", "holds": False,
         "ours": "IB 50.0% vs CE 50.0%"}
    ]  # fmt: skip


def test_fig3_rows_follow_from_the_predictions(tmp_path, monkeypatch):
    """Mutants pp11 (tau = the pair's best test ACCURACY, the paper's wording; Theorem 4 needs the
    worst test error, math.md §B4.3) and pp15 (delta = the attack's success rate instead of
    1 - success rate). Every prediction fig3 makes is recorded and the rows recomputed."""
    pytest.importorskip("sklearn")
    from infotheory.experiments import _pipeline as P
    from infotheory.experiments import paper1_figures, reproduce

    calls, data = [], []
    real_logits, real_load = P.logits, P.load_data

    def spy_logits(model, x, batch=500):
        out = real_logits(model, x, batch)
        calls.append(out.argmax(-1))
        return out

    def spy_load(s):
        data.append(real_load(s))
        return data[-1]

    monkeypatch.setattr(P, "logits", spy_logits)
    monkeypatch.setattr(P, "load_data", spy_load)
    monkeypatch.setattr(paper1_figures, "pyplot", lambda: None)  # no plot: cheaper
    opts = reproduce.Options(out=tmp_path, quick=True, epochs=1, data="digits", device="cpu")
    doc = reproduce.resolve("fig3")(opts)
    y = data[0].y_test[:120]
    assert len(doc["rows"]) == 3 and len(calls) == 12
    for k, r in enumerate(doc["rows"]):
        p1, p1a, p2, p2a = calls[4 * k : 4 * k + 4]
        assert r["delta"] == pytest.approx(1.0 - float((p1 != p1a).float().mean()), abs=1e-15)
        assert r["delta_prime"] == pytest.approx(1.0 - float((p2 != p2a).float().mean()), abs=1e-15)
        err = max(float((p1 != y).float().mean()), float((p2 != y).float().mean()))
        assert r["tau"] == pytest.approx(err, abs=1e-15)


def test_table1_attacks_at_eps_0_3_and_reports_their_rows(tmp_path, monkeypatch):
    """Mutant pp10 (table1: BIM/PGD step size 2.5 * 0.2 / steps, the Tables 2-3 setting, at the
    budget 0.3). Training is skipped and the evaluation recorded: the attacks handed over and
    each row's numbers."""
    pytest.importorskip("sklearn")
    from infotheory.attacks import BIM, FGSM, PGD
    from infotheory.experiments import _pipeline as P
    from infotheory.experiments import paper1_tables, reproduce

    seen = []

    def fake_evaluate(model, x, y, attacks, quiet=False, keep=()):
        seen.append(attacks)
        acc = {"clean": 90.0, **{k: 10.0 * (i + 1) for i, k in enumerate(attacks)}}
        return acc, {}, {k: x for k in keep}

    monkeypatch.setattr(P, "train", lambda *a, **k: [])
    monkeypatch.setattr(P, "evaluate", fake_evaluate)
    monkeypatch.setattr(paper1_tables, "pyplot", lambda: None)  # no plot: cheaper
    opts = reproduce.Options(out=tmp_path, quick=True, data="digits", device="cpu")
    doc = reproduce.resolve("table1")(opts)
    steps = doc["settings"]["steps"]
    assert len(seen) == 6
    a = seen[0]
    assert list(a) == ["fgsm", "bim", "pgd"] and type(a["fgsm"]) is FGSM and a["fgsm"].eps == 0.3
    for k, cls in (("bim", BIM), ("pgd", PGD)):
        assert type(a[k]) is cls and (a[k].eps, a[k].steps) == (0.3, steps)
        assert a[k].alpha == pytest.approx(2.5 * 0.3 / steps, rel=1e-15)
    rows = doc["rows"]
    assert [(r["beta"], r["method"], r["attack"]) for r in rows[:4]] == [
        (0.1, "IB", "fgsm"), (0.1, "IB", "bim"), (0.1, "IB", "pgd"), (0.1, "IB+adv", "fgsm")
    ]  # fmt: skip
    for r in rows:
        assert r["adv_acc"] == {"fgsm": 10.0, "bim": 20.0, "pgd": 30.0}[r["attack"]]
        assert r["clean_acc"] == 90.0 and r["ixt_adv_bits"] == r["ixt_bits"]  # kept = clean x
        paper = PAPER_TABLE1[r["beta"]][r["method"]]
        i = ["fgsm", "bim", "pgd"].index(r["attack"])
        assert (r["paper_ixt_adv"], r["paper_adv_acc"]) == (paper[0][i], paper[1][i])


# ------------------------------------------------------------------ reproduce: estimators, Theorem 3


def test_entropy_estimators_rmse_against_a_numpy_plug_in(tmp_path, monkeypatch):
    """Mutants es1 (mean absolute error reported as RMSE), es2 (the true entropy in nats against
    estimates in bits), es3 (NSB without the alphabet size) and es5 (--seed ignored): the rows
    recomputed from the documented draws, the plug-in estimate in numpy. The other estimators are
    replaced by a recorder returning 0 (their RMSE is then the true entropy), which keeps the
    target cheap and shows the arguments each received."""
    import infotheory.estimators as est
    from infotheory.experiments import repro_estimators, reproduce

    calls = []
    real = est.entropy

    def spy(s, method="jvhw", base="e", **kw):
        calls.append((method, base, kw))
        return real(s, method=method, base=base, **kw) if method == "mle" else 0.0

    monkeypatch.setattr(est, "entropy", spy)
    monkeypatch.setattr(repro_estimators, "pyplot", lambda: None)  # no plot: cheaper
    opts = reproduce.Options(out=tmp_path, quick=True, seed=1)
    summary = reproduce.resolve("entropy-estimators")(opts)
    S = 2000
    zipf = 1.0 / np.arange(1, S + 1)
    sources = {"uniform": np.full(S, 1.0 / S), "zipf": zipf / zipf.sum()}
    assert len(summary["rmse"]) == 6
    assert {(m, b) for m, b, _ in calls} == {("mle", 2), ("miller_madow", 2), ("jvhw", 2),
                                             ("nsb", 2)}  # fmt: skip
    assert all(kw == {"alphabet_size": S} for m, _, kw in calls if m == "nsb")
    for row in summary["rmse"]:
        p = sources[row["source"]]
        truth = float(-(p * np.log2(p)).sum())
        assert row["truth_bits"] == pytest.approx(truth, rel=1e-14)
        mle = []
        for k in range(3):
            s = np.random.default_rng(1000 + k).choice(S, size=row["n"], p=p)
            q = np.bincount(s) / len(s)
            q = q[q > 0]
            mle.append(float(-(q * np.log2(q)).sum()) - truth)
        assert row["rmse_mle"] == pytest.approx(np.sqrt(np.mean(np.square(mle))), rel=1e-10)
        for m in ("miller_madow", "jvhw", "nsb"):
            assert row[f"rmse_{m}"] == pytest.approx(truth, rel=1e-14)


def test_theorem3_trial_against_the_analytic_gradient():
    """Mutants li1 (L_mu from the columns of A instead of its rows, the coordinate-wise
    constants), li3 (difference quotient at step 1e-1) and li4 (t drawn with unit spread instead
    of sigma_min): one trial of the theorem3 target redrawn here, the observed rate against the
    analytic directional derivative of p(t|x) = prod_k N(t_k; tanh(a_k x), s0 + softplus(b_k x +
    c_k)) and the bounds against gaussian_encoder_bound with the rows' norms."""
    import math

    from infotheory.experiments.repro_lipschitz import _rate
    from infotheory.lipschitz import gaussian_encoder_bound

    K, d = 3, 4
    got = _rate(K, d, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    A, B = rng.normal(size=(K, d)), rng.normal(size=(K, d))
    c = rng.normal(size=K)
    s0 = float(rng.uniform(0.1, 1.0))
    x, dx = rng.normal(size=(200, d)), 1e-5 * rng.normal(size=(200, d))
    mu = np.tanh(x @ A.T)
    t = mu + s0 * rng.normal(size=(200, K))
    zs = x @ B.T + c
    sg = s0 + np.logaddexp(0.0, zs)
    p = np.exp((-0.5 * ((t - mu) / sg) ** 2 - np.log(sg) - 0.5 * math.log(2 * math.pi)).sum(-1))
    u = dx / np.linalg.norm(dx, axis=1, keepdims=True)
    dmu = (1 - mu**2) * (u @ A.T)  # directional derivatives of mu_k and sigma_k
    dsg = (1 / (1 + np.exp(-zs))) * (u @ B.T)
    dlogp = ((t - mu) / sg**2 * dmu + ((t - mu) ** 2 / sg**3 - 1 / sg) * dsg).sum(-1)
    assert got["observed"] == pytest.approx(float(np.abs(p * dlogp).max()), rel=1e-3)
    L_mu, L_sigma = np.linalg.norm(A, axis=1).max(), np.linalg.norm(B, axis=1).max()
    assert got["corrected"] == gaussian_encoder_bound(L_mu, L_sigma, s0, K)
    assert got["paper"] == gaussian_encoder_bound(L_mu, L_sigma, s0, K, form="paper")
    assert got["observed"] <= got["corrected"]


def test_fig3_attack_grid_of_budgets_and_readable_points(tmp_path, monkeypatch):
    """Mutant p2c (fig3_attack: panel (d), a^2 = 0.25, on the 0.1 grid of D like the others; the
    figure uses 0.05 there, math.md §A2.6). Also the figure's readable point rho*^2 = 0.669 at
    a^2 = 1, sigma^2 = 0.1, D = 0.1."""
    import json

    from infotheory.experiments import paper2_figures, reproduce

    monkeypatch.setattr(paper2_figures, "pyplot", lambda: None)  # no plot: cheaper
    reproduce.resolve("fig3-attack")(reproduce.Options(out=tmp_path, quick=True))
    rows = json.loads((tmp_path / "fig3-attack.json").read_text())["rows"]
    for a2, step in ((1.0, 0.1), (0.75, 0.1), (0.5, 0.1), (0.25, 0.05)):
        for s2 in (0.1, 0.5, 1.0):
            Ds = [r["D"] for r in rows if r["a2"] == a2 and r["s2"] == s2]
            want = np.round(np.arange(0.1, 1.0 + 1e-9, step), 2).tolist()
            assert Ds == want and len(want) == (19 if a2 == 0.25 else 10)
    pick = next(r for r in rows if (r["a2"], r["s2"], r["D"]) == (1.0, 0.1, 0.1))
    assert pick["rho2"] == pytest.approx(0.669, abs=5e-4)


def test_fig6_priors_budgets_and_unit(tmp_path, monkeypatch):
    """Mutant p2h (FIG6_PRIORS: the last prior of panel 6(b), [.22, .26, .26, .26], typed as the
    uniform one). Priors from the figure's legends and D = 0.01 + 0.04 j (math.md §A4.5); the
    first curve of 6(a) starts at 0.3466 nats. The paper's grid search is replaced by a recorder
    (it is tested elsewhere)."""
    import json

    from infotheory.experiments import paper2_figures, reproduce

    grid = []
    monkeypatch.setattr(paper2_figures, "pyplot", lambda: None)
    monkeypatch.setattr(paper2_figures, "binary_attack_grid",
                        lambda w, D, points: grid.append((w, D, points)) or 1.0)  # fmt: skip
    reproduce.resolve("fig6")(reproduce.Options(out=tmp_path, quick=True))
    priors = {
        "6(a)": [[.45, .05, .05, .45], [.40, .10, .10, .40], [.30, .20, .20, .30], [.25] * 4],
        "6(b)": [[.94, .02, .02, .02], [.70, .10, .10, .10], [.40, .20, .20, .20],
                 [.22, .26, .26, .26]],
        "6(c)": [[.47, .47, .03, .03], [.40, .40, .10, .10], [.30, .30, .20, .20],
                 [.28, .28, .22, .22]],
    }  # fmt: skip
    assert paper2_figures.FIG6_PRIORS == priors
    rows = json.loads((tmp_path / "fig6.json").read_text())["rows"]
    Ds = [round(0.01 + 0.04 * j, 2) for j in range(10)]
    assert [(r["panel"], r["prior"], r["D"]) for r in rows] == [
        (p, str(w), D) for p, ws in priors.items() for w in ws for D in Ds
    ]
    assert rows[0]["mi_nats"] == pytest.approx(0.3466, abs=5e-5)
    assert grid == [(w[0], D, 100) for w in priors.values() for D in (0.01, 0.13)]


def test_theorem3_summary_is_the_worst_ratio_of_its_trials(tmp_path, monkeypatch):
    """Mutant li2 (theorem3: max_observed_over_corrected computed against the paper's bound):
    the summary recomputed from the trials the target writes."""
    import csv
    import json

    from infotheory.experiments import _io, reproduce

    monkeypatch.setattr(_io, "pyplot", lambda: None)  # no plot: cheaper
    reproduce.resolve("theorem3")(reproduce.Options(out=tmp_path, quick=True, seed=2))
    with (tmp_path / "theorem3_trials.csv").open() as f:
        trials = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    summary = json.loads((tmp_path / "theorem3.json").read_text())
    assert len(trials) == 30
    for K in sorted({int(t["K"]) for t in trials}):
        sub = [t for t in trials if t["K"] == K]
        s = summary[f"K={K}"]
        assert s["trials"] == len(sub)
        for form in ("paper", "corrected"):
            want = max(t["observed"] / t[form] for t in sub)
            assert s[f"max_observed_over_{form}"] == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------ ib: checkpoints and resume


def _tiny_trainer(out, ema=0.9, seed=0):
    import torch

    from infotheory.ib import VIB, Trainer

    torch.manual_seed(seed)
    model = VIB.mlp(6, 3, K=2, widths=(8,), samples=2)
    return Trainer(model, lr=1e-2, batch_size=16, ema=ema, out=out, quiet=True)


def _tiny_data():
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 6, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def test_every_epoch_is_checkpointed_and_an_interrupted_run_resumes(tmp_path, monkeypatch):
    """Mutant tr5 (Trainer.fit: checkpoint only after the last epoch): a run interrupted in its
    third epoch must leave the second epoch's checkpoint, and resuming it must end where the
    uninterrupted run ends."""
    import torch

    from infotheory.ib import Trainer, load_checkpoint

    data = _tiny_data()
    full = _tiny_trainer(tmp_path / "full")
    full.fit(data, None, 3)
    run = _tiny_trainer(tmp_path / "cut")
    real_epoch, calls = Trainer._epoch, []

    def epoch(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_epoch(self, *a, **k)

    monkeypatch.setattr(Trainer, "_epoch", epoch)
    with pytest.raises(KeyboardInterrupt):
        run.fit(data, None, 3)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "cut")["epoch"] == 2
    resumed = _tiny_trainer(tmp_path / "cut", seed=5)
    resumed.fit(data, None, 3, resume=True)
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_resume_refuses_a_missing_path_and_a_checkpoint_without_ema(tmp_path):
    """Mutants tr1 (fit(resume=PATH) with a missing file silently trained from scratch) and tr3
    (a checkpoint without EMA state loaded into a trainer that keeps an EMA)."""
    data = _tiny_data()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _tiny_trainer(tmp_path / "a").fit(data, None, 1, resume=tmp_path / "missing.pt")
    _tiny_trainer(tmp_path / "plain", ema=None).fit(data, None, 1)
    with pytest.raises(ValueError, match="no EMA state"):
        _tiny_trainer(tmp_path / "b").fit(
            data, None, 2, resume=tmp_path / "plain" / "checkpoint.pt"
        )


def test_history_files_are_strict_json_and_checkpoint_versions_must_match(tmp_path):
    """Mutants st1 (History: +-inf kept, written as the non-JSON token Infinity) and st2
    (load_checkpoint accepting an older format version)."""
    import json

    import torch

    from infotheory.ib import History, load_checkpoint
    from infotheory.ib._state import CHECKPOINT_FORMAT

    def refuse(token):
        raise AssertionError(f"non-JSON token {token}")

    h = History([{"epoch": 1, "kl": float("inf"), "ce": float("nan"), "acc": 0.5},
                 {"epoch": 2, "kl": -float("inf"), "ce": 1.0, "acc": 0.75}])  # fmt: skip
    js, cs = h.save(tmp_path)
    assert json.loads(js.read_text(), parse_constant=refuse) == [
        {"epoch": 1, "kl": None, "ce": None, "acc": 0.5},
        {"epoch": 2, "kl": None, "ce": 1.0, "acc": 0.75},
    ]
    assert cs.read_text().splitlines() == ["epoch,kl,ce,acc", "1,,,0.5", "2,,1.0,0.75"]
    # mutant st5 (the CSV header from the first record only): records with different keys
    History([{"epoch": 1}, {"epoch": 2, "lr": 0.5}]).save(tmp_path / "h2")
    assert (tmp_path / "h2" / "history.csv").read_text().splitlines() == ["epoch,lr", "1,", "2,0.5"]
    ck = tmp_path / "old.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "version": 0}, ck)
    with pytest.raises(ValueError, match="has version 0"):
        load_checkpoint(ck)


def test_each_epoch_evaluates_with_fresh_encoder_noise():
    """Mutant tr2 (Trainer.fit: every epoch's test metrics drawn with the same noise seed):
    epoch e (1-based) evaluates with seed + 7919 e, as the first epoch's test already pinned."""
    x, y = _tiny_data()
    t = _tiny_trainer(None, seed=1)
    h = t.fit((x, y), (x[:20], y[:20]), 2)
    from infotheory.ib import label_entropy

    h_y = label_entropy(y)
    ev = t.evaluate(x[:20], y[:20], seed=2 * 7919)
    assert (h.records[1]["test_acc"], h.records[1]["test_iyt"]) == (ev["acc"], h_y - ev["ce"])
    assert h.records[1]["test_iyt"] != h_y - t.evaluate(x[:20], y[:20], seed=7919)["ce"]


# ------------------------------------------------------------------ data


def test_cifar_folder_is_used_as_given_when_it_holds_the_batches(tmp_path):
    """Mutant da13 (read_cifar10: descend into a cifar-10-batches-py subfolder even when the
    folder given holds the batches itself). Synthetic batches of 2 images each."""
    import pickle

    from infotheory.data import load

    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
        with (tmp_path / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": [1, 7]}, f)
    (tmp_path / "cifar-10-batches-py").mkdir()  # an unrelated (empty) folder of that name
    d = load(f"cifar10:{tmp_path}")
    assert d.shape == (3, 32, 32) and (len(d.y_train), len(d.y_test)) == (10, 2)
    assert d.y_test.tolist() == [1, 7]


# ------------------------------------------------------------------ demo and feature helpers


def test_demo_self_check_uses_the_worked_example_of_math_md():
    """Mutant pp17 (demo.WORKED: a wrong reference number, here I* = 0.5 bits at D = sum
    sigma^2 = 7.25, where nothing is left to learn): the table of math.md §A3.3 in bits, and the
    compiled core within 5e-7 bits of every entry."""
    from infotheory.experiments import demo

    assert demo.WORKED == {0.5: 6.5, 1.0: 4.5, 2.0: 2.666411, 3.0: 1.688296, 5.0: 0.593109,
                           7.25: 0.0}  # fmt: skip
    rows = demo.waterfill_check()
    assert [r["D"] for r in rows] == list(demo.WORKED)
    assert max(r["abs_error"] for r in rows) <= 5e-7


def test_last_hidden_keeps_one_draw_of_a_stochastic_encoder():
    """Mutant pp7 (_pipeline.last_hidden: the mean over the eval-mode draws instead of one draw
    of T): (T - mu) / sigma is then N(0, 1/samples), not N(0, 1). 500 x 4 values: the sample
    variance of a single draw is 1 within 0.15 (about 5 standard errors)."""
    import torch

    from infotheory.experiments import _pipeline as P
    from infotheory.ib import VIB

    torch.manual_seed(0)
    model = VIB.mlp(5, 3, K=4, widths=(8,), samples=16).eval()
    x = torch.randn(500, 5)
    t = P.last_hidden(model, x)
    with torch.no_grad():
        mu, sigma = model.encode(x)
    z = (t - mu) / sigma
    assert t.shape == (500, 4) and abs(float(z.var()) - 1.0) < 0.15


# ------------------------------------------------------------------ product fix: reproduce's flags


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--seed", "-1", "argument --seed: must be in [0, 2**63), got -1"),
        ("--seed", str(2**63), f"argument --seed: must be in [0, 2**63), got {2**63}"),
        ("--seed", "x", "argument --seed: must be an integer, got 'x'"),
        ("--epochs", "-1", "argument --epochs: must be >= 0, got -1"),
    ],
)
def test_reproduce_refuses_a_negative_seed_or_epochs_by_name(
    flag, value, message, capsys, tmp_path
):
    """A bug found by the audit: `infotheory reproduce fig45 --seed -1` (and every numpy-seeded
    target) failed with numpy's "expected non-negative integer", naming no argument; paper 1's
    targets got as far as loading the data. argparse now refuses it, naming the flag."""
    from infotheory.cli import main

    for name in ("fig45", "table2"):
        with pytest.raises(SystemExit):
            main(["reproduce", name, "--quick", "--out", str(tmp_path), flag, value])
        assert message in capsys.readouterr().err


# ------------------------------------------------------------------ units of the recorded numbers


def test_feature_entropy_is_the_mean_per_unit_entropy_in_bits():
    """Mutant x1 (_pipeline.feature_entropy: entropies in nats, the estimators' default). The
    last hidden layer here is the input itself: unit 0 takes 0/1 half the time (1 bit), unit 1 is
    1 a quarter of the time (h(1/4) = 0.811278 bits); MLE mean 0.905639 bits."""
    import math

    import torch
    from torch import nn

    from infotheory.experiments import _pipeline as P

    model = nn.Sequential(nn.Identity(), nn.Linear(2, 3))
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]] * 2)
    got = P.feature_entropy(model, x, bins=2)
    h4 = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert got["units"] == 2 and got["mle"] == pytest.approx((1.0 + h4) / 2, rel=1e-14)


def test_trainer_records_convert_nats_to_bits():
    """Mutant x3 (the Trainer's iyt_bits = iyt * ln 2): every *_bits key is its nats key / ln 2,
    and I(Y;T) = H(Y) - CE (math.md §B3.3) with H(Y) of the training labels."""
    import math

    from infotheory.ib import label_entropy

    x, y = _tiny_data()
    t = _tiny_trainer(None, seed=2)
    for r in t.fit((x, y), None, 2).records:
        assert r["iyt"] == pytest.approx(label_entropy(y) - r["ce"], rel=1e-12)
        for k in ("ixt", "iyt"):
            assert r[f"{k}_bits"] == pytest.approx(r[k] / math.log(2), rel=1e-14)


def test_disagreements_need_more_than_the_threshold():
    """Mutant x4 (paper1_report.disagreements: a difference equal to the threshold listed)."""
    from infotheory.experiments import paper1_report as R

    paper = {"IB": {"clean": 50.0, "cw": 50.0}}
    recs = R.comparison_records({"IB": {"clean": 60.0, "cw": 60.5}}, paper)
    assert R.disagreements(recs, threshold=10.0) == [
        "IB, CW c=.1: ours 60.5% vs paper 50.00% (+10.5 points)"
    ]


# ------------------------------------------------------------------ the gradient-masking probe


@pytest.mark.parametrize(
    ("n", "script", "threshold", "found"),
    [
        # plain 50% of 100: tol = max(5, 200 sqrt(.25 / 100)) = 10; margin 42 and transfer 47 are
        # within it, PGD at eps 1 leaving 30% is not ~0%
        (100, [50.0, 42.0, 40.0, 30.0, 55.0, 47.0], 10.0, ["PGD at eps = 1 leaves 30.0%"]),
        # plain 100% of 25: p clamped to 0.95, tol = 200 sqrt(.0475 / 25) = 8.72; margin 93 within
        (25, [100.0, 93.0, 90.0, 0.0, 100.0, 100.0], 200 * (0.0475 / 25) ** 0.5, []),
        # the same with margin 90: a finding
        (25, [100.0, 90.0, 90.0, 0.0, 100.0, 100.0], 200 * (0.0475 / 25) ** 0.5, ["margin loss"]),
    ],
)
def test_masking_probe_thresholds_and_sign_noise(n, script, threshold, found, monkeypatch):
    """Mutants m1 (one standard error instead of two), m2 (PGD at eps = 1 flagged only above 50%),
    m4 (the binomial p not clamped to [0.05, 0.95]), m5 (a transferred attack counted when better
    by any amount) and m3 (sign noise in {0, 1} instead of +-1). The attacks are replaced by the
    identity and the accuracies scripted (call order: FGSM CE, FGSM margin, PGD, PGD at eps 1,
    sign noise, transfer), so only the probe's decision rules run."""
    import torch
    from torch import nn

    from infotheory.experiments import paper1_masking as M
    from infotheory.experiments._pipeline import Settings

    seen = []

    def scripted(model, xa, y):
        seen.append(xa)
        return script[len(seen) - 1]

    monkeypatch.setattr(M, "run_attack", lambda atk, model, x, y: x)
    monkeypatch.setattr(M, "accuracy", scripted)
    x, y = torch.full((n, 4), 0.5), torch.zeros(n, dtype=torch.int64)
    model = nn.Linear(4, 2)
    probe = M.masking_probe(model, x, y, Settings(steps=5), source=model, seed=1)
    assert len(seen) == 6 and [r["acc"] for r in probe["rows"]] == script
    assert probe["threshold"] == pytest.approx(threshold, rel=1e-12)
    assert len(probe["findings"]) == len(found)
    assert all(f in text for f, text in zip(found, probe["findings"], strict=True))
    assert torch.equal((seen[4] - x).abs(), torch.full_like(x, 0.3))  # +-eps on every pixel


def test_demo_refuses_a_negative_seed_or_epochs_by_name(capsys, tmp_path):
    """`infotheory demo --epochs -1` trained nothing, loaded the data and then failed with the
    Trainer's "epochs must be >= 0" (no flag named); argparse now refuses it first."""
    from infotheory.cli import main

    for flag, value, message in (
        ("--epochs", "-1", "argument --epochs: must be >= 0, got -1"),
        ("--seed", "-3", "argument --seed: must be in [0, 2**63), got -3"),
    ):
        with pytest.raises(SystemExit):
            main(["demo", "--quick", "--out", str(tmp_path), flag, value])
        assert message in capsys.readouterr().err
