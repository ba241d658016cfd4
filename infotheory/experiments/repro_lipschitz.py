"""Reproduce target for the Lipschitz bound of the Gaussian stochastic encoder (first paper,
Theorem 3; math.md §B4.2): the paper's form against the corrected one, on the K = 2
counterexample and on random encoders. Cheap to import (numpy only)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

TARGETS: dict[str, tuple[str, str]] = {
    "theorem3": (
        "infotheory.experiments.repro_lipschitz:theorem3",
        "Gaussian-encoder Lipschitz bound: the paper's Theorem 3 vs the corrected form "
        "(counterexample and random encoders)",
    ),
}


def _rate(K: int, d: int, rng: np.random.Generator) -> dict[str, float]:
    """Largest observed |p(t|x) - p(t|x')| / ||x - x'|| for mu = tanh(A x), sigma = s0 +
    softplus(B x + c), with the coordinate-wise constants the bound takes."""
    from infotheory.lipschitz import gaussian_encoder_bound

    A, B = rng.normal(size=(K, d)), rng.normal(size=(K, d))
    c = rng.normal(size=K)
    s0 = float(rng.uniform(0.1, 1.0))
    L_mu = float(np.linalg.norm(A, axis=1).max())
    L_sigma = float(np.linalg.norm(B, axis=1).max())
    x = rng.normal(size=(200, d))
    dx = 1e-5 * rng.normal(size=(200, d))

    def density(t: np.ndarray, z: np.ndarray) -> np.ndarray:
        mu, sg = np.tanh(z @ A.T), s0 + np.logaddexp(0.0, z @ B.T + c)
        logp = -0.5 * ((t - mu) / sg) ** 2 - np.log(sg) - 0.5 * math.log(2 * math.pi)
        return np.exp(logp.sum(-1))

    mu0 = np.tanh(x @ A.T)
    t = mu0 + s0 * rng.normal(size=(200, K))
    obs = float((np.abs(density(t, x + dx) - density(t, x)) / np.linalg.norm(dx, axis=1)).max())
    return {
        "K": K,
        "observed": obs,
        "corrected": gaussian_encoder_bound(L_mu, L_sigma, s0, K),
        "paper": gaussian_encoder_bound(L_mu, L_sigma, s0, K, form="paper"),
    }


def theorem3(opts: Any) -> dict[str, Any]:
    from infotheory.lipschitz import gaussian_encoder_bound

    from ._io import markdown_table, pyplot, write_csv, write_json

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    h = 1e-4
    observed = abs(1 / (2 * math.pi * (0.1 + h) ** 2) - 1 / (2 * math.pi * 0.01)) / h
    counter = {
        "setting": "K=2, mu constant, sigma_k(x) = 0.1 + x, t = 0",
        "observed": observed,
        "paper": gaussian_encoder_bound(0.0, 1.0, 0.1, 2, form="paper"),
        "corrected": gaussian_encoder_bound(0.0, 1.0, 0.1, 2),
    }
    rng = np.random.default_rng(opts.seed)
    trials = 30 if opts.quick else 300
    rows = [_rate(int(rng.integers(1, 5)), int(rng.integers(1, 6)), rng) for _ in range(trials)]
    summary: dict[str, Any] = {"counterexample": counter}
    for K in sorted({r["K"] for r in rows}):
        sub = [r for r in rows if r["K"] == K]
        summary[f"K={K}"] = {
            "trials": len(sub),
            "max_observed_over_paper": max(r["observed"] / r["paper"] for r in sub),
            "max_observed_over_corrected": max(r["observed"] / r["corrected"] for r in sub),
        }
    write_csv(out / "theorem3_trials.csv", rows)
    write_json(out / "theorem3.json", summary)
    table = [{"K": k, **v} for k, v in summary.items() if k.startswith("K=")]
    lines = [
        "# Theorem 3: Lipschitz constant of the Gaussian stochastic encoder",
        "",
        f"Counterexample ({counter['setting']}): observed rate {counter['observed']:.1f}, "
        f"paper's bound {counter['paper']:.1f} (violated), corrected bound "
        f"{counter['corrected']:.1f}.",
        "",
        markdown_table(
            table, ["K", "trials", "max_observed_over_paper", "max_observed_over_corrected"]
        ),
        "",
        "A ratio above 1 is a violated bound.",
    ]
    (out / "theorem3.md").write_text("\n".join(lines) + "\n")
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 4))
        for form, marker in (("paper", "x"), ("corrected", "o")):
            ax.scatter(
                [r["K"] for r in rows],
                [r["observed"] / r[form] for r in rows],
                marker=marker,
                label=form,
                alpha=0.6,
            )
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("K")
        ax.set_ylabel("observed rate / bound")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "theorem3.png", dpi=120)
        plt.close(fig)
    return summary
