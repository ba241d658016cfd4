"""The first paper's Tables 1-3 (``infotheory reproduce table1|table2|table3``).

Each target trains its models on ``--data`` (default: the embedded MNIST sample), attacks them,
and writes ``NAME.md``, ``NAME.json``, ``NAME.csv`` and ``NAME.png`` into ``--out`` with the
paper's numbers beside ours. Sizes: ``--quick`` a smoke run, default minutes on 2 CPU cores (the
paper's MLP, few epochs, 500 attacked test images), ``--full`` the paper's architecture and the
whole test set with longer training (meant for real MNIST/CIFAR-10 on a GPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._io import markdown_table, pyplot, write_csv, write_json
from .paper1_numbers import TABLE1, TABLE2, TABLE3


def target_settings(opts: Any, data: str | None = None) -> Any:
    """Settings of a reproduction from the command-line options (see ``reproduce.Options``)."""
    from ._pipeline import Settings, device_or_exit
    from .demo import settings as demo_settings

    name = opts.data or data or "default"
    # an Options without ``device`` (no --device flag on reproduce yet) means "auto"
    device = device_or_exit(getattr(opts, "device", "auto"))
    if opts.full:
        s = Settings(
            data=name,
            epochs=30,
            n_attack=10**9,
            n_probe=1000,
            steps=40,
            cw_steps=100,
            deepfool_steps=100,
            seed=opts.seed,
            device=device,
        )
        return s if opts.epochs is None else s.scaled(epochs=opts.epochs)
    return demo_settings(opts.quick, opts.seed, name, opts.epochs, device=device)


def write_target(
    out: Path, name: str, doc: dict[str, Any], rows: list[dict[str, Any]], md: list[str]
) -> dict[str, Any]:
    """NAME.json (the document), NAME.csv (the rows) and NAME.md (a markdown section)."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{name}.json", doc)
    write_csv(out / f"{name}.csv", rows)
    (out / f"{name}.md").write_text("\n".join(md) + "\n")
    return doc


def _robustness_target(opts: Any, name: str, paper: dict, title: str, data: str | None) -> dict:
    from . import _pipeline as P
    from . import paper1_report as R

    clock = P.Clock()
    opts.out.mkdir(parents=True, exist_ok=True)
    s = target_settings(opts, data)
    quiet = bool(opts.quick)
    d = P.load_data(s)
    models, histories, _ = P.train_table_models(d, s, quiet=quiet, clock=clock)
    with clock.stage("attacks"):
        robust, norms, _ = P.attack_table_models(models, d, s, quiet=quiet)
    records = R.comparison_records(robust, paper)
    table = R.comparison_table(robust, paper)
    plots = []
    if R.plot_robustness(opts.out / f"{name}.png", robust, paper, title=title) is not None:
        plots.append(f"{name}.png")
    doc = {
        "target": name,
        "settings": s.to_dict(),
        "data": d.describe(),
        "attacks": P.attack_settings(s),
        "robustness": robust,
        "paper": paper,
        "comparison": records,
        "disagreements": R.disagreements(records),
        "claims": R.claims(robust),
        "norms": norms,
        "history": histories,
        "plots": plots,
        "seconds": clock.total,
    }
    md = [
        f"## {title}: robust accuracy, ours / paper",
        "",
        f"Data `{d.name}` ({len(d.y_train)} train / {len(d.y_test)} test), "
        f"{min(s.n_attack, len(d.y_test))} test images attacked, {s.epochs} epochs, "
        f"beta {s.beta:g}, FGSM eps {s.adv_eps:g} adversarial training.",
        "",
        table,
        "",
        "The paper's qualitative claims, checked on our numbers:",
        "",
        markdown_table(
            [{**c, "holds": "yes" if c["holds"] else "**no**"} for c in doc["claims"]],
            ["claim", "holds", "ours"],
        ),
        "",
        "Differences over 10 points:",
        "",
        *([f"- {x}" for x in doc["disagreements"]] or ["- none"]),
    ]
    print(table)
    return write_target(opts.out, name, doc, records, md)


def table2(opts: Any) -> dict:
    """Table 2: IB and CE, with and without FGSM adversarial training, on MNIST."""
    return _robustness_target(opts, "table2", TABLE2, "Table 2 (MNIST)", None)


