"""``infotheory demo``: the main job on built-in inputs.

Until the training and attack stack lands, the demo runs what the compiled core already does: the
minimal mutual information of Theorem 3.2 (optimal attack on X = HU, reverse water-filling) against
the attacker's budget, for fat and tall random projections (the setting of the paper's Figures 4-5),
and the worked example of math.md §A3.3 checked against its published values.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..channels import projection_attack, reverse_waterfill
from ._io import markdown_table, pyplot, write_csv, write_json

# math.md §A3.3 worked example: sigma^2 = (4, 2, 1, 0.25); D -> I* in bits.
WORKED = {0.5: 6.5, 1.0: 4.5, 2.0: 2.666411, 3.0: 1.688296, 5.0: 0.593109, 7.25: 0.0}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("infotheory-demo"), help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the random projections")
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")


def projection_curves(m: int, ratios: list[float], seed: int) -> list[dict]:
    """MI (bits) of the optimal attack on X = HU, H_ij ~ N(0, 1/m), at D = 0.1 and D = f ||H||_F^2."""
    rows = []
    fractions = [round(0.1 * i, 1) for i in range(1, 10)]
    for ratio in ratios:
        n = max(1, round(ratio * m))
        H = np.random.default_rng(seed).normal(0.0, 1.0 / np.sqrt(m), size=(n, m))
        s2 = float(np.sum(H * H))
        budgets = np.array([0.1] + [f * s2 for f in fractions])
        res = projection_attack(np.broadcast_to(H, (len(budgets), n, m)), budgets, base=2)
        for f, D, mi in zip(["abs 0.1", *fractions], budgets, res.mi, strict=True):
            rows.append(
                {
                    "m": m,
                    "n_over_m": ratio,
                    "n": n,
                    "fraction": f,
                    "D": float(D),
                    "sum_sigma2": s2,
                    "mi_bits": float(mi),
                }
            )
    return rows


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    worked = reverse_waterfill(
        np.tile([4.0, 2.0, 1.0, 0.25], (len(WORKED), 1)), list(WORKED), base=2
    )
    worked_rows = [
        {"D": D, "mi_bits": float(mi), "math_md": ref, "abs_error": abs(float(mi) - ref)}
        for (D, ref), mi in zip(WORKED.items(), worked.mi, strict=True)
    ]
    print("Reverse water-filling, worked example of math.md §A3.3 (sigma^2 = 4, 2, 1, 0.25):")
    print(markdown_table(worked_rows, ["D", "mi_bits", "math_md", "abs_error"]))

    m = 50
    ratios = [0.1, 0.5, 0.9] if args.quick else [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9]
    rows = projection_curves(m, ratios, args.seed)
    print(f"\nMinimal I(U; HU + E) in bits, m = {m}, H_ij ~ N(0, 1/m), seed {args.seed}:")
    table = [
        {
            "n/m": r,
            **{
                f"f={f}": next(
                    x["mi_bits"] for x in rows if x["n_over_m"] == r and x["fraction"] == f
                )
                for f in (0.1, 0.5, 0.9)
            },
        }
        for r in ratios
    ]
    print(markdown_table(table, ["n/m", "f=0.1", "f=0.5", "f=0.9"], fmt=".2f"))

    write_csv(out / "projection_attack.csv", rows)
    write_json(
        out / "demo.json",
        {
            "worked_example": worked_rows,
            "projection_attack": rows,
            "seconds": time.perf_counter() - t0,
        },
    )
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        for r in ratios:
            pts = [x for x in rows if x["n_over_m"] == r]
            ax.plot(
                [x["D"] for x in pts],
                [x["mi_bits"] for x in pts],
                marker="o",
                ms=3,
                label=f"n/m = {r}",
            )
        ax.set_xlabel("attack power D")
        ax.set_ylabel("minimal I(U; Y) [bits]")
        ax.set_yscale("log")
        ax.set_title(f"Optimal attack on X = HU (Theorem 3.2), m = {m}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "projection_attack.png", dpi=120)
        plt.close(fig)
    lines = [
        "# infotheory demo",
        "",
        "## Reverse water-filling (math.md §A3.3)",
        "",
        markdown_table(worked_rows, ["D", "mi_bits", "math_md", "abs_error"]),
        "",
        f"## Optimal attack on X = HU, m = {m}",
        "",
        markdown_table(table, ["n/m", "f=0.1", "f=0.5", "f=0.9"], fmt=".2f"),
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    print(
        f"\nwrote {out.resolve()} (report.md, demo.json, projection_attack.csv"
        f"{', projection_attack.png' if plt else ''}) in {time.perf_counter() - t0:.1f} s"
    )
    return 0
