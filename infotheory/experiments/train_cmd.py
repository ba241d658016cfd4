"""``infotheory train``: train a VIB or cross-entropy model and write a run folder
(``checkpoint.pt``, ``history.json``, ``history.csv``, ``run.json``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ATTACK_NAMES = ("fgsm", "bim", "pgd", "deepfool", "cw")


def _widths(s: str) -> tuple[int, ...]:
    try:
        ws = tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"widths must be comma-separated ints, got {s!r}") from e
    if not ws or min(ws) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive ints, got {s!r}")
    return ws


def make_attack(name: str, eps: float | None = None, steps: int | None = None, **kw: Any) -> Any:
    """An attack of ``infotheory.attacks`` by its command-line name (eps and steps when given)."""
    try:
        from .. import attacks
    except ImportError as e:
        raise SystemExit(
            f"error: attacks need infotheory.attacks, which failed to import: {e}"
        ) from e
    cls = {"fgsm": "FGSM", "bim": "BIM", "pgd": "PGD", "deepfool": "DeepFool", "cw": "CW"}[name]
    if eps is not None and name in ("fgsm", "bim", "pgd"):
        kw["eps"] = eps
    if steps is not None and name != "fgsm":
        kw["steps"] = steps
    return getattr(attacks, cls)(**kw)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", choices=("vib", "ce"), default="vib", help="VIB or cross-entropy baseline"
    )
    p.add_argument("--arch", choices=("auto", "mlp", "cnn_mlp"), default="auto",
                   help="auto: cnn_mlp for 3-channel images (CIFAR-10), else mlp")  # fmt: skip
    p.add_argument("--beta", type=float, default=1e-3, help="weight of the KL term (VIB)")
    p.add_argument("--data", default="default",
                   help="default | mnist-sample | digits | mnist:PATH | cifar10:PATH")  # fmt: skip
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="initialisation, shuffling and noise")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=1.0, help="per-epoch learning-rate factor")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--K", type=int, default=256, help="bottleneck (feature) dimension")
    p.add_argument("--widths", type=_widths, default=(512,) * 3 + (256,) * 3,
                   help="hidden widths, comma-separated (default 512,512,512,256,256,256)")  # fmt: skip
    p.add_argument("--ema", type=float, default=0.999, help="weight EMA decay; 0 turns it off")
    p.add_argument("--warmup", type=float, default=None,
                   help="beta warm-up epochs (default: 0 below beta 1e-2, else 1)")  # fmt: skip
    p.add_argument("--warmup-shape", choices=("linear", "geometric"), default="linear",
                   help="beta warm-up from 0 (linear) or from 1e-4 beta (geometric)")  # fmt: skip
    p.add_argument("--adv", choices=ATTACK_NAMES, default=None, help="adversarial training attack")
    p.add_argument("--adv-eps", type=float, default=0.3)
    p.add_argument(
        "--adv-ratio", type=float, default=0.5, help="share of each batch made adversarial"
    )
    p.add_argument(
        "--out", default=None, help="run folder (default runs/<model>-beta<beta>-s<seed>)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from the run folder's checkpoint"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data import load
    from ..ib import VIB, CEClassifier, Trainer

    if not 0 <= args.seed < 2**63:  # torch's seeds are 64-bit
        print(f"error: --seed must be in [0, 2**63), got {args.seed}", file=sys.stderr)
        return 2
    try:
        data = load(args.data, seed=args.seed)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out or f"runs/{args.model}-beta{args.beta:g}-s{args.seed}")
    arch = args.arch if args.arch != "auto" else ("cnn_mlp" if data.shape[0] == 3 else "mlp")
    cls = VIB if args.model == "vib" else CEClassifier
    torch.manual_seed(args.seed)
    try:
        if arch == "mlp":
            model = cls.mlp(data.in_features, data.n_classes, K=args.K, widths=args.widths)
        else:
            model = cls.cnn_mlp(data.shape, data.n_classes, K=args.K, widths=args.widths)
        adversary = make_attack(args.adv, eps=args.adv_eps) if args.adv else None
        trainer = Trainer(
            model, beta=args.beta, lr=args.lr, batch_size=args.batch_size, adversary=adversary,
            adv_ratio=args.adv_ratio, beta_warmup_epochs=args.warmup,
            ema=args.ema if args.ema > 0 else None, seed=args.seed, out=out, quiet=args.quiet,
            lr_decay=args.lr_decay, warmup_shape=args.warmup_shape,
        )  # fmt: skip
        if trainer.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            run_doc = {k: v for k, v in vars(args).items() if not k.startswith("_")}
            run_doc.update(
                data=data.to_dict(), data_name=args.data, arch=arch, model_config=model.config
            )
            (out / "run.json").write_text(json.dumps(run_doc, indent=2, default=list) + "\n")
        h = trainer.fit(data.train, data.test, args.epochs, resume=args.resume)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.rank == 0 and len(h):
        r = h.last
        print(f"{out}: epoch {r['epoch']}, test accuracy {r['test_acc']:.4f}")
    return 0