def table3(opts: Any) -> dict:
    """Table 3: as Table 2 on CIFAR-10 (two convolutional layers before the MLP)."""
    if not (opts.data or "").startswith("cifar10:"):
        raise SystemExit(
            "table3 reproduces the paper's CIFAR-10 table and needs the data set on disk: run "
            "`infotheory reproduce table3 --data cifar10:PATH`, PATH being the "
            "`cifar-10-batches-py` folder of the python version of CIFAR-10 "
            "(https://www.cs.toronto.edu/~kriz/cifar.html). Nothing is downloaded."
        )
    return _robustness_target(opts, "table3", TABLE3, "Table 3 (CIFAR-10)", None)


def table1(opts: Any) -> dict:
    """Table 1: I(X'; T') and adversarial accuracy of IB and IB+adv at beta 1e-1, 1e-2, 1e-3
    under FGSM, BIM and PGD with eps = 0.3."""
    from infotheory.attacks import BIM, FGSM, PGD

    from . import _pipeline as P

    clock = P.Clock()
    opts.out.mkdir(parents=True, exist_ok=True)
    s = target_settings(opts)
    quiet = bool(opts.quick)
    d = P.load_data(s)
    x, y = d.x_test[: s.n_attack], d.y_test[: s.n_attack]
    alpha = 2.5 * 0.3 / s.steps
    attacks = {
        "fgsm": FGSM(eps=0.3, seed=s.seed),
        "bim": BIM(eps=0.3, alpha=alpha, steps=s.steps, seed=s.seed),
        "pgd": PGD(eps=0.3, alpha=alpha, steps=s.steps, seed=s.seed),
    }
    rows = []
    jobs = [(b, m) for b in TABLE1 for m in ("IB", "IB+adv")]
    for beta, method in P.progress(jobs, "table1", quiet=quiet):
        model = P.build_model("vib", d, s, seed=s.seed)
        P.train(model, d, s, beta=beta, adversarial=method == "IB+adv", seed=s.seed, quiet=quiet)
        acc, _norms, kept = P.evaluate(model, x, y, attacks, quiet=True, keep=attacks)
        for atk in attacks:
            p_ixt, p_acc = TABLE1[beta][method][atk]
            rows.append(
                {
                    "beta": beta,
                    "method": method,
                    "attack": atk,
                    "ixt_adv_bits": P.kl_rate_bits(model, kept[atk]),
                    "ixt_bits": P.kl_rate_bits(model, x),
                    "adv_acc": acc[atk],
                    "clean_acc": acc["clean"],
                    "paper_ixt_adv": p_ixt,
                    "paper_adv_acc": p_acc,
                }
            )
    plots = []
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for method, ls in (("IB", "--"), ("IB+adv", "-")):
            for atk in attacks:
                pts = [r for r in rows if r["method"] == method and r["attack"] == atk]
                betas = [r["beta"] for r in pts]
                axes[0].plot(betas, [r["ixt_adv_bits"] for r in pts], ls, marker="o", ms=3,
                             label=f"{method} {atk}")  # fmt: skip
                axes[1].plot(betas, [r["adv_acc"] for r in pts], ls, marker="o", ms=3,
                             label=f"{method} {atk}")  # fmt: skip
        for ax, lab in zip(axes, ("I(X';T') [bits]", "adversarial accuracy [%]"), strict=True):
            ax.set_xscale("log")
            ax.set_xlabel("beta")
            ax.set_ylabel(lab)
        axes[0].legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(opts.out / "table1.png", dpi=110)
        plt.close(fig)
        plots.append("table1.png")
    doc = {
        "target": "table1",
        "settings": s.to_dict(),
        "beta_warmup": P.warmup_note(s),
        "data": d.describe(),
        "rows": rows,
        "paper": {str(b): v for b, v in TABLE1.items()},
        "plots": plots,
        "seconds": clock.total,
    }
    cols = ["beta", "method", "attack", "ixt_adv_bits", "paper_ixt_adv", "adv_acc", "paper_adv_acc"]
    table = markdown_table(rows, cols, fmt=".3g")
    md = [
        "## Table 1: I(X';T') and adversarial accuracy, IB vs IB+adv (eps = 0.3)",
        "",
        "I(X';T'): the variational rate E KL(p(t|x') || N(0, I)) on adversarial test inputs, in "
        "bits (the paper does not state its estimator or unit). Accuracy in %.",
        "",
        P.warmup_note(s),
        "",
        table,
    ]
    print(table)
    return write_target(opts.out, "table1", doc, rows, md)
