"""The first paper's Figures 1-4 (``infotheory reproduce fig1|fig2|fig3|fig4``).

Each writes ``NAME.png``, ``NAME.json``, ``NAME.csv`` and ``NAME.md`` into ``--out``. The paper
gives neither the beta grid, the attack of Figures 1-3, nor the adversarial-training ratios of
Figure 4; our choices are in each JSON's ``settings`` and ``choices``. Figures 1-3 attack with FGSM at
eps = 0.1 (at the Tables' 0.3 our vanilla models sit at ~0%, which flattens every trend).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from ._io import markdown_table, pyplot
from .paper1_numbers import FIG3_PEARSON
from .paper1_tables import target_settings, write_target

FIG_EPS = 0.1


def _grid(opts: Any, quick: list, default: list) -> list:
    return quick if opts.quick else default


def _fgsm(s: Any, eps: float = FIG_EPS) -> Any:
    from infotheory.attacks import FGSM

    return FGSM(eps=eps, seed=s.seed)


def _save(fig: Any, plt: Any, opts: Any, name: str) -> list[str]:
    fig.tight_layout()
    fig.savefig(opts.out / f"{name}.png", dpi=110)
    plt.close(fig)
    return [f"{name}.png"]


def fig1(opts: Any) -> dict:
    """Figure 1: I(X;T), I(Y;T), benign and adversarial accuracy of VIB models against beta."""
    from . import _pipeline as P

    clock = P.Clock()
    opts.out.mkdir(parents=True, exist_ok=True)
    s = target_settings(opts)
    quiet = bool(opts.quick)
    d = P.load_data(s)
    xt, yt = d.x_test[: s.n_attack], d.y_test[: s.n_attack]
    xr, yr = d.x_train[: s.n_attack], d.y_train[: s.n_attack]
    betas = _grid(opts, [1e-3, 1e-1], [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    rows = []
    for beta in P.progress(betas, "fig1: beta sweep", quiet=quiet):
        model = P.build_model("vib", d, s, seed=s.seed)
        P.train(model, d, s, beta=beta, seed=s.seed, quiet=quiet)
        adv = P.run_attack(_fgsm(s), model, xt, yt)
        train_acc, adv_acc = P.accuracy(model, xr, yr), P.accuracy(model, adv, yt)
        rows.append(
            {
                "beta": beta,
                "ixt_bits": P.kl_rate_bits(model, xt),
                "iyt_bits": P.iyt_bits(model, xt, yt, d.n_classes),
                "train_acc": train_acc,
                "test_acc": P.accuracy(model, xt, yt),
                "adv_acc": adv_acc,
                "gap": train_acc - adv_acc,
            }
        )
    plots: list[str] = []
    plt = pyplot()
    if plt is not None:
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
        bs = [r["beta"] for r in rows]
        a.plot(bs, [r["ixt_bits"] for r in rows], "o-", label="I(X;T) (upper bound)")
        a.plot(bs, [r["iyt_bits"] for r in rows], "s-", label="I(Y;T) (lower bound)")
        a.set_yscale("symlog")
        a.set_ylabel("bits")
        for key, lab in (("test_acc", "benign"), ("adv_acc", f"FGSM {FIG_EPS}"), ("gap", "gap")):
            b.plot(bs, [r[key] for r in rows], "o-", label=lab)
        b.set_ylabel("accuracy / gap [%]")
        for ax in (a, b):
            ax.set_xscale("log")
            ax.set_xlabel("beta")
            ax.legend(fontsize=7)
        plots = _save(fig, plt, opts, "fig1")
    doc = {
        "target": "fig1",
        "settings": s.to_dict(),
        "choices": {
            "attack": f"FGSM eps {FIG_EPS}",
            "betas": betas,
            "beta_warmup": P.warmup_note(s),
        },
        "data": d.describe(),
        "rows": rows,
        "plots": plots,
        "seconds": clock.total,
    }
    cols = ["beta", "ixt_bits", "iyt_bits", "train_acc", "test_acc", "adv_acc", "gap"]
    md = [
        "## Figure 1: the beta sweep",
        "",
        "I(X;T) <= E KL and I(Y;T) >= log2(10) - CE on the test set, in bits; gap = benign train "
        f"accuracy - FGSM eps {FIG_EPS} test accuracy (the paper: it narrows as I(X;T) falls).",
        "",
        P.warmup_note(s),
        "",
        markdown_table(rows, cols, fmt=".3g"),
    ]
    print(md[-1])
    return write_target(opts.out, "fig1", doc, rows, md)


def fig2(opts: Any) -> dict:
    """Figure 2: oblivious vulnerability (benign train accuracy - adversarial test accuracy) per
    epoch, against the encoder's Lipschitz upper bound and I(X;T)."""
    from . import _pipeline as P

    clock = P.Clock()
    opts.out.mkdir(parents=True, exist_ok=True)
    s = target_settings(opts)
    quiet = bool(opts.quick)
    d = P.load_data(s)
    xt, yt = d.x_test[: s.n_attack], d.y_test[: s.n_attack]
    xr, yr = d.x_train[: s.n_attack], d.y_train[: s.n_attack]
    betas = _grid(opts, [1e-3], [1e-4, 1e-3, 1e-2])
    rows = []
    for beta in betas:
        model = P.build_model("vib", d, s, seed=s.seed)
        trainer = P.make_trainer(model, s, beta=beta, seed=s.seed, quiet=True, epochs=s.epochs)
        for epoch in P.progress(range(1, s.epochs + 1), f"fig2: beta {beta:g}", quiet=quiet):
            trainer.fit((d.x_train, d.y_train), (d.x_test, d.y_test), epoch)
            train_acc = P.accuracy(model, xr, yr)
            adv_acc = P.accuracy(model, P.run_attack(_fgsm(s), model, xt, yt), yt)
            rows.append(
                {
                    "beta": beta,
                    "epoch": epoch,
                    "train_acc": train_acc,
                    "adv_acc": adv_acc,
                    "oblivious_vulnerability": train_acc - adv_acc,
                    "lipschitz": P.lipschitz(model, d.shape)["value"],
                    "ixt_bits": P.kl_rate_bits(model, xt),
                }
            )
    plots: list[str] = []
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for beta in betas:
            pts = [r for r in rows if r["beta"] == beta]
            ov = [r["oblivious_vulnerability"] for r in pts]
            axes[0].plot([r["lipschitz"] for r in pts], ov, "o-", ms=3, label=f"beta {beta:g}")
            axes[1].plot([r["ixt_bits"] for r in pts], ov, "o-", ms=3, label=f"beta {beta:g}")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("encoder Lipschitz upper bound L")
        axes[1].set_xlabel("I(X;T) upper bound [bits]")
        for ax in axes:
            ax.set_ylabel("oblivious vulnerability [points]")
            ax.legend(fontsize=7)
        plots = _save(fig, plt, opts, "fig2")
    corr = _pearson(rows, "oblivious_vulnerability", ("lipschitz", "ixt_bits"))
    doc = {
        "target": "fig2",
        "settings": s.to_dict(),
        "choices": {
            "attack": f"FGSM eps {FIG_EPS}",
            "betas": betas,
            "beta_warmup": P.warmup_note(s),
        },
        "data": d.describe(),
        "rows": rows,
        "pearson": corr,
        "plots": plots,
        "seconds": clock.total,
    }
    cols = ["beta", "epoch", "train_acc", "adv_acc", "oblivious_vulnerability", "lipschitz"]
    md = [
        "## Figure 2: oblivious vulnerability against L and I(X;T)",
        "",
        "One row per epoch; the paper: vulnerability grows with both L and I(X;T).",
        "",
        markdown_table(rows, [*cols, "ixt_bits"], fmt=".3g"),
        "",
        *_pearson_lines(corr, "oblivious vulnerability"),
    ]
    print(md[4])
    return write_target(opts.out, "fig2", doc, rows, md)


