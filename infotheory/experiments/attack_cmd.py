"""``infotheory attack``: robust accuracy of a trained model (a run folder of ``infotheory train``)
under the attacks of ``infotheory.attacks``, printed as a table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .train_cmd import ATTACK_NAMES, make_attack


def _names(s: str) -> list[str]:
    names = [v.strip().lower() for v in s.split(",") if v.strip()]
    bad = [n for n in names if n not in ATTACK_NAMES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"attack must be among {', '.join(ATTACK_NAMES)}, got {s!r}"
        )
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="run folder or checkpoint.pt file")
    p.add_argument("--attack", type=_names, default=["pgd"],
                   help=f"comma-separated, among {', '.join(ATTACK_NAMES)}")  # fmt: skip
    p.add_argument("--eps", type=float, default=0.2, help="L-inf budget of fgsm/bim/pgd")
    p.add_argument("--steps", type=int, default=None, help="iterations (attack default if unset)")
    p.add_argument("--data", default=None, help="data set (default: the one the run trained on)")
    p.add_argument("--n", type=int, default=1000, help="number of test images attacked")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed of the split and of the attacks")
    p.add_argument("--raw", action="store_true", help="use the raw weights, not the EMA average")
    p.add_argument("--json", default=None, help="also write the table to this JSON file")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data import load
    from ..ib import load_model

    ck = Path(args.checkpoint)
    folder = ck if ck.is_dir() else ck.parent
    try:
        model = load_model(str(ck), ema=not args.raw)
        name = args.data
        if name is None:
            run_json = folder / "run.json"
            name = (
                json.loads(run_json.read_text())["data_name"] if run_json.is_file() else "default"
            )
        data = load(name, seed=args.seed)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.n < 1:
        print(f"error: --n must be >= 1, got {args.n}", file=sys.stderr)
        return 2
    from ..attacks import evaluate

    torch.manual_seed(args.seed)
    attacks = {n: make_attack(n, eps=args.eps, steps=args.steps) for n in args.attack}
    x, y = data.x_test[: args.n], data.y_test[: args.n]
    acc = evaluate(model, x, y, attacks, batch_size=args.batch_size)
    rows = [{"attack": k, "eps": args.eps if k in ("fgsm", "bim", "pgd") else None, "accuracy": v}
            for k, v in acc.items()]  # fmt: skip
    print(f"robust accuracy of {ck} on {len(y)} test images of {name}")
    print("| attack | eps | accuracy |\n|---|---|---|")
    for r in rows:
        eps = "" if r["eps"] is None else f"{r['eps']:g}"
        print(f"| {r['attack']} | {eps} | {r['accuracy']:.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0
