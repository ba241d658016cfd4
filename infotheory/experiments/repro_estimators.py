"""Reproduce targets of the estimators and bounds (math.md Part C and Part B).

``entropy-estimators``: the worked JVHW examples of math.md §C2, and the root-mean-square error of
the plug-in, Miller-Madow, JVHW and NSB estimators against the sample size on undersampled uniform
and Zipf sources (the regime n < S where JVHW and NSB beat the plug-in).

``bounds-examples``: the numeric examples of math.md §B1, §B2 and §B4 (Fano, the Gaussian toy
classifier with a Monte Carlo check, psi, the Theorem 4 transfer bound).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._io import markdown_table, pyplot, write_csv, write_json

TARGETS = {
    "entropy-estimators": (
        "infotheory.experiments.repro_estimators:entropy_estimators",
        "JVHW worked examples and estimator RMSE vs n (plug-in, Miller-Madow, JVHW, NSB)",
    ),
    "bounds-examples": (
        "infotheory.experiments.repro_estimators:bounds_examples",
        "Fano, Gaussian toy classifier, psi and Theorem 4 examples of math.md Part B",
    ),
}

# math.md §C2 worked examples: (label, samples, JVHW bits, MLE bits).
_WORKED = [("[1,1,2,3,3,3,4,5]", [1, 1, 2, 3, 3, 3, 4, 5], 3.599232, 2.155639)]


def entropy_estimators(opts: Any) -> dict[str, Any]:
    from infotheory.estimators import entropy

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    worked = []
    for label, s, jv, ml in _WORKED:
        arr = np.asarray(s)
        worked.append(
            {
                "input": label,
                "jvhw_bits": entropy(arr, method="jvhw", base=2),
                "math_md_jvhw": jv,
                "mle_bits": entropy(arr, method="mle", base=2),
                "math_md_mle": ml,
            }
        )
    const = entropy(np.zeros(50, dtype=np.int64), method="jvhw", base=2)
    worked.append(
        {"input": "constant, n=50", "jvhw_bits": const, "math_md_jvhw": 0.01 / math.log(2)}
    )

    S = 2000
    seeds = 3 if opts.quick else 20
    sizes = [250, 1000, 4000] if opts.quick else [125, 250, 500, 1000, 2000, 4000, 8000, 16000]
    methods = ["mle", "miller_madow", "jvhw", "nsb"]
    zipf_p = 1.0 / np.arange(1, S + 1)
    zipf_p /= zipf_p.sum()
    sources = {"uniform": np.full(S, 1.0 / S), "zipf": zipf_p}
    rows = []
    for name, p in sources.items():
        truth = float(-(p * np.log2(p)).sum())
        for n in sizes:
            errs: dict[str, list[float]] = {m: [] for m in methods}
            for seed in range(seeds):
                rng = np.random.default_rng(opts.seed * 1000 + seed)
                s = rng.choice(S, size=n, p=p)
                for m in methods:
                    kw = {"alphabet_size": S} if m == "nsb" else {}
                    errs[m].append(entropy(s, method=m, base=2, **kw) - truth)
            row: dict[str, Any] = {"source": name, "S": S, "n": n, "truth_bits": truth}
            for m in methods:
                row[f"rmse_{m}"] = float(np.sqrt(np.mean(np.square(errs[m]))))
            rows.append(row)
    write_csv(out / "entropy_estimators.csv", rows)
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, name in zip(axes, sources, strict=True):
            sub = [r for r in rows if r["source"] == name]
            for m in methods:
                ax.loglog([r["n"] for r in sub], [r[f"rmse_{m}"] for r in sub], "o-", label=m)
            ax.set_title(f"{name}, S = {S}")
            ax.set_xlabel("samples n")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel("RMSE (bits)")
        axes[0].legend()
        fig.tight_layout()
        fig.savefig(out / "entropy_estimators.png", dpi=120)
        plt.close(fig)
    cols = ["source", "n"] + [f"rmse_{m}" for m in methods]
    md = [
        "## Entropy estimators (math.md Part C)",
        "",
        "Worked examples:",
        "",
        markdown_table(worked, ["input", "jvhw_bits", "math_md_jvhw", "mle_bits", "math_md_mle"]),
        "",
        f"RMSE in bits over {seeds} draws (NSB is given the alphabet size):",
        "",
        markdown_table(rows, cols),
        "",
    ]
    (out / "report.md").write_text("\n".join(md))
    summary = {"worked": worked, "rmse": rows}
    write_json(out / "entropy_estimators.json", summary)
    return summary


def bounds_examples(opts: Any) -> dict[str, Any]:
    from infotheory.bounds import fano_lower_bound, gaussian_bayes_classifier, psi, transfer_delta

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "quantity": "Fano weak, H=2 bits, M=10",
            "value": fano_lower_bound(2.0, 10),
            "math_md": 0.3010,
        },
        {
            "quantity": "Fano full, H=2 bits, M=10",
            "value": fano_lower_bound(2.0, 10, form="full"),
            "math_md": 0.3394,
        },
        {"quantity": "psi(0.01)", "value": psi(0.01), "math_md": 0.046052},
        {"quantity": "psi(0.1)", "value": psi(0.1), "math_md": 0.230259},
        {"quantity": "psi(1/e)", "value": psi(math.exp(-1)), "math_md": 0.367879},
        {
            "quantity": "delta' (0.1, 0.02, 100, 1e-4, 0.3)",
            "value": transfer_delta(0.1, 0.02, 100, 1e-4, 0.3),
            "math_md": 0.1830,
        },
        {
            "quantity": "delta' (0.05, 0.01, 16, 0.01, 0.1)",
            "value": transfer_delta(0.05, 0.01, 16, 0.01, 0.1),
            "math_md": 0.1060,
        },
    ]
    sigma = [[1.0, 0.5], [0.5, 2.0]]
    g = gaussian_bayes_classifier([0.0, 0.0], [1.0, 2.0], sigma)
    rng = np.random.default_rng(opts.seed)
    m = 200_000 if opts.quick else 2_000_000
    y = rng.random(m) < 0.5
    x = rng.multivariate_normal([0.0, 0.0], sigma, size=m)
    x[y] += np.array([1.0, 2.0])
    mc = float(np.mean(g.predict(x) != y))
    rows += [
        {"quantity": "toy: c", "value": g.c, "math_md": 1.142857},
        {"quantity": "toy: Delta", "value": g.delta, "math_md": 1.511858},
        {"quantity": "toy: Bayes error", "value": g.error, "math_md": 0.224846},
        {"quantity": f"toy: Monte Carlo error ({m} draws)", "value": mc, "math_md": 0.224846},
    ]
    g2 = gaussian_bayes_classifier([0.0, 0.0], [2.0, 1.0], sigma)
    rows += [
        {"quantity": "toy 2: Bayes error", "value": g2.error, "math_md": 0.158655},
        {"quantity": "toy 2: I(Y; theta^T X) nats", "value": g2.mi, "math_md": 0.33683},
    ]
    for r in rows:
        r["abs_error"] = abs(r["value"] - r["math_md"])
    write_csv(out / "bounds_examples.csv", rows)
    md = [
        "## Bounds (math.md Part B)",
        "",
        markdown_table(rows, ["quantity", "value", "math_md", "abs_error"], fmt=".6g"),
        "",
    ]
    (out / "report.md").write_text("\n".join(md))
    summary = {"rows": rows}
    write_json(out / "bounds_examples.json", summary)
    return summary