def _pearson(rows: list[dict], y: str, xs: tuple[str, ...]) -> dict[str, dict[str, float]]:
    from scipy.stats import pearsonr

    out = {}
    yv = np.array([float(r[y]) for r in rows])
    for x in xs:
        xv = np.array([float("nan") if r[x] is None else float(r[x]) for r in rows])
        ok = np.isfinite(xv) & np.isfinite(yv)
        if ok.sum() < 3 or np.ptp(xv[ok]) == 0 or np.ptp(yv[ok]) == 0:
            out[x] = {"r": float("nan"), "p": float("nan"), "n": int(ok.sum())}
            continue
        r, p = pearsonr(xv[ok], yv[ok])
        out[x] = {"r": float(r), "p": float(p), "n": int(ok.sum())}
    return out


def _pearson_lines(corr: dict, what: str) -> list[str]:
    return [
        f"- Pearson r({x}, {what}) = {c['r']:.3f}, two-sided p = {c['p']:.3g} (n = {c['n']})"
        for x, c in corr.items()
    ]


def _refit_decoder(model: Any, d: Any, s: Any, seed: int) -> Any:
    """A second classifier sharing ``model``'s encoder: a copy whose final linear layer (the
    decoder) is re-initialised and retrained with the encoder frozen."""
    import torch

    from . import _pipeline as P

    f2 = copy.deepcopy(model)
    for p in f2.parameters():
        p.requires_grad_(False)
    dec = P.last_linear(f2)
    torch.manual_seed(seed)
    dec.reset_parameters()
    for p in dec.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(dec.parameters(), lr=s.lr)
    g = torch.Generator().manual_seed(seed)
    f2.train()
    for _ in range(max(1, s.epochs // 2)):
        perm = torch.randperm(len(d.y_train), generator=g)
        for i in range(0, len(perm), s.batch_size):
            idx = perm[i : i + s.batch_size].to(d.x_train.device)
            loss = torch.nn.functional.cross_entropy(f2(d.x_train[idx]), d.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    f2.eval()
    return f2


def fig3(opts: Any) -> dict:
    """Figure 3 (Theorem 4): pairs of classifiers sharing one stochastic encoder; the attack
    success drop delta' - delta when FGSM examples crafted on f1 are used on f2, against the
    encoder's Lipschitz bound L and the pair's worst error tau, with the Theorem 4 bound."""
    from infotheory.bounds import transfer_delta

    from . import _pipeline as P

    clock = P.Clock()
    opts.out.mkdir(parents=True, exist_ok=True)
    s = target_settings(opts)
    quiet = bool(opts.quick)
    d = P.load_data(s)
    x, y = d.x_test[: s.n_attack], d.y_test[: s.n_attack]
    archs = _grid(
        opts,
        [(64,), (128,), (128, 64)],
        [(64,), (256,), (256, 128), (512, 256), (512, 512, 256, 256)],
    )
    betas = _grid(opts, [1e-3], [1e-3, 1e-2])
    rows = []
    jobs = [(a, b) for b in betas for a in archs]
    for k, (arch, beta) in enumerate(P.progress(jobs, "fig3: model pairs", quiet=quiet)):
        f1 = P.build_model("vib", d, s, widths=arch, seed=s.seed + k)
        P.train(f1, d, s, beta=beta, seed=s.seed + k, quiet=True)
        f2 = _refit_decoder(f1, d, s, seed=s.seed + 1000 + k)
        x_adv = P.run_attack(_fgsm(s), f1, x, y)
        p1, p1a = P.logits(f1, x).argmax(-1), P.logits(f1, x_adv).argmax(-1)
        p2, p2a = P.logits(f2, x).argmax(-1), P.logits(f2, x_adv).argmax(-1)
        delta = 1.0 - float((p1 != p1a).float().mean())  # A is delta-effective on f1
        delta2 = 1.0 - float((p2 != p2a).float().mean())
        tau = max(float((p1 != y).float().mean()), float((p2 != y).float().mean()))
        L = P.lipschitz(f1, d.shape)["value"]
        bound = transfer_delta(delta, tau, 1, L, FIG_EPS) if math.isfinite(L) else float("nan")
        rows.append(
            {
                "widths": "-".join(map(str, arch)),
                "beta": beta,
                "L": L,
                "tau": tau,
                "delta": delta,
                "delta_prime": delta2,
                "gap": delta2 - delta,
                "theorem4_delta_prime_bound": bound,
            }
        )
    corr = _pearson(rows, "gap", ("L", "tau"))
    plots: list[str] = []
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for beta in betas:
            pts = sorted((r for r in rows if r["beta"] == beta), key=lambda r: r["L"])
            axes[0].plot(
                [r["L"] for r in pts], [r["gap"] for r in pts], "o-", label=f"beta {beta:g}"
            )
            axes[1].plot(
                [r["tau"] for r in pts], [r["gap"] for r in pts], "o", label=f"beta {beta:g}"
            )
        axes[0].set_xscale("log")
        axes[0].set_xlabel("encoder Lipschitz upper bound L")
        axes[1].set_xlabel("tau (worst test error of the pair)")
        for ax in axes:
            ax.set_ylabel("delta' - delta")
            ax.legend(fontsize=7)
        plots = _save(fig, plt, opts, "fig3")
    doc = {
        "target": "fig3",
        "settings": s.to_dict(),
        "choices": {"attack": f"FGSM eps {FIG_EPS}", "architectures": archs, "betas": betas},
        "data": d.describe(),
        "rows": rows,
        "pearson": corr,
        "paper_pearson": {k: {"r": r, "p": p} for k, (r, p) in FIG3_PEARSON.items()},
        "plots": plots,
        "seconds": clock.total,
    }
    cols = [
        "widths",
        "beta",
        "L",
        "tau",
        "delta",
        "delta_prime",
        "gap",
        "theorem4_delta_prime_bound",
    ]
    md = [
        "## Figure 3: transferability between classifiers sharing an encoder (Theorem 4)",
        "",
        "delta = 1 - P[f1(x) != f1(A(x))] (A: FGSM crafted on f1), delta' the same on f2 (the same "
        "encoder, a re-fitted decoder); tau = the pair's worst test ERROR (math.md §B4.3). The "
        "bound is delta + 4 tau + |T| L eps with |T| L read as the encoder's Lipschitz bound L "
        "(the paper argues |T| cancels); with L the product of spectral norms it is vacuous "
        "(>= 1), which we report rather than hide.",
        "",
        markdown_table(rows, cols, fmt=".3g"),
        "",
        *_pearson_lines(corr, "delta' - delta"),
        f"- paper: r(L) = {FIG3_PEARSON['L'][0]} (p = {FIG3_PEARSON['L'][1]}), "
        f"r(tau) = {FIG3_PEARSON['tau'][0]} (p = {FIG3_PEARSON['tau'][1]}), about 28 pairs.",
        *[
            f"- **our r({k}) = {corr[k]['r']:.2f} has the opposite sign to the paper's**: we do not "
            f"reproduce its claim that the transferability gap grows with {k}."
            for k in ("L", "tau")
            if math.isfinite(corr[k]["r"]) and corr[k]["r"] * FIG3_PEARSON[k][0] < 0
        ],
    ]
    print(md[6])
    return write_target(opts.out, "fig3", doc, rows, md)


def fig4(opts: Any) -> dict:
    """Figure 4: entropy (MLE and JVHW) of the last hidden layer's discretised features against
    robustness, for CE models adversarially trained with different ratios of FGSM examples."""
    from infotheory.attacks import CW, FGSM, DeepFool

    from . import _pipeline as P

    clock = P.Clock()
    opts.out.mkdir(parents=True, exist_ok=True)
    s = target_settings(opts)
    quiet = bool(opts.quick)
    d = P.load_data(s)
    x, y = d.x_test[: s.n_attack], d.y_test[: s.n_attack]
    ratios = _grid(opts, [0.0, 0.5, 1.0], [0.0, 0.25, 0.5, 0.75, 1.0])
    attacks = {
        "fgsm_0.3": FGSM(eps=0.3, seed=s.seed),
        "deepfool": DeepFool(steps=s.deepfool_steps, overshoot=0.02),
        "cw": CW(c=0.1, steps=s.cw_steps, lr=0.01),
    }
    rows = []
    for ratio in P.progress(ratios, "fig4: adversarial ratios", quiet=quiet):
        model = P.build_model("ce", d, s, seed=s.seed)
        P.train(model, d, s, adversarial=ratio > 0, adv_ratio=ratio, seed=s.seed, quiet=True)
        acc, norms, _ = P.evaluate(model, x, y, attacks, quiet=True)
        h = P.feature_entropy(model, x, s.bins)
        rows.append(
            {
                "adv_ratio": ratio,
                "entropy_mle_bits": h["mle"],
                "entropy_jvhw_bits": h["jvhw"],
                "clean_acc": acc["clean"],
                **{f"{k}_acc": acc[k] for k in attacks},
                "deepfool_l2_median": norms["deepfool"]["l2_median"],
                "cw_l2_median": norms["cw"]["l2_median"],
            }
        )
    plots: list[str] = []
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
        for ax, atk in zip(axes, attacks, strict=True):
            order = sorted(rows, key=lambda r: r[f"{atk}_acc"])
            xs = [r[f"{atk}_acc"] for r in order]
            ax.plot(xs, [r["entropy_mle_bits"] for r in order], "o-", color="tab:blue", label="MLE")
            ax.plot(xs, [r["entropy_jvhw_bits"] for r in order], "s--", color="tab:blue",
                    label="JVHW")  # fmt: skip
            ax.set_xlabel(f"accuracy under {atk} [%]")
            ax.set_ylabel("mean per-unit entropy [bits]")
            ax.legend(fontsize=7)
        plots = _save(fig, plt, opts, "fig4")
    corr = _pearson(rows, "entropy_jvhw_bits", tuple(f"{k}_acc" for k in attacks))
    doc = {
        "target": "fig4",
        "settings": s.to_dict(),
        "choices": {
            "model": "CE MLP (the paper: an all-CNN network)",
            "ratios": ratios,
            "entropy": f"mean over units of the entropy of each unit in {s.bins} uniform bins",
        },
        "data": d.describe(),
        "rows": rows,
        "pearson": corr,
        "plots": plots,
        "seconds": clock.total,
    }
    cols = ["adv_ratio", "entropy_mle_bits", "entropy_jvhw_bits", "clean_acc",
            *[f"{k}_acc" for k in attacks]]  # fmt: skip
    md = [
        "## Figure 4: feature entropy against robustness",
        "",
        "The paper: entropy falls as robustness rises. Entropy of the joint feature vector "
        "saturates at log2(n) with n test images, so we report the mean per-unit entropy "
        "(the per-unit sum upper-bounds the joint H(T) = I(X;T) of a deterministic encoder).",
        "",
        markdown_table(rows, cols, fmt=".3g"),
        "",
        *_pearson_lines(corr, "JVHW entropy"),
    ]
    print(md[4])
    return write_target(opts.out, "fig4", doc, rows, md)
